"""Connecting to NATS: reconnects forever, one-line causes, slow-consumer cut-offs named.

    nc = await connect_nats(settings, on_status=print, wait=10)   # ConnectError if unreachable

Every NATS connection evmon opens (tail, lag, publish, skip, interest) comes from here, so
they all retry the same way, describe failures the same way and never show a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any
from urllib.parse import ParseResult

import nats
import nats.errors
from nats.aio.client import Client

from evmon.config import NatsSettings
from evmon.errors import ConnectError, UsageError, tls_files_error
from evmon.model import ConnectionStatus
from evmon.sources import StatusCallback, ignore_status
from evmon.sources.nats.cutoffs import CutOffCandidate, ServerCutOff, confirm_cut_off
from evmon.sources.nats.wire import RawHeaderClient

__all__ = ["connect_nats", "describe_nats_error"]

_now = time.time


def _tls_context(settings: NatsSettings) -> ssl.SSLContext | None:
    if not (settings.tls_ca or settings.tls_cert or settings.tls_first):
        return None
    try:
        ctx = ssl.create_default_context(cafile=settings.tls_ca)
        if settings.tls_cert:
            ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError, ValueError) as err:
        files = [f for f in (settings.tls_ca, settings.tls_cert, settings.tls_key) if f]
        raise UsageError(tls_files_error("NATS", files, err)) from None
    return ctx


def describe_nats_error(err: BaseException, settings: NatsSettings | None = None) -> str:
    """One short cause for a connection error, the way an operator would say it.

    With ``settings`` any secret the client library echoed back is masked.
    """
    text = str(err).strip().strip("'\"") or type(err).__name__
    low = text.lower()
    if "authorization" in low or isinstance(err, nats.errors.AuthorizationError):
        cause = "authorization violation (check user/password, token, nkey or creds)"
    elif "authentication expired" in low or "user authentication revoked" in low:
        cause = f"authorization violation ({text})"
    elif "certificate verify failed" in low:
        detail = text.split("certificate verify failed", 1)[1].split("(_ssl", 1)[0]
        detail = detail.strip(" :")
        cause = f"certificate verify failed ({detail})" if detail else "certificate verify failed"
    elif isinstance(err, ssl.SSLError):
        cause = f"TLS handshake failed ({getattr(err, 'reason', None) or text})"
    elif isinstance(err, ConnectionRefusedError) or "connect call failed" in low:
        cause = "connection refused"
    elif isinstance(err, asyncio.TimeoutError):
        cause = "timed out"
    elif isinstance(err, nats.errors.UnexpectedEOF):  # a StaleConnectionError subclass
        cause = "the server closed the connection (unexpected EOF)"
    elif isinstance(err, nats.errors.StaleConnectionError):
        cause = "the server stopped answering pings"
    else:
        cause = text
    return settings.redact(cause) if settings is not None else cause


def _host_port(url: ParseResult) -> str:
    """``host:port`` of the server nats-py reached: its ``netloc`` keeps the URL's
    ``user:password@`` or token, which must never reach a status line."""
    return url.netloc.rpartition("@")[2]


def _is_fatal_at_start(err: BaseException) -> bool:
    """Errors that retrying cannot fix: wrong credentials, a certificate evmon does not trust,
    a TLS mismatch, missing key files. The first connect fails on them at once."""
    if isinstance(err, nats.errors.AuthorizationError | ssl.SSLError | FileNotFoundError):
        return True
    low = str(err).lower()
    return any(
        word in low
        for word in ("authorization", "certificate verify failed", "tls", "nkey", "credentials")
    )


async def connect_nats(
    settings: NatsSettings,
    *,
    on_status: StatusCallback = ignore_status,
    on_error: Any = None,
    wait: float | None = 10.0,
) -> Client:
    """Connect with reconnects forever (a monitor must not give up after two minutes).

    With ``wait`` the first connection must succeed within that many seconds, else a
    ``ConnectError`` naming the URL and the last cause; an authorization or certificate
    failure ends the wait at once. With ``wait=None`` the call keeps trying until it connects
    (the dashboard runs it in a worker and shows "connecting").

    Once connected, a lost connection is retried forever, every server of the pool once a
    second. With ``settings.reconnect_deadline`` the client is closed when no server came back
    within that many seconds: the status turns ``closed`` with a detail that says so.
    """
    display = settings.display
    last_error: list[BaseException] = []
    #: A connection the server ended without a word: see ``ServerCutOff``.
    cut_off: list[CutOffCandidate] = []
    refused: list[str] = []  # refusals before the first connect (headless commands)
    fatal = asyncio.Event()
    connected_once = False
    lost_detail = ""
    watchdog: asyncio.Task[None] | None = None

    def describe(err: BaseException) -> str:
        return describe_nats_error(err, settings)

    async def give_up_after(deadline: float) -> None:
        nonlocal lost_detail
        await asyncio.sleep(deadline)
        if nc.is_connected or nc.is_closed:
            return
        cause = f" (last error: {describe(last_error[-1])})" if last_error else ""
        lost_detail = f"lost the connection to NATS at {display} for {deadline:g} s{cause}"
        with contextlib.suppress(Exception):
            await nc.close()

    # secrets() covers a password or token given in the URL, too.
    has_credentials = bool(
        settings.user or settings.nkey_seed or settings.creds or settings.secrets()
    )

    def rejected_login(err: BaseException) -> BaseException:
        """The server answers bad credentials with -ERR and closes at once; the reset can
        overtake the -ERR line (the kernel drops unread data on RST), so a reset during the
        handshake is how a rejected login often looks from here."""
        if not connected_once and has_credentials and isinstance(err, ConnectionResetError):
            return nats.errors.AuthorizationError()
        return err

    async def error_cb(err: Exception) -> None:
        if isinstance(err, nats.errors.SlowConsumerError):
            if on_error is not None:
                on_error(err)
            return
        failure = rejected_login(err)
        last_error.append(failure)
        del last_error[:-1]
        cause = describe(failure)
        if not connected_once and _is_fatal_at_start(failure):
            fatal.set()
        if not connected_once and wait is not None and cause == "connection refused":
            # nats-py tries the servers in turn: once every one has refused, nothing listens
            # at any of them; say so now rather than after the whole wait.
            refused.append(cause)
            if len(refused) >= len(settings.urls):
                fatal.set()
        if connected_once:
            if not nc.is_closed:
                on_status(ConnectionStatus("nats", display, "reconnecting", cause))
        else:
            on_status(ConnectionStatus("nats", display, "connecting", cause))

    async def disconnected_cb() -> None:
        nonlocal watchdog
        if connected_once and not nc.is_closed:
            why, nc.lost_because = nc.lost_because, None
            detail = ""
            eof = isinstance(why, nats.errors.UnexpectedEOF)  # a StaleConnectionError too
            if eof or isinstance(why, (ConnectionResetError, BrokenPipeError)):
                # The server ended it without -ERR: perhaps a slow-consumer cut-off, to be
                # confirmed when the same server takes evmon back (reconnected_cb).
                cut_off[:] = [CutOffCandidate(nc.server_id, nc.lost_cid, _now(), nc.was_behind())]
            if isinstance(why, nats.errors.StaleConnectionError) and not eof:
                url = nc.lost_url
                server = _host_port(url) if url else display
                last_error.append(why)
                detail = f"NATS server {server} stopped answering pings"
            on_status(ConnectionStatus("nats", display, "reconnecting", detail))
            deadline = settings.reconnect_deadline
            if deadline is not None and (watchdog is None or watchdog.done()):
                watchdog = asyncio.create_task(give_up_after(deadline))

    async def reconnected_cb() -> None:
        if watchdog is not None:
            watchdog.cancel()
        candidate = cut_off.pop() if cut_off else None
        cut_off.clear()
        # The server that closed is still up: ask it (or infer) whether it was a cut-off.
        same_server = candidate is not None and candidate.server_id == nc.server_id
        if (
            candidate
            and same_server
            and on_error
            and await confirm_cut_off(settings.monitor, candidate)
        ):
            on_error(ServerCutOff(candidate.at))
        url = nc.connected_url
        on_status(ConnectionStatus("nats", display, "connected", _host_port(url) if url else ""))

    async def closed_cb() -> None:
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
        on_status(ConnectionStatus("nats", display, "closed", lost_detail))

    nc = RawHeaderClient()
    opts: dict[str, Any] = {
        "servers": list(settings.urls),
        "name": "evmon",
        "connect_timeout": settings.connect_timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1,
        # nats-py's default (a ping every 2 minutes, 2 unanswered allowed) notices a frozen
        # server or a silent partition after about 6 minutes; evmon after ~3 intervals.
        "ping_interval": settings.ping_interval,
        "max_outstanding_pings": settings.max_outstanding_pings,
        "error_cb": error_cb,
        "disconnected_cb": disconnected_cb,
        "reconnected_cb": reconnected_cb,
        "closed_cb": closed_cb,
        "user": settings.user,
        "password": settings.password,
        "token": settings.token,
        "user_credentials": settings.creds,
        "nkeys_seed": settings.nkey_seed,
        "tls": _tls_context(settings),
        "tls_handshake_first": settings.tls_first,
    }
    on_status(ConnectionStatus("nats", display, "connecting"))
    task = asyncio.ensure_future(nc.connect(**{k: v for k, v in opts.items() if v is not None}))
    fatal_wait = asyncio.ensure_future(fatal.wait())
    try:
        done, _ = await asyncio.wait(
            {task, fatal_wait}, timeout=wait, return_when="FIRST_COMPLETED"
        )
    except asyncio.CancelledError:
        # The caller gave up (the dashboard quit while still connecting): stop the retry
        # loop too, or it keeps dialling in the background.
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(Exception):
            await nc.close()
        raise
    finally:
        fatal_wait.cancel()
    if task not in done:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(Exception):
            await nc.close()
        cause = describe(last_error[-1]) if last_error else "timed out"
        on_status(ConnectionStatus("nats", display, "failed", cause))
        raise ConnectError(f"cannot connect to NATS at {display}: {cause}")
    exc = task.exception()
    if exc is not None:
        cause = describe(rejected_login(exc))
        on_status(ConnectionStatus("nats", display, "failed", cause))
        raise ConnectError(f"cannot connect to NATS at {display}: {cause}")
    connected_once = True
    url = nc.connected_url
    on_status(ConnectionStatus("nats", display, "connected", _host_port(url) if url else ""))
    return nc
