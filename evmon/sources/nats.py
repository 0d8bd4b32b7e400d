"""NATS: core subscriptions to wildcard subjects and JetStream stream reads.

Reads never create durable consumers and never ack: JetStream streams are read through
ordered (ephemeral, ack-none) consumers, so watching a production stream leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import time
import types
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import ParseResult

import nats
import nats.errors
import nats.js.api
import nats.js.errors
from nats.aio.client import DEFAULT_BUFFER_SIZE, Client
from nats.aio.msg import Msg
from nats.protocol import parser as nats_parser
from nats.protocol.parser import Parser

from evmon.config import NatsSettings
from evmon.errors import ConnectError, UsageError, tls_files_error
from evmon.model import ConnectionStatus, Event, Headers, new_event
from evmon.selection import START_NEW, Start
from evmon.sources import Sink, StatusCallback, ignore_status
from evmon.sources.nats_cutoffs import CutOffCandidate, CutOffs, ServerCutOff, confirm_cut_off

#: Pending limits per subscription. nats-py's defaults drop silently past 512k messages;
#: evmon raises them and counts every drop in the sink instead.
PENDING_MSGS_LIMIT = 1_000_000
PENDING_BYTES_LIMIT = 512 * 1024 * 1024

_now = time.time


def _env_limit(name: str, default: int) -> int:
    """A pending limit from the environment (``EVMON_NATS_PENDING_MSGS`` /
    ``EVMON_NATS_PENDING_BYTES``): lower it on a small host to drop (and count) sooner."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


#: Full reads in a row (of nats-py's 32 KiB) that mean evmon is behind the server, and how
#: long after such a run an EOF still counts as "while behind".
BEHIND_READS = 8
BEHIND_GRACE = 0.5


#: nats-py's MSG and HMSG control lines with only space and tab as separators, as
#: nats-server writes them. nats-py's own use ``\s``, which also takes \x0b and \x0c: a
#: subject holding one (nats-server accepts them in PUB) is then split apart, the line is
#: malformed, and the parser either drops the connection or, past 4 KiB of buffer, waits for
#: more bytes forever (the stale-ping check ends that minutes later). Anyone who can
#: publish could do that to evmon.
_ARG = rb"[^ \t\r\n]+"
_SEP = rb"[ \t]+"
_MSG_RE = re.compile(
    rb"\AMSG" + _SEP + b"(" + _ARG + b")" + _SEP + b"(" + _ARG + b")" + _SEP
    + b"((" + _ARG + b")" + _SEP + rb")?(\d+)\r\n"
)  # fmt: skip
_HMSG_RE = re.compile(
    rb"\AHMSG" + _SEP + b"(" + _ARG + b")" + _SEP + b"(" + _ARG + b")" + _SEP
    + b"((" + _ARG + b")" + _SEP + rb")?(\d+)" + _SEP + rb"(\d+)\r\n"
)  # fmt: skip


def _parse_with_exact_separators() -> Any:
    """nats-py's ``Parser.parse`` itself, reading ``MSG_RE`` / ``HMSG_RE`` from a namespace
    of its own that holds the patterns above (nats-py's module is left as it is)."""
    parse = Parser.parse
    names = {**vars(nats_parser), "MSG_RE": _MSG_RE, "HMSG_RE": _HMSG_RE}
    return types.FunctionType(
        parse.__code__, names, parse.__name__, parse.__defaults__, parse.__closure__
    )


class _CountingParser(Parser):
    """nats-py's protocol parser, noting when evmon was reading a backlog.

    ``Client._read_loop`` reads at most ``DEFAULT_BUFFER_SIZE`` bytes and passes them to
    ``Client._ps.parse``: a loop that keeps getting full buffers has a backlog in the socket,
    which is what a slow consumer looks like from the client's side. The backlog's last read
    is short, so a run of full reads counts for ``BEHIND_GRACE`` seconds after it ends.
    """

    full_reads = 0
    _run_ended = -1e9
    _parse = _parse_with_exact_separators()

    async def parse(self, data: bytes = b"") -> None:
        n = len(data)
        if n >= DEFAULT_BUFFER_SIZE:
            self.full_reads += 1
        elif n:
            if self.full_reads >= BEHIND_READS:
                self._run_ended = time.monotonic()
            self.full_reads = 0
        await self._parse(data)

    def behind(self) -> bool:
        return self.full_reads >= BEHIND_READS or time.monotonic() - self._run_ended < BEHIND_GRACE


