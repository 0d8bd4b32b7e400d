"""Connection settings for each broker, built from flags (and later contexts).

The sources take these plain objects instead of argparse namespaces so the dashboard, the
headless commands and the tests build connections the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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

    @property
    def display(self) -> str:
        """The URLs without any credentials, safe for status bars and errors."""
        return ",".join(_strip_userinfo(u) for u in self.urls)


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

    @property
    def display(self) -> str:
        return self.bootstrap


def _strip_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest, scheme = url, ""
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return f"{scheme}://{rest}" if scheme else rest
