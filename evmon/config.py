"""Connection settings for each broker, built from flags, the environment and contexts.

The sources take these plain objects instead of argparse namespaces so the dashboard, the
headless commands and the tests build connections the same way.

Precedence, highest first: command-line flags, ``EVMON_*`` environment variables, the
selected context (``--context NAME``, else ``$EVMON_CONTEXT``). Contexts come from
``$XDG_CONFIG_HOME/evmon/config.toml`` and, for NATS, from natscli's context files
(``$XDG_CONFIG_HOME/nats/context/NAME.json``) when the name is not in evmon's file.
Secrets are never required on the command line: a context names an environment variable
(``password_env``) or holds the secret in a file only its owner can read.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO, cast

from evmon.errors import UsageError

#: Seconds a headless command waits for a lost broker to come back before it exits 1.
DEFAULT_RECONNECT_DEADLINE = 60.0

KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

ENV_CONTEXT = "EVMON_CONTEXT"
ENV_NATS_PASSWORD = "EVMON_NATS_PASSWORD"
ENV_NATS_TOKEN = "EVMON_NATS_TOKEN"
ENV_KAFKA_PASSWORD = "EVMON_KAFKA_PASSWORD"

MASK = "********"


@dataclass(frozen=True, slots=True)
class NatsSettings:
    urls: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    creds: str | None = None
    nkey_seed: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_first: bool = False
    connect_timeout: float = 5.0
    #: Give up (status ``closed``) after this many seconds without a connection; None: never.
    reconnect_deadline: float | None = None
    #: A ping every this many seconds; more than ``max_outstanding_pings`` unanswered: stale.
    ping_interval: float = 5.0
    max_outstanding_pings: int = 2

    @property
    def display(self) -> str:
        """The URLs without any credentials, safe for status bars and errors."""
        return ",".join(_strip_userinfo(u) for u in self.urls)

    def secrets(self) -> tuple[str, ...]:
        """Every secret these settings hold (URL userinfo too), for scrubbing messages."""
        found = [s for s in (self.password, self.token) if s]
        for url in self.urls:
            found.extend(_userinfo_secrets(url))
        return tuple(found)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets())


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    request_timeout: float = 10.0
    #: Give up (status ``closed``) after this many seconds without a broker; None: never.
    reconnect_deadline: float | None = None

    @property
    def display(self) -> str:
        return self.bootstrap

    def secrets(self) -> tuple[str, ...]:
        return (self.sasl_password,) if self.sasl_password else ()

    def redact(self, text: str) -> str:
        return redact(text, self.secrets())


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of a secret replaced by a mask.

    Client libraries sometimes echo what they were given (a URL with userinfo, a server's
    reply quoting the request); evmon scrubs every message it shows instead of trusting them.
    """
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text


def _split_userinfo(url: str) -> tuple[str, str, str]:
    """``(scheme, userinfo, rest)`` of a URL or bare ``host:port``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest, scheme = url, ""
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return scheme, "", rest
    info, host = netloc.rsplit("@", 1)
    return scheme, info, host + slash + path


def _strip_userinfo(url: str) -> str:
    scheme, _, host = _split_userinfo(url)
    return f"{scheme}://{host}" if scheme else host


def _userinfo_secrets(url: str) -> list[str]:
    _, info, _ = _split_userinfo(url)
    if not info:
        return []
    user, sep, password = info.partition(":")
    # A lone userinfo is a token; with a colon, only the password is secret.
    return [password] if sep else [user]


# --------------------------------------------------------------------------- contexts


@dataclass(frozen=True, slots=True)
class Context:
    """One named context. ``kind`` tells evmon's own contexts from natscli's."""

    name: str
    path: Path
    kind: Literal["evmon", "natscli"] = "evmon"
    description: str = ""
    read_only: bool = False
    nats: Mapping[str, Any] = field(default_factory=dict)
    kafka: Mapping[str, Any] = field(default_factory=dict)

    def masked(self) -> dict[str, Any]:
        """The context as ``evmon contexts`` shows it: secrets replaced by a mask."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "path": str(self.path)}
        if self.description:
            out["description"] = self.description
        if self.read_only:
            out["read_only"] = True
        for section, values in (("nats", self.nats), ("kafka", self.kafka)):
            if not values:
                continue
            shown: dict[str, Any] = {}
            for key, value in values.items():
                if key in _SECRET_KEYS:
                    shown[key] = MASK
                elif key == "urls":
                    shown[key] = [_strip_userinfo(u) for u in value]
                elif key.endswith("_env"):
                    state = "set" if os.environ.get(str(value)) else "not set"
                    shown[key] = f"{value} ({state})"
                else:
                    shown[key] = value
            out[section] = shown
        return out