class RawHeaderClient(Client):
    """A nats-py client that keeps the raw header block of every message.

    nats-py parses headers into a dict, which collapses repeated names. The raw block is
    kept on ``msg.raw_headers`` so evmon can show and replay the headers exactly as sent.
    ``_process_msg`` parses headers and builds the message synchronously one after the other,
    so one slot is enough.
    """

    _raw_hdr: bytes = b""

    def __init__(self) -> None:
        super().__init__()
        self._ps = _CountingParser(self)

    def was_behind(self) -> bool:
        """The read loop was just handed a run of full buffers (256 KiB or more): the server
        had more for evmon than evmon was reading."""
        ps = self._ps
        return isinstance(ps, _CountingParser) and ps.behind()

    @property
    def server_id(self) -> str:
        """The id the connected server sent in its INFO (a new one at every server start)."""
        return str(self._server_info.get("server_id", ""))

    #: Core subscriptions evmon reads itself (sid -> handler), straight from the protocol
    #: parser: no ``Msg``, no asyncio queue, no task switch and coroutine per message. That
    #: dispatch is about half of what a raw nats-py callback subscriber spends per message.
    _direct: dict[int, Callable[[bytes, bytes, bytes], None]] | None = None

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any
    ) -> None:
        direct = self._direct
        handler = direct.get(sid) if direct else None
        if handler is None:
            return await super()._process_msg(sid, subject, reply, data, headers)
        stats = self.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handler(subject, data, headers)
        return None

    #: Why the connection was last lost, when nats-py knows: it calls ``disconnected_cb``
    #: without a reason, and a stale connection (the server stopped answering pings: frozen,
    #: or a silent partition) is worth saying as such.
    lost_because: BaseException | None = None
    #: The URL of the server that connection was to.
    lost_url: ParseResult | None = None
    #: The server's id for the lost connection (``/connz?cid=``), kept with ``lost_because``.
    lost_cid: int | None = None

    async def _process_op_err(self, e: Exception) -> None:
        if self.is_connected:
            self.lost_because, self.lost_url = e, self.connected_url
            self.lost_cid = self.client_id
        await super()._process_op_err(e)

    def deliver_directly(self, sid: int, handler: Callable[[bytes, bytes, bytes], None]) -> None:
        """Hand every message of subscription ``sid`` to ``handler(subject, data, headers)``
        from the parser (``headers`` is the raw block or empty)."""
        if self._direct is None:
            self._direct = {}
        self._direct[sid] = handler

    def stop_direct(self, sid: int) -> None:
        if self._direct:
            self._direct.pop(sid, None)

    async def _process_headers(self, headers: Any) -> Any:
        if not headers:  # most messages: no second coroutine (the parent returns None too)
            return None
        self._raw_hdr = headers
        return await super()._process_headers(headers)

    def _build_message(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any
    ) -> Any:
        try:
            msg = super()._build_message(sid, subject, reply, data, headers)
        except UnicodeDecodeError:
            # nats-py decodes the subject strictly, and an exception here silently ends its
            # read loop (the connection then looks alive until the pings go unanswered). A
            # publisher may send any bytes but whitespace: keep them, escaped when shown.
            msg = self.msg_class(
                subject=subject.decode("utf-8", "surrogateescape"),
                reply=reply.decode("utf-8", "surrogateescape"),
                data=data,
                headers=headers,
                _client=self,
                _sid=sid,
            )
        msg.raw_headers = self._raw_hdr
        self._raw_hdr = b""
        return msg


