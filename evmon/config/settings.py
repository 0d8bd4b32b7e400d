"""Connection settings for each broker: plain frozen objects, secrets kept out of reprs.

The sources take these instead of argparse namespaces so the dashboard, the headless
commands and the tests build connections the same way (``evmon.config.resolve`` builds them
from flags, the environment and a context). Every message shown about a connection goes
through ``redact``: client libraries sometimes echo what they were given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "KAFKA_SASL_MECHANISMS",
    "KAFKA_SECURITY_PROTOCOLS",
    "MASK",
    "KafkaSettings",
    "NatsSettings",
    "redact",
]

KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
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
    #: The server's HTTP monitoring endpoint (``--nats-monitor``), when the operator gave one.
    monitor: str | None = None
    #: The context these settings came from (``Context.label``), for the status bar.
    context: str | None = field(default=None, compare=False)

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
    #: Every broker is asked for its API versions this often; one that answers nothing for
    #: three intervals (a frozen JVM, a silent partition) is named in the status.
    ping_interval: float = 5.0
    #: The context these settings came from (``Context.label``), for the status bar.
    context: str | None = field(default=None, compare=False)

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
