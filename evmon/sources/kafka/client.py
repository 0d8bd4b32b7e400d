"""The one way evmon starts a Kafka client, and what it says when that fails.

    consumer = AIOKafkaConsumer(group_id=None, **client_kwargs(settings))
    await start_client(settings, consumer)    # ConnectError: one line naming the cause

Every client evmon opens (the tail's consumer, the publisher's producer, a skip's assigned
consumer, the lag poller's cluster client, the demo's admin client, producer and groups)
takes ``client_kwargs`` and is started by
``start_client``: within the request timeout, stopped again when it fails or the caller
gives up, and the failure said in one line, with the per-host cause aiokafka only logs
(a SASL failure, a certificate it did not trust) rather than its bare "Unable to bootstrap".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.helpers import create_ssl_context

from evmon.config import KafkaSettings
from evmon.errors import ConnectError, UsageError, tls_files_error

__all__ = [
    "bootstrap_errors",
    "client_kwargs",
    "connect_error",
    "describe_kafka_error",
    "start_client",
]


def client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for bootstrap and security, shared by every client evmon opens."""
    kw: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap,
        "client_id": "evmon",
        "request_timeout_ms": int(settings.request_timeout * 1000),
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        kw["sasl_mechanism"] = settings.sasl_mechanism
        kw["sasl_plain_username"] = settings.sasl_username
        kw["sasl_plain_password"] = settings.sasl_password
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        try:
            kw["ssl_context"] = create_ssl_context(
                cafile=settings.ssl_cafile,
                certfile=settings.ssl_certfile,
                keyfile=settings.ssl_keyfile,
            )
        except (ssl.SSLError, OSError, ValueError) as err:
            paths = (settings.ssl_cafile, settings.ssl_certfile, settings.ssl_keyfile)
            files = [f for f in paths if f]
            raise UsageError(tls_files_error("Kafka", files, err)) from None
    return kw


def describe_kafka_error(
    err: BaseException, settings: KafkaSettings | None = None, *, connecting: bool = False
) -> str:
    """One short cause for a Kafka error; with ``settings``, secrets are masked.

    A broker evmon cannot reach reads the same everywhere: ``broker unreachable
    (connection refused)``, ``(host not found)`` or, while ``connecting``, ``(timed out)``.
    """
    text = str(err)
    low = text.lower()
    name = type(err).__name__
    if isinstance(err, ConnectionRefusedError) or "connect call failed" in low:
        return "broker unreachable (connection refused)"
    if isinstance(err, socket.gaierror):
        return "broker unreachable (host not found)"
    if connecting and isinstance(err, TimeoutError):
        return "broker unreachable (timed out)"
    if "sasl" in low or "authentication" in low or "Sasl" in name or "Authentication" in name:
        detail = text.strip() or name
        cause = f"SASL authentication failed ({detail})"
    elif "certificate verify failed" in low:
        detail = text.split("certificate verify failed", 1)[1].split("(_ssl", 1)[0].strip(" :")
        cause = f"certificate verify failed ({detail})" if detail else "certificate verify failed"
    elif isinstance(err, ssl.SSLError):
        cause = f"TLS handshake failed ({getattr(err, 'reason', None) or text})"
    elif isinstance(err, KafkaConnectionError) and low.endswith("closed"):
        cause = (
            "the broker closed the connection (check the security protocol, SASL settings "
            "and client certificate it expects)"
        )
    elif (
        "unable to bootstrap" in low
        or "unable to get cluster metadata" in low
        or isinstance(err, KafkaConnectionError)
    ):
        cause = "broker unreachable (connection refused or timed out)"
    elif isinstance(err, asyncio.TimeoutError):
        cause = "timed out"
    else:
        cause = text or name
    return settings.redact(cause) if settings is not None else cause


class _BootstrapErrors(logging.Handler):
    """Keeps the per-host errors aiokafka only logs before it raises a bare "Unable to
    bootstrap": they hold the real cause (SASL failure, certificate verify failed)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.errors.extend(a for a in args if isinstance(a, BaseException))

    def cause(self, fallback: BaseException) -> BaseException:
        """The most telling error seen: an auth or TLS failure beats "connection refused"."""
        for err in reversed(self.errors):
            if not isinstance(err, OSError | asyncio.TimeoutError) or isinstance(err, ssl.SSLError):
                return err
        return self.errors[-1] if self.errors else fallback


def connect_error(
    settings: KafkaSettings, err: BaseException, seen: _BootstrapErrors | None = None
) -> ConnectError:
    """The one line every command (and the dashboard's status bar) shows when a Kafka
    client cannot start: ``cannot connect to Kafka at H:P: broker unreachable (connection
    refused)``. ``seen`` holds the per-host errors aiokafka only logged."""
    cause = describe_kafka_error(seen.cause(err) if seen else err, settings, connecting=True)
    return ConnectError(f"cannot connect to Kafka at {settings.display}: {cause}")


@contextlib.contextmanager
def bootstrap_errors() -> Iterator[_BootstrapErrors]:
    handler = _BootstrapErrors()
    logger = logging.getLogger("aiokafka")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def start_client(
    settings: KafkaSettings,
    client: AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaClient | AIOKafkaAdminClient,
    wait: float | None = None,
) -> None:
    """Start ``client`` (a cluster client bootstraps, an admin client is closed, not
    stopped) within ``wait`` seconds (default: the
    settings' request timeout). When it fails, or the caller gives up (cancellation), the
    half-started client is stopped, or its connections and tasks outlive the caller; a
    failure raises ``connect_error``'s one line."""
    if isinstance(client, AIOKafkaClient):
        start, stop = client.bootstrap, client.close
    elif isinstance(client, AIOKafkaAdminClient):
        start, stop = client.start, client.close
    else:
        start, stop = client.start, client.stop
    with bootstrap_errors() as seen:  # the real cause (SASL, TLS) is only logged
        try:
            await asyncio.wait_for(start(), wait or settings.request_timeout)
            return
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stop(), 5)
            raise
        except (TimeoutError, KafkaError, OSError) as err:
            failed = seen.cause(err)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(stop(), 5)
    raise connect_error(settings, failed) from None
