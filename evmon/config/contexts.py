"""Named contexts: evmon's contexts file and natscli's context files.

Contexts come from ``$XDG_CONFIG_HOME/evmon/config.toml`` and, for NATS, from natscli's
context files (``$XDG_CONFIG_HOME/nats/context/NAME.json``) when the name is not in evmon's
file. Secrets are never required on the command line: a context names an environment
variable (``password_env``) or holds the secret in a file only its owner can read; a file
anyone can write is refused, one others can read is warned about.

Which context a command uses (``selected_context``), so natscli habits carry over::

    --context NAME  >  $EVMON_CONTEXT  >  (no server on the command line:)
        $NATS_CONTEXT  >  natscli's selection (nats/context.txt)  >  $NATS_URL

The natscli paths are those of nats-io/jsm.go ``natscontext`` (``FileSelector``):
``$XDG_CONFIG_HOME`` or ``~/.config``, then ``nats/context.txt`` holding the name that
``nats context select`` wrote (surrounding whitespace ignored) and
``nats/context/NAME.json``. Each chosen context says why in ``chosen_by``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

from evmon.config.settings import MASK, _strip_userinfo, _userinfo_secrets
from evmon.errors import UsageError

__all__ = [
    "ENV_CONTEXT",
    "ENV_NATS_CONTEXT",
    "ENV_NATS_URL",
    "NATS_DEFAULT_URL",
    "Context",
    "Warn",
    "config_home",
    "default_nats_context",
    "evmon_config_path",
    "find_context",
    "list_natscli_contexts",
    "load_evmon_contexts",
    "load_natscli_context",
    "natscli_context_dir",
    "natscli_selected_path",
    "natscli_selection",
    "selected_context",
]

ENV_CONTEXT = "EVMON_CONTEXT"
#: natscli's own variables: the context to use, and a server URL (natscli's ``-s``).
ENV_NATS_CONTEXT = "NATS_CONTEXT"
ENV_NATS_URL = "NATS_URL"
#: What natscli connects to when a context has no URL (nats.go's ``DefaultURL``).
NATS_DEFAULT_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True, slots=True)
class Context:
    """One named context. ``kind`` tells evmon's own contexts from natscli's."""

    name: str
    path: Path | None
    #: ``env``: the ``$NATS_URL`` fallback, which has no file.
    kind: Literal["evmon", "natscli", "env"] = "evmon"
    description: str = ""
    read_only: bool = False
    nats: Mapping[str, Any] = field(default_factory=dict)
    kafka: Mapping[str, Any] = field(default_factory=dict)
    #: Why a command uses it (``--context``, ``$EVMON_CONTEXT``, ``$NATS_CONTEXT``, natscli's
    #: ``context.txt``, ``$NATS_URL``); empty when it was only listed or looked up.
    chosen_by: str = ""

    @property
    def label(self) -> str:
        """``prod`` or ``ngs (natscli)``, as the status bar names it."""
        return f"{self.name} (natscli)" if self.kind == "natscli" else self.name

    def masked(self) -> dict[str, Any]:
        """The context as ``evmon contexts`` shows it: secrets replaced by a mask."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "path": None if self.path is None else str(self.path),
        }
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


def natscli_selected_path(env: Mapping[str, str] | None = None) -> Path:
    """Where ``nats context select NAME`` writes NAME (jsm.go's ``FileSelector``)."""
    return config_home(env) / "nats" / "context.txt"


Warn = Callable[[str], None]


#: Warnings already printed: each step that needs the context (the flags, the selection,
#: each broker's settings) reads the file again, and one warning per problem is enough.
_warned: set[str] = set()


def _stderr_warning(message: str, stream: TextIO | None = None) -> None:
    if message in _warned:
        return
    _warned.add(message)
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


def _natscli_name_ok(name: str) -> bool:
    """natscli's ``ValidateName``: not empty, no ``..``, no ``/`` or ``\\``."""
    return bool(name) and ".." not in name and "/" not in name and "\\" not in name


def natscli_selection(env: Mapping[str, str] | None = None) -> str | None:
    """The context name natscli's ``context.txt`` holds, None when nothing is selected."""
    try:
        text = natscli_selected_path(env).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.strip() or None


def _natscli_default(name: str, why: str, env: Mapping[str, str], warn: Warn) -> Context:
    """natscli's context ``name`` as a command's default; a context without a URL connects
    where natscli would (``nats://127.0.0.1:4222``)."""
    path = natscli_context_dir(env) / f"{name}.json"
    if not _natscli_name_ok(name) or not path.is_file():
        raise UsageError(
            f"{why} names the natscli context {name!r}, but {path} does not exist "
            "(see `nats context ls`, or give --nats URL)"
        )
    ctx = load_natscli_context(path, warn)
    nats_cfg = dict(ctx.nats)
    nats_cfg.setdefault("urls", [NATS_DEFAULT_URL])
    return replace(ctx, nats=nats_cfg, chosen_by=why)


def default_nats_context(
    env: Mapping[str, str] | None = None, warn: Warn = _stderr_warning
) -> Context | None:
    """What natscli would connect to: ``$NATS_CONTEXT``, else the context ``nats context
    select`` chose, else ``$NATS_URL``; None when none of them is set."""
    env = os.environ if env is None else env
    name = env.get(ENV_NATS_CONTEXT, "").strip()
    if name:
        return _natscli_default(name, f"${ENV_NATS_CONTEXT}", env, warn)
    name = natscli_selection(env) or ""
    if name:
        return _natscli_default(name, str(natscli_selected_path(env)), env, warn)
    urls = [u.strip() for u in env.get(ENV_NATS_URL, "").split(",") if u.strip()]
    if urls:
        return Context(
            f"${ENV_NATS_URL}", None, "env", nats={"urls": urls}, chosen_by=f"${ENV_NATS_URL}"
        )
    return None


def selected_context(
    name: str | None,
    env: Mapping[str, str] | None = None,
    warn: Warn = _stderr_warning,
    *,
    nats: Sequence[str] | None = None,
    kafka: str | None = None,
) -> Context | None:
    """The context a command uses: ``name`` (``--context``), else ``$EVMON_CONTEXT``, else,
    for a command that connects to NATS (``nats`` not None: its ``--nats`` values) and
    names no server, natscli's default (``default_nats_context``); None when there is none.

    natscli's default stays out of the way of a command line that names a server: its
    credentials must not go to another server, and ``--kafka`` alone means Kafka only. When
    ``--nats`` holds exactly that context's URLs (the default filled them in on an earlier
    call), the default is still the one in use. Read afresh on each call (nothing is cached
    on the caller's objects); ``_stderr_warning`` says each warning once.
    """
    env = os.environ if env is None else env
    if name:
        return replace(find_context(name, env, warn), chosen_by="--context")
    name = env.get(ENV_CONTEXT, "").strip()
    if name:
        return replace(find_context(name, env, warn), chosen_by=f"${ENV_CONTEXT}")
    if nats is None or kafka:
        return None
    given = [u.strip() for value in nats for u in value.split(",") if u.strip()]
    if not given:
        return default_nats_context(env, warn)
    try:  # a stale natscli selection must not break an explicit --nats
        default = default_nats_context(env, lambda _message: None)
    except UsageError:
        return None
    if default is None or given != list(default.nats.get("urls", ())):
        return None
    return default
