"""Connection settings from command-line flags over ``EVMON_*`` variables over a context.

Takes a plain ``ConnectionFlags`` (built from argparse by ``evmon.commands.common``), never
a namespace: what config reads is typed and declared here, and it stores nothing on its
input. Precedence, highest first: flags, ``EVMON_*`` environment variables, the selected
context (``--context NAME``, else ``$EVMON_CONTEXT``; see ``evmon.config.contexts``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evmon.config.contexts import Context
from evmon.config.settings import (
    KAFKA_SASL_MECHANISMS,
    KAFKA_SECURITY_PROTOCOLS,
    KafkaSettings,
    NatsSettings,
)
from evmon.errors import UsageError

__all__ = [
    "DEFAULT_RECONNECT_DEADLINE",
    "ENV_KAFKA_PASSWORD",
    "ENV_NATS_PASSWORD",
    "ENV_NATS_TOKEN",
    "ConnectionFlags",
    "kafka_settings_from",
    "nats_settings_from",
]

#: Seconds a headless command waits for a lost broker to come back before it exits 1.
DEFAULT_RECONNECT_DEADLINE = 60.0

ENV_NATS_PASSWORD = "EVMON_NATS_PASSWORD"
ENV_NATS_TOKEN = "EVMON_NATS_TOKEN"
ENV_KAFKA_PASSWORD = "EVMON_KAFKA_PASSWORD"


@dataclass(frozen=True, slots=True)
class ConnectionFlags:
    """The connection flags of one command line, as given: None (or ``()``) when not given.

    Field names are the argparse ``dest`` names, so a command's namespace maps onto them
    one to one; ``command`` decides the default reconnect deadline.
    """

    command: str | None = None
    context: str | None = None
    nats: tuple[str, ...] = ()
    nats_user: str | None = None
    nats_password: str | None = field(default=None, repr=False)
    nats_token: str | None = field(default=None, repr=False)
    nats_creds: str | None = None
    nats_nkey: str | None = None
    nats_tls_ca: str | None = None
    nats_tls_cert: str | None = None
    nats_tls_key: str | None = None
    nats_tls_first: bool | None = None
    kafka: str | None = None
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_user: str | None = None
    kafka_password: str | None = field(default=None, repr=False)
    kafka_tls_ca: str | None = None
    kafka_tls_cert: str | None = None
    kafka_tls_key: str | None = None
    reconnect_deadline: float | None = None
    ping_interval: float | None = None
    nats_monitor: str | None = None


def _flag(value: str | None) -> str | None:
    """A flag's value; an empty one counts as not given."""
    return value or None


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


def _deadline(flags: ConnectionFlags) -> float | None:
    value = flags.reconnect_deadline
    if value is None:
        # The dashboard keeps what it has and waits; headless commands give up.
        if flags.command in ("connect", "demo"):
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
    flags: ConnectionFlags, ctx: Context | None, env: Mapping[str, str] | None = None
) -> NatsSettings | None:
    """NATS settings from flags over the environment over the context; None if no URL."""
    env = os.environ if env is None else env
    cfg: Mapping[str, Any] = ctx.nats if ctx else {}
    raw = flags.nats
    urls = tuple(u.strip() for r in raw for u in r.split(",") if u.strip())
    if not urls:
        urls = tuple(cfg.get("urls", ()))
    if not urls:
        return None
    user = _flag(flags.nats_user) or cfg.get("user")
    password = _secret(_flag(flags.nats_password), ENV_NATS_PASSWORD, cfg, "password", env, ctx)
    token = _secret(_flag(flags.nats_token), ENV_NATS_TOKEN, cfg, "token", env, ctx)
    if user and not password:
        raise UsageError(
            f"NATS user {user!r} has no password: set ${ENV_NATS_PASSWORD} "
            "(or password_env in the context)"
        )
    if _flag(flags.nats_user) and token and not _flag(flags.nats_token):
        token = None  # an explicit user on the command line wins over a context's token
    tls_first = flags.nats_tls_first
    return NatsSettings(
        urls=urls,
        user=user,
        password=password if user else None,
        token=None if user else token,
        creds=_exists(_flag(flags.nats_creds) or cfg.get("creds"), "NATS credentials"),
        nkey_seed=_exists(_flag(flags.nats_nkey) or cfg.get("nkey"), "NATS nkey seed"),
        tls_ca=_exists(_flag(flags.nats_tls_ca) or cfg.get("tls_ca"), "NATS TLS CA"),
        tls_cert=_exists(_flag(flags.nats_tls_cert) or cfg.get("tls_cert"), "NATS TLS cert"),
        tls_key=_exists(_flag(flags.nats_tls_key) or cfg.get("tls_key"), "NATS TLS key"),
        tls_first=bool(tls_first if tls_first is not None else cfg.get("tls_first", False)),
        reconnect_deadline=_deadline(flags),
        ping_interval=flags.ping_interval or 5.0,
        monitor=_flag(flags.nats_monitor) or cfg.get("monitor"),
        context=ctx.label if ctx and ctx.nats else None,
    )


def kafka_settings_from(
    flags: ConnectionFlags, ctx: Context | None, env: Mapping[str, str] | None = None
) -> KafkaSettings | None:
    """Kafka settings from flags over the environment over the context; None if no bootstrap.

    The security protocol defaults from what is configured: SASL settings imply
    ``SASL_PLAINTEXT`` (``SASL_SSL`` with a CA or client certificate), TLS files alone ``SSL``.
    """
    env = os.environ if env is None else env
    cfg: Mapping[str, Any] = ctx.kafka if ctx else {}
    bootstrap = _flag(flags.kafka) or cfg.get("bootstrap")
    if not bootstrap:
        return None
    user = _flag(flags.kafka_user) or cfg.get("user")
    mechanism = _flag(flags.kafka_sasl_mechanism) or cfg.get("sasl_mechanism")
    ca = _exists(_flag(flags.kafka_tls_ca) or cfg.get("tls_ca"), "Kafka TLS CA")
    cert = _exists(_flag(flags.kafka_tls_cert) or cfg.get("tls_cert"), "Kafka TLS cert")
    key = _exists(_flag(flags.kafka_tls_key) or cfg.get("tls_key"), "Kafka TLS key")
    protocol = _flag(flags.kafka_security_protocol) or cfg.get("security_protocol")
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
            _flag(flags.kafka_password), ENV_KAFKA_PASSWORD, cfg, "password", env, ctx
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
        reconnect_deadline=_deadline(flags),
        ping_interval=flags.ping_interval or 5.0,
        context=ctx.label if ctx and ctx.kafka else None,
    )