_SECRET_KEYS = frozenset({"password", "token"})

_STR = (str,)
_NATS_KEYS: dict[str, tuple[type, ...]] = {
    "url": _STR,
    "urls": (list,),
    "user": _STR,
    "password": _STR,
    "password_env": _STR,
    "token": _STR,
    "token_env": _STR,
    "creds": _STR,
    "nkey": _STR,
    "tls_ca": _STR,
    "tls_cert": _STR,
    "tls_key": _STR,
    "tls_first": (bool,),
    "subjects": (list,),
    "streams": (list,),
}
_KAFKA_KEYS: dict[str, tuple[type, ...]] = {
    "bootstrap": (str, list),
    "security_protocol": _STR,
    "sasl_mechanism": _STR,
    "user": _STR,
    "password": _STR,
    "password_env": _STR,
    "tls_ca": _STR,
    "tls_cert": _STR,
    "tls_key": _STR,
    "topics": (list,),
    "topic_pattern": _STR,
    "groups": (list,),
}
_CONTEXT_KEYS = frozenset({"description", "read_only", "nats", "kafka"})
_PATH_KEYS = frozenset({"creds", "nkey", "tls_ca", "tls_cert", "tls_key"})


def config_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    return Path(xdg) if xdg else Path.home() / ".config"


def evmon_config_path(env: Mapping[str, str] | None = None) -> Path:
    return config_home(env) / "evmon" / "config.toml"


def natscli_context_dir(env: Mapping[str, str] | None = None) -> Path:
    return config_home(env) / "nats" / "context"


Warn = Callable[[str], None]


def _stderr_warning(message: str, stream: TextIO | None = None) -> None:
    print(f"evmon: warning: {message}", file=stream or sys.stderr)