def parse_header_block(raw: bytes) -> Headers:
    """Split a ``NATS/1.0`` header block into ordered pairs, keeping repeats and raw values."""
    if not raw:
        return ()
    lines = raw.split(b"\r\n")
    pairs: list[tuple[str, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        pairs.append((name.decode("utf-8", "replace"), value.lstrip(b" ")))
    return tuple(pairs)


def msg_headers(msg: Msg) -> Headers:
    raw = getattr(msg, "raw_headers", b"")
    if raw:
        return parse_header_block(raw)
    if msg.headers:
        return tuple((k, str(v).encode()) for k, v in msg.headers.items())
    return ()


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


def _deliver_policy(start: Start) -> dict[str, Any]:
    api = nats.js.api
    if start.kind == "first":
        return {"deliver_policy": api.DeliverPolicy.ALL}
    if start.kind == "offset":
        return {
            "deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE,
            "opt_start_seq": max(1, start.offset),
        }
    if start.kind == "time":
        from datetime import UTC, datetime

        iso = datetime.fromtimestamp(start.time, UTC).isoformat().replace("+00:00", "Z")
        return {"deliver_policy": api.DeliverPolicy.BY_START_TIME, "opt_start_time": iso}
    return {"deliver_policy": api.DeliverPolicy.NEW}


def _js_position(reply: str) -> tuple[int, float] | None:
    """Stream sequence and timestamp from a JetStream ack subject (v1 and v2 layouts)."""
    tokens = reply.split(".")
    n = len(tokens)
    if n == 9:
        return int(tokens[5]), int(tokens[7]) / 1e9
    if n >= 11:
        return int(tokens[7]), int(tokens[9]) / 1e9
    return None


class _PendingEvents:
    """Events of one core subscription between the protocol parser and the sink.

    The parser calls ``receive`` for every message of a read buffer before anything else
    runs; a task hands what accumulated to the sink in one ``extend``. Like nats-py's own
    pending queue it is bounded (``EVMON_NATS_PENDING_MSGS`` / ``_BYTES``) and a message
    past the bound is dropped and counted in the sink, so a consumer that cannot keep up
    loses messages visibly rather than growing without limit.
    """

    __slots__ = ("_bytes", "_bytes_limit", "_events", "_msgs_limit", "_sink", "_task", "_wake")

    def __init__(self, sink: Sink, msgs_limit: int, bytes_limit: int) -> None:
        self._sink = sink
        self._msgs_limit = msgs_limit
        self._bytes_limit = bytes_limit
        self._events: list[Event] = []
        self._bytes = 0
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._drain())

    def receive(self, subject: bytes, data: bytes, headers: bytes) -> None:
        events = self._events
        size = len(data)
        if len(events) >= self._msgs_limit or self._bytes + size > self._bytes_limit:
            self._sink.add_dropped(1)
            return
        if not events:
            self._wake.set()
        events.append(
            new_event(
                "nats",
                subject.decode("utf-8", "surrogateescape"),  # any bytes a publisher chose
                data,
                _now(),
                parse_header_block(headers) if headers else (),
            )
        )
        self._bytes += size

    def _hand_over(self) -> None:
        events = self._events
        if events:
            self._events = []
            self._bytes = 0
            self._sink.extend(events)

    async def _drain(self) -> None:
        wake = self._wake
        while True:
            await wake.wait()
            wake.clear()
            self._hand_over()

    def close(self) -> None:
        self._task.cancel()
        self._hand_over()


class NatsSource:
    """Pushes core NATS and JetStream messages into a sink.

    Without ``streams`` each subject is a core subscription. With ``streams`` each named
    stream is read from ``start`` by an ordered consumer, filtered to ``subjects`` if given;
    the ordered consumer resumes after the last sequence it delivered when the connection
    comes back, so the view has neither gaps nor duplicates.
    """

    def __init__(
        self,
        settings: NatsSettings,
        sink: Sink,
        *,
        subjects: Sequence[str] = (),
        streams: Sequence[str] = (),
        start: Start = START_NEW,
        on_status: StatusCallback = ignore_status,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.subjects = list(subjects) or ([""] if streams else [">"])
        self.streams = list(streams)
        self.start_at = start
        self.on_status = on_status
        self.nc: Client | None = None
        self._subs: list[Any] = []
        self._pending: list[_PendingEvents] = []
        self.pending_msgs_limit = _env_limit("EVMON_NATS_PENDING_MSGS", PENDING_MSGS_LIMIT)
        self.pending_bytes_limit = _env_limit("EVMON_NATS_PENDING_BYTES", PENDING_BYTES_LIMIT)
        #: Slow-consumer cut-offs: named in the status, counted in ``cut_offs.intervals``.
        self.cut_offs = CutOffs(on_status, jetstream=bool(self.streams))

    def _on_error(self, err: Exception) -> None:
        if isinstance(err, ServerCutOff):
            self.cut_offs.cut(err.at)
        else:
            self.sink.add_dropped(1)

    async def start(self, wait: float | None = 10.0) -> None:
        self.nc = await connect_nats(
            self.settings, on_status=self.cut_offs.status, on_error=self._on_error, wait=wait
        )
        try:
            if self.streams:
                for stream in self.streams:
                    await self._subscribe_stream(stream)
            else:
                for subject in self.subjects:
                    await self._subscribe_core(subject)
        except BaseException:
            await self.close()
            raise

    async def _subscribe_core(self, subject: str) -> None:
        assert self.nc is not None
        try:
            sub = await self.nc.subscribe(subject)
        except nats.errors.BadSubjectError:
            raise UsageError(f"invalid NATS subject {subject!r}") from None
        pending = _PendingEvents(self.sink, self.pending_msgs_limit, self.pending_bytes_limit)
        nc = self.nc
        if isinstance(nc, RawHeaderClient):
            nc.deliver_directly(sub._id, pending.receive)
        else:  # pragma: no cover - connect_nats always builds a RawHeaderClient
            raise TypeError("evmon's NATS source needs a RawHeaderClient")
        self._pending.append(pending)
        self._subs.append(sub)
        await self.nc.flush()

    async def _subscribe_stream(self, stream: str) -> None:
        assert self.nc is not None
        js = self.nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            where = self.settings.display
            raise UsageError(f"JetStream stream {stream!r} not found on {where}") from None
        except nats.js.errors.ServiceUnavailableError:
            raise UsageError(f"JetStream is not enabled on {self.settings.display}") from None
        filters = [s for s in self.subjects if s] or list(info.config.subjects or [])
        config = nats.js.api.ConsumerConfig(
            filter_subjects=filters if len(filters) > 1 else None,
            filter_subject=filters[0] if len(filters) == 1 else None,
            **_deliver_policy(self.start_at),
        )
        append = self.sink.append
        mk = new_event

        async def on_msg(msg: Msg) -> None:
            pos = _js_position(msg.reply)
            seq, ts = pos if pos else (None, time.time())
            raw = msg.raw_headers  # type: ignore[attr-defined]
            append(
                mk(
                    "nats",
                    msg.subject,
                    msg.data,
                    ts,
                    parse_header_block(raw) if raw else (),
                    None,
                    stream,
                    None,
                    seq,
                )
            )

        try:
            sub = await js.subscribe(
                filters[0] if filters else "",
                stream=stream,
                config=config,
                ordered_consumer=True,
                cb=on_msg,
                pending_msgs_limit=self.pending_msgs_limit,
                pending_bytes_limit=self.pending_bytes_limit,
            )
        except nats.js.errors.BadRequestError as err:
            raise UsageError(f"cannot read stream {stream!r}: {err.description}") from None
        self._subs.append(sub)

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        if nc is None or nc.is_closed:
            return
        for sub in self._subs:
            if isinstance(nc, RawHeaderClient):
                nc.stop_direct(sub._id)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        for pending in self._pending:
            pending.close()  # what was read is delivered, then the drain task ends
        self._pending.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 5)
