"""NATS: core subscriptions to wildcard subjects and JetStream stream reads.

Reads never create durable consumers and never ack: JetStream streams are read through
ordered (ephemeral, ack-none) consumers, so watching a production stream leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.api
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from evmon.config import NatsSettings
from evmon.errors import UsageError
from evmon.model import ConnectionStatus, Event, new_event
from evmon.selection import START_NEW, Start
from evmon.sources import Sink, StatusCallback, ignore_status
from evmon.sources.nats.connect import connect_nats
from evmon.sources.nats.cutoffs import CutOffs, ServerCutOff
from evmon.sources.nats.ordered import OrderedRead
from evmon.sources.nats.own import add_own_read
from evmon.sources.nats.wire import RawHeaderClient, msg_headers, parse_header_block, sid_of

__all__ = ["PENDING_BYTES_LIMIT", "PENDING_MSGS_LIMIT", "NatsSource"]

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


def _is_wildcard(subject: str) -> bool:
    return any(token in ("*", ">") for token in subject.split("."))


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

    def hand_over(self) -> None:
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
            self.hand_over()

    def close(self) -> None:
        self._task.cancel()
        self.hand_over()


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
        self._reads: list[OrderedRead] = []
        self._fallbacks: set[asyncio.Future[None]] = set()
        self.pending_msgs_limit = _env_limit("EVMON_NATS_PENDING_MSGS", PENDING_MSGS_LIMIT)
        self.pending_bytes_limit = _env_limit("EVMON_NATS_PENDING_BYTES", PENDING_BYTES_LIMIT)
        #: Slow-consumer cut-offs: named in the status, counted in ``cut_offs.intervals``.
        self.cut_offs = CutOffs(self._relay, jetstream=bool(self.streams))
        #: Core subscriptions whose parser-side delivery raised and fell back to nats-py's
        #: own; ``degraded`` says why (the first fault), in one line; "" while none has.
        self.delivery_faults = 0
        self.degraded = ""
        self._fault_cause = ""
        #: JetStream messages whose nats-py callback (the fallback read) raised: converted
        #: plainly instead (``callback_dropped`` of them could not be and are dropped).
        self.callback_faults = 0
        self.callback_dropped = 0
        self._callback_cause = ""
        self._last_status: ConnectionStatus | None = None
        #: Whether the notice that a wildcard subscription is interest for requests was said.
        self._requests_said = False

    def summary(self) -> str:
        """One line for the end of a tail ("" when there is nothing to say): the
        slow-consumer cut-offs (``CutOffs.summary``), a delivery that fell back."""
        lines = [self.cut_offs.summary()]
        if self.delivery_faults:
            n = self.delivery_faults
            subs = "subscription" if n == 1 else "subscriptions"
            lines.append(
                f"{n} NATS {subs} fell back to nats-py's delivery after a parser-side fault "
                f"({self._fault_cause})"
            )
        if self.callback_faults:
            n, lost = self.callback_faults, self.callback_dropped
            msgs = "message" if n == 1 else "messages"
            dropped = f", {lost} dropped" if lost else ""
            lines.append(
                f"{n} JetStream {msgs} failed in nats-py's delivery callback "
                f"({self._callback_cause}): converted without header block or position{dropped}"
            )
        return "; ".join(line for line in lines if line)

    def _relay(self, status: ConnectionStatus) -> None:
        """The status on its way out: a degraded delivery is named in the connected detail
        (before anything else it says) for as long as the source runs."""
        self._last_status = status
        if self.degraded and status.state == "connected":
            extra = "" if status.detail in status.url else status.detail  # not the host
            detail = f"degraded: {self.degraded}" + (f"; {extra}" if extra else "")
            status = ConnectionStatus(status.source, status.url, status.state, detail)
        self.on_status(status)

    def _direct_fault(
        self, subject: str, pending: _PendingEvents | OrderedRead, err: BaseException
    ) -> None:
        """Called by the client when a subscription's parser-side handler raised, before
        the message that failed goes to nats-py's own path: what the handler took before
        the fault reaches the sink first, then the fault is counted and said."""
        with contextlib.suppress(Exception):
            pending.hand_over()
        self.delivery_faults += 1
        if not self.degraded:
            cause = self._fault_cause = " ".join(f"{type(err).__name__}: {err}".split())[:200]
            self.degraded = (
                f"parser-side delivery failed on {subject} ({cause}); nats-py's own "
                "delivery took over"
            )
        last = self._last_status
        if last is not None and last.state == "connected":
            self._relay(last)

    def _callback_fault(self, stream: str, msg: Msg, err: BaseException) -> None:
        """The nats-py callback of ``stream``'s fallback read raised on ``msg``. Raising on
        would hand it to nats-py's ``error_cb`` (the status says "reconnecting") and lose the
        message uncounted; instead it is converted plainly (nats-py's parsed headers, no
        stream position, the time now), or dropped and counted, and the source says it is
        degraded, as for a parser-side fault."""
        self.callback_faults += 1
        cause = " ".join(f"{type(err).__name__}: {err}".split())[:200]
        self._callback_cause = self._callback_cause or cause
        try:
            self.sink.append(
                new_event("nats", msg.subject, msg.data, _now(), msg_headers(msg), None, stream)
            )
        except Exception:
            self.callback_dropped += 1
            self.sink.add_dropped(1)
        if not self.degraded:
            self._fault_cause = cause
            self.degraded = f"nats-py's delivery callback failed on stream {stream} ({cause})"
        last = self._last_status
        if last is not None and last.state == "connected":
            self._relay(last)

    def _request_seen(self, pattern: str, subject: bytes, reply: bytes) -> None:
        """A request under a wildcard subscription: evmon's subscription is interest for its
        subject, so while evmon listens a request nobody serves waits for its timeout
        instead of failing at once with "no responders". Said once per source. JetStream's
        own replies (``$JS.ACK``/``$JS.FC`` on deliveries) are not requests."""
        if self._requests_said or reply.startswith(b"$JS."):
            return
        self._requests_said = True
        nc = self.nc
        if isinstance(nc, RawHeaderClient):
            for sub in self._subs:
                nc.watch_requests(sid_of(sub), None)
        name = subject.decode("utf-8", "surrogateescape")
        last = self._last_status
        status = last or ConnectionStatus("nats", self.settings.display, "connected")
        self.on_status(
            ConnectionStatus(
                status.source,
                status.url,
                status.state,
                status.detail,
                notice=f"{name} carries requests: evmon's subscription to {pattern} counts as "
                "interest, so a request nobody serves times out instead of 'no responders'",
            )
        )

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
        sink = self.sink

        async def fallback(msg: Msg) -> None:
            """nats-py's own delivery, used only after the parser-side handler failed."""
            try:
                sink.append(new_event("nats", msg.subject, msg.data, _now(), msg_headers(msg)))
            except Exception:  # nats-py would hand it to error_cb: "reconnecting"
                sink.add_dropped(1)

        try:
            sub = await self.nc.subscribe(
                subject,
                cb=fallback,
                pending_msgs_limit=self.pending_msgs_limit,
                pending_bytes_limit=self.pending_bytes_limit,
            )
        except nats.errors.BadSubjectError:
            raise UsageError(f"invalid NATS subject {subject!r}") from None
        pending = _PendingEvents(self.sink, self.pending_msgs_limit, self.pending_bytes_limit)
        nc = self.nc
        if isinstance(nc, RawHeaderClient):
            nc.deliver_directly(
                sid_of(sub),
                pending.receive,
                lambda err: self._direct_fault(subject, pending, err),
            )
            if not self._requests_said and _is_wildcard(subject):
                nc.watch_requests(sid_of(sub), lambda s, r: self._request_seen(subject, s, r))
        else:  # pragma: no cover - connect_nats always builds a RawHeaderClient
            raise TypeError("evmon's NATS source needs a RawHeaderClient")
        self._pending.append(pending)
        self._subs.append(sub)
        await self.nc.flush()

    async def _subscribe_stream(self, stream: str) -> None:
        assert self.nc is not None
        js = self.nc.jetstream()
        try:
            await js.stream_info(stream)  # a missing stream or JetStream said in one line
        except nats.js.errors.NotFoundError:
            where = self.settings.display
            raise UsageError(f"JetStream stream {stream!r} not found on {where}") from None
        except nats.js.errors.ServiceUnavailableError:
            raise UsageError(f"JetStream is not enabled on {self.settings.display}") from None
        # No -s: no filter. The stream's subjects say what it captures from now on, not what
        # it holds: messages stored under a subject it no longer lists are read too.
        filters = [s for s in self.subjects if s]
        config = nats.js.api.ConsumerConfig(
            filter_subjects=filters if len(filters) > 1 else None,
            filter_subject=filters[0] if len(filters) == 1 else None,
            **_deliver_policy(self.start_at),
        )
        nc = self.nc
        if not isinstance(nc, RawHeaderClient):  # pragma: no cover - connect_nats builds one
            raise TypeError("evmon's NATS source needs a RawHeaderClient")
        read = OrderedRead(
            nc,
            stream,
            config,
            self.sink,
            msgs_limit=self.pending_msgs_limit,
            bytes_limit=self.pending_bytes_limit,
            on_fault=lambda err, seq: self._stream_fault(stream, filters, read, err, seq),
        )
        try:
            await read.start()
        except nats.js.errors.BadRequestError as err:
            await read.close()
            raise UsageError(f"cannot read stream {stream!r}: {err.description}") from None
        except BaseException:
            await read.close()
            raise
        self._reads.append(read)

    def _stream_fault(
        self, stream: str, filters: list[str], read: OrderedRead, err: BaseException, seq: int
    ) -> None:
        """The parser-side read of ``stream`` raised (it has stopped, what it read is in
        the sink): nats-py's own ordered consumer takes over from sequence ``seq``."""
        self._direct_fault(f"stream {stream}", read, err)
        start = Start("offset", offset=seq)
        task = asyncio.ensure_future(self._subscribe_stream_nats_py(stream, filters, start))
        self._fallbacks.add(task)
        task.add_done_callback(self._fallbacks.discard)

    async def _subscribe_stream_nats_py(
        self, stream: str, filters: list[str], start: Start
    ) -> None:
        """nats-py's ordered consumer with a callback: the fallback of ``OrderedRead``."""
        nc = self.nc
        if nc is None:
            return
        config = nats.js.api.ConsumerConfig(
            filter_subjects=filters if len(filters) > 1 else None,
            filter_subject=filters[0] if len(filters) == 1 else None,
            **_deliver_policy(start),
        )
        append = self.sink.append
        mk = new_event

        async def on_msg(msg: Msg) -> None:
            try:
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
            except Exception as err:  # never to nats-py's error_cb: see _callback_fault
                self._callback_fault(stream, msg, err)

        try:
            sub = await nc.jetstream().subscribe(
                filters[0] if filters else "",
                stream=stream,
                config=config,
                ordered_consumer=True,
                cb=on_msg,
                pending_msgs_limit=self.pending_msgs_limit,
                pending_bytes_limit=self.pending_bytes_limit,
            )
        except Exception as err:  # said like any other error of the connection
            self._on_error(err)
            return
        self._subs.append(sub)
        add_own_read(sub)

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        if nc is None or nc.is_closed:
            return
        for sub in self._subs:
            if isinstance(nc, RawHeaderClient):
                nc.stop_direct(sid_of(sub))
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        for task in list(self._fallbacks):
            task.cancel()
        for read in self._reads:
            with contextlib.suppress(Exception):
                await read.close()  # what was read is delivered first
        self._reads.clear()
        for pending in self._pending:
            pending.close()  # what was read is delivered, then the drain task ends
        self._pending.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 5)