def _warn_if_exposed(path: Path, secrets: list[str], warn: Warn) -> None:
    """Warn when a file holding a secret can be read by the group or others."""
    if not secrets:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        what = ", ".join(sorted(set(secrets)))
        warn(
            f"{path} holds secrets ({what}) and is readable by other users "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


def _refuse_if_writable(path: Path) -> None:
    """Anyone who can write it decides read_only and servers: refused (like ssh does)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & stat.S_IWOTH:
        raise UsageError(
            f"{path} is writable by every user (mode {stat.S_IMODE(mode):04o}), so anyone could "
            f"turn read_only off or change its servers; refusing it. Run: chmod 600 {path}"
        )


def _check_section(
    ctx: str, section: str, values: Any, allowed: Mapping[str, tuple[type, ...]], path: Path
) -> dict[str, Any]:
    where = f"{path}: context {ctx!r}"
    if not isinstance(values, dict):
        raise UsageError(f"{where}: [{section}] must be a table")
    out: dict[str, Any] = {}
    for key, value in values.items():
        types = allowed.get(key)
        if types is None:
            known = ", ".join(sorted(allowed))
            raise UsageError(f"{where}: unknown {section} setting {key!r} (known: {known})")
        if not isinstance(value, types):
            kind = " or ".join("list" if t is list else t.__name__ for t in types)
            raise UsageError(f"{where}: {section}.{key} must be a {kind}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where}: {section}.{key} must be a list of strings")
        if key in _PATH_KEYS and isinstance(value, str):
            value = _expand(value, path)
        out[key] = value
    return out


def _expand(value: str, base: Path) -> str:
    """``~`` and relative paths in a context resolve against the context file's folder."""
    p = Path(os.path.expandvars(value)).expanduser()
    return str(p if p.is_absolute() else (base.parent / p))


def load_evmon_contexts(path: Path, warn: Warn = _stderr_warning) -> dict[str, Context]:
    """Parse evmon's contexts file; a missing file has no contexts.

    Unknown keys are errors (a typo must not silently connect without TLS).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    _refuse_if_writable(path)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML: {err}") from None
    except RecursionError:
        raise UsageError(f"{path}: not valid TOML: nested too deeply") from None
    unknown = set(doc) - {"contexts"}
    if unknown:
        raise UsageError(
            f"{path}: unknown top-level key {sorted(unknown)[0]!r} (use [contexts.NAME])"
        )
    tables = doc.get("contexts", {})
    if not isinstance(tables, dict):
        raise UsageError(f"{path}: 'contexts' must be a table of [contexts.NAME] tables")
    contexts: dict[str, Context] = {}
    secrets: list[str] = []
    for name, body in tables.items():
        if not isinstance(body, dict):
            raise UsageError(f"{path}: [contexts.{name}] must be a table")
        bad = set(body) - _CONTEXT_KEYS
        if bad:
            raise UsageError(
                f"{path}: context {name!r}: unknown key {sorted(bad)[0]!r} "
                "(known: description, read_only, [nats], [kafka])"
            )
        nats_cfg = _check_section(name, "nats", body.get("nats", {}), _NATS_KEYS, path)
        kafka_cfg = _check_section(name, "kafka", body.get("kafka", {}), _KAFKA_KEYS, path)
        description = body.get("description", "")
        read_only = body.get("read_only", False)
        if not isinstance(description, str) or not isinstance(read_only, bool):
            raise UsageError(f"{path}: context {name!r}: description/read_only have wrong types")
        if "url" in nats_cfg:
            nats_cfg["urls"] = [*nats_cfg.pop("url").split(","), *nats_cfg.get("urls", [])]
        if "urls" in nats_cfg:
            nats_cfg["urls"] = [u.strip() for u in nats_cfg["urls"] if u.strip()]
        if isinstance(kafka_cfg.get("bootstrap"), list):
            kafka_cfg["bootstrap"] = ",".join(kafka_cfg["bootstrap"])
        for section, cfg in (("nats", nats_cfg), ("kafka", kafka_cfg)):
            secrets += [f"{section}.{k}" for k in _SECRET_KEYS if cfg.get(k)]
            if section == "nats" and any(_userinfo_secrets(u) for u in cfg.get("urls", [])):
                secrets.append("nats.urls userinfo")
        contexts[name] = Context(name, path, "evmon", description, read_only, nats_cfg, kafka_cfg)
    _warn_if_exposed(path, secrets, warn)
    return contexts


_NATSCLI_FIELDS = {
    "user": "user",
    "password": "password",
    "token": "token",
    "creds": "creds",
    "nkey": "nkey",
    "ca": "tls_ca",
    "cert": "tls_cert",
    "key": "tls_key",
}


def load_natscli_context(path: Path, warn: Warn = _stderr_warning) -> Context:
    """Read one natscli context file (its JSON field names: url, user, password, token,
    creds, nkey, cert, key, ca, tls_first); other fields are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
        _refuse_if_writable(path)
        doc = json.loads(text)
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid JSON: {err}") from None
    except RecursionError:
        raise UsageError(f"{path}: not valid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a JSON object")
    nats_cfg: dict[str, Any] = {}
    url = doc.get("url")
    if isinstance(url, str) and url.strip():
        nats_cfg["urls"] = [u.strip() for u in url.split(",") if u.strip()]
    for src, dst in _NATSCLI_FIELDS.items():
        value = doc.get(src)
        if isinstance(value, str) and value:
            nats_cfg[dst] = _expand(value, path) if dst in _PATH_KEYS else value
    if doc.get("tls_first") is True:
        nats_cfg["tls_first"] = True
    secrets = [f"nats.{k}" for k in _SECRET_KEYS if nats_cfg.get(k)]
    if any(_userinfo_secrets(u) for u in nats_cfg.get("urls", [])):
        secrets.append("nats.url userinfo")
    _warn_if_exposed(path, secrets, warn)
    description = doc.get("description")
    return Context(
        path.stem,
        path,
        "natscli",
        description if isinstance(description, str) else "",
        False,
        nats_cfg,
        {},
    )


def list_natscli_contexts(env: Mapping[str, str] | None = None) -> list[Path]:
    folder = natscli_context_dir(env)
    try:
        return sorted(p for p in folder.glob("*.json") if p.is_file())
    except OSError:
        return []


def find_context(
    name: str, env: Mapping[str, str] | None = None, warn: Warn = _stderr_warning
) -> Context:
    """The named context: evmon's file first, then natscli's context of that name."""
    own = load_evmon_contexts(evmon_config_path(env), warn)
    if name in own:
        return own[name]
    natscli = natscli_context_dir(env) / f"{name}.json"
    if "/" not in name and natscli.is_file():
        return load_natscli_context(natscli, warn)
    known = sorted(own) + [p.stem for p in list_natscli_contexts(env) if p.stem not in own]
    hint = f"known: {', '.join(known)}" if known else f"none defined in {evmon_config_path(env)}"
    raise UsageError(f"unknown context {name!r} ({hint}); see `evmon contexts`")


def selected_context(
    args: Any, env: Mapping[str, str] | None = None, warn: Warn = _stderr_warning
) -> Context | None:
    """The context chosen by ``--context`` or ``$EVMON_CONTEXT``, loaded once per ``args``."""
    if hasattr(args, "_evmon_context"):
        return cast("Context | None", args._evmon_context)
    env = os.environ if env is None else env
    name = getattr(args, "context", None) or env.get(ENV_CONTEXT, "").strip() or None
    ctx = find_context(name, env, warn) if name else None
    args._evmon_context = ctx
    return ctx


# --------------------------------------------------------------------------- merging


def _flag(args: Any, name: str) -> Any:
    value = getattr(args, name, None)
    if value in (None, "", []):
        return None
    return value


def _secret(
    flag: str | None,
    env_name: str,
    cfg: Mapping[str, Any],
    key: str,
    env: Mapping[str, str],
    ctx: Context | None,
) -> str | None:
    """A secret from the flag, else ``$EVMON_*``, else the context (``KEY_env`` then ``KEY``)."""
    if flag:
        return flag
    if env.get(env_name):
        return env[env_name]
    var = cfg.get(f"{key}_env")
    if var:
        value = env.get(str(var))
        if not value:
            where = f"context {ctx.name!r}" if ctx else "the context"
            raise UsageError(f"{where} takes the {key} from ${var}, which is not set")
        return value
    value = cfg.get(key)
    return str(value) if value else None


def _deadline(args: Any) -> float | None:
    value = getattr(args, "reconnect_deadline", None)
    if value is None:
        # The dashboard keeps what it has and waits; headless commands give up.
        if getattr(args, "command", None) in ("connect", "demo"):
            return None
        return DEFAULT_RECONNECT_DEADLINE
    return None if value <= 0 else float(value)


def _bootstrap(value: str) -> str:  # aiokafka would raise a bare ValueError later
    for part in value.split(","):
        host, _, port = part.strip().rpartition(":")
        if not (host and port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise UsageError(f"bad Kafka address {part.strip()!r}: expected HOST:PORT")
    return value


def _exists(path: str | None, what: str) -> str | None:
    if path is not None and not Path(path).is_file():
        raise UsageError(f"{what} file not found: {path}")
    return path


def nats_settings_from(
    args: Any, ctx: Context | None, env: Mapping[str, str] | None = None
) -> NatsSettings | None:
    """NATS settings from flags over the environment over the context; None if no URL."""
    env = os.environ if env is None else env
    cfg: Mapping[str, Any] = ctx.nats if ctx else {}
    raw = getattr(args, "nats", None) or []
    urls = tuple(u.strip() for r in raw for u in r.split(",") if u.strip())
    if not urls:
        urls = tuple(cfg.get("urls", ()))
    if not urls:
        return None
    user = _flag(args, "nats_user") or cfg.get("user")
    password = _secret(_flag(args, "nats_password"), ENV_NATS_PASSWORD, cfg, "password", env, ctx)
    token = _secret(_flag(args, "nats_token"), ENV_NATS_TOKEN, cfg, "token", env, ctx)
    if user and not password:
        raise UsageError(
            f"NATS user {user!r} has no password: set ${ENV_NATS_PASSWORD} "
            "(or password_env in the context)"
        )
    if _flag(args, "nats_user") and token and not _flag(args, "nats_token"):
        token = None  # an explicit user on the command line wins over a context's token
    tls_first = getattr(args, "nats_tls_first", None)
    return NatsSettings(
        urls=urls,
        user=user,
        password=password if user else None,
        token=None if user else token,
        creds=_exists(_flag(args, "nats_creds") or cfg.get("creds"), "NATS credentials"),
        nkey_seed=_exists(_flag(args, "nats_nkey") or cfg.get("nkey"), "NATS nkey seed"),
        tls_ca=_exists(_flag(args, "nats_tls_ca") or cfg.get("tls_ca"), "NATS TLS CA"),
        tls_cert=_exists(_flag(args, "nats_tls_cert") or cfg.get("tls_cert"), "NATS TLS cert"),
        tls_key=_exists(_flag(args, "nats_tls_key") or cfg.get("tls_key"), "NATS TLS key"),
        tls_first=bool(tls_first if tls_first is not None else cfg.get("tls_first", False)),
        reconnect_deadline=_deadline(args),
        ping_interval=getattr(args, "ping_interval", None) or 5.0,
    )


def kafka_settings_from(
    args: Any, ctx: Context | None, env: Mapping[str, str] | None = None
) -> KafkaSettings | None:
    """Kafka settings from flags over the environment over the context; None if no bootstrap.

    The security protocol defaults from what is configured: SASL settings imply
    ``SASL_PLAINTEXT`` (``SASL_SSL`` with a CA or client certificate), TLS files alone ``SSL``.
    """
    env = os.environ if env is None else env
    cfg: Mapping[str, Any] = ctx.kafka if ctx else {}
    bootstrap = _flag(args, "kafka") or cfg.get("bootstrap")
    if not bootstrap:
        return None
    user = _flag(args, "kafka_user") or cfg.get("user")
    mechanism = _flag(args, "kafka_sasl_mechanism") or cfg.get("sasl_mechanism")
    ca = _exists(_flag(args, "kafka_tls_ca") or cfg.get("tls_ca"), "Kafka TLS CA")
    cert = _exists(_flag(args, "kafka_tls_cert") or cfg.get("tls_cert"), "Kafka TLS cert")
    key = _exists(_flag(args, "kafka_tls_key") or cfg.get("tls_key"), "Kafka TLS key")
    protocol = _flag(args, "kafka_security_protocol") or cfg.get("security_protocol")
    if protocol is None:
        tls = bool(ca or cert)
        if mechanism or user:
            protocol = "SASL_SSL" if tls else "SASL_PLAINTEXT"
        else:
            protocol = "SSL" if tls else "PLAINTEXT"
    protocol = str(protocol).upper()
    if protocol not in KAFKA_SECURITY_PROTOCOLS:
        raise UsageError(
            f"unknown Kafka security protocol {protocol!r} "
            f"(use {', '.join(KAFKA_SECURITY_PROTOCOLS)})"
        )
    password = None
    if protocol.startswith("SASL"):
        mechanism = str(mechanism or "PLAIN").upper()
        if mechanism not in KAFKA_SASL_MECHANISMS:
            raise UsageError(
                f"unknown Kafka SASL mechanism {mechanism!r} "
                f"(use {', '.join(KAFKA_SASL_MECHANISMS)})"
            )
        if not user:
            raise UsageError(
                f"Kafka {protocol} needs a user: --kafka-user or kafka.user in a context"
            )
        password = _secret(
            _flag(args, "kafka_password"), ENV_KAFKA_PASSWORD, cfg, "password", env, ctx
        )
        if not password:
            raise UsageError(
                f"Kafka SASL user {user!r} has no password: set ${ENV_KAFKA_PASSWORD} "
                "(or password_env in the context)"
            )
    else:
        mechanism = None
        user = None
    return KafkaSettings(
        bootstrap=_bootstrap(str(bootstrap)),
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=user,
        sasl_password=password,
        ssl_cafile=ca,
        ssl_certfile=cert,
        ssl_keyfile=key,
        reconnect_deadline=_deadline(args),
    )
