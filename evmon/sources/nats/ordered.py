"""A JetStream ordered consumer read from the protocol parser, for ``--stream`` reads.

nats-py's ordered consumer turns every message into a ``Msg``, queues it and switches to a
task that awaits the callback, on top of its sequence checks: a raw nats-py reader that does
nothing spends more per message than ``evmon tail`` spends writing a core message as JSON.
``OrderedRead`` keeps what an ordered consumer guarantees and does it where the message is
parsed (``RawHeaderClient.deliver_js_directly``), the way core subscriptions are read
(``tail._PendingEvents``):

- an ephemeral push consumer, ack none, max_deliver 1, flow control and idle heartbeats,
  memory storage, one replica: the consumer nats-py's ``js.subscribe(ordered_consumer=True)``
  creates, with the same configuration;
- every data message's consumer sequence (from its ``$JS.ACK`` reply subject) must be the
  one after the last; a gap (the server dropped messages, a reconnect lost what was in
  flight) or an idle heartbeat whose ``Nats-Last-Consumer`` is not the last one delivered
  re-creates the consumer from the stream sequence after the last one delivered, on a new
  inbox; messages of the old consumer still arriving are dropped;
- no message or heartbeat for two heartbeat intervals (the server restarted and lost the
  memory consumer, the consumer was deleted) re-creates it the same way;
- a flow-control request, and the reply a ``Consumer Stalled`` heartbeat names, are
  answered once every message received before it has been handed to the sink (nats-py
  answers once the callback was given them);
- messages past the pending limits are dropped and counted, as nats-py does.

Beyond nats-py: the first resumption point is the consumer's own start (its
``delivered.stream_seq`` at creation), not sequence 1, so a read of new messages that
resets before its first message does not replay the whole stream; a resumption clears a
start time (the server refuses one with a start sequence).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import nats.js.api
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from evmon.model import Event, new_event
from evmon.sources import Sink
from evmon.sources.nats.own import add_own_read
from evmon.sources.nats.wire import RawHeaderClient, parse_header_block, report_error, sid_of

__all__ = ["OrderedRead", "ordered_config"]

_now = time.time
#: A status message with code 100: flow control or idle heartbeat (no payload).
_CONTROL = b"NATS/1.0 100"
_FLOW = b"Flow"
_IDLE = b"Idle"
#: Idle heartbeat every 5 s, as nats-py's ordered consumer; two missed ones mean a reset.
HEARTBEAT = 5.0


def ordered_config(config: nats.js.api.ConsumerConfig) -> nats.js.api.ConsumerConfig:
    """``config`` made the consumer nats-py's ``js.subscribe(ordered_consumer=True)`` makes."""
    api = nats.js.api
    if not config.filter_subjects and config.filter_subject is None:
        config.filter_subject = ""  # as js.subscribe("") sets it
    config.flow_control = True
    config.ack_policy = api.AckPolicy.NONE
    config.max_deliver = 1
    config.ack_wait = 22 * 3600  # 22 hours
    config.idle_heartbeat = config.idle_heartbeat or HEARTBEAT
    config.num_replicas = 1
    config.mem_storage = True
    return config


async def _ignore(msg: Msg) -> None:
    """nats-py's callback for the inbox: never called while the parser hands messages on."""


class OrderedRead:
    """One stream read through an ordered consumer, delivered from the parser to a sink.

    ``start`` creates the consumer; ``close`` ends the read after handing over what was read.
    ``on_fault(error, resume_seq)`` is called once if the parser-side handler raised: the
    read has stopped by then, and ``resume_seq`` is the stream sequence to resume from.
    """

    def __init__(
        self,
        nc: RawHeaderClient,
        stream: str,
        config: nats.js.api.ConsumerConfig,
        sink: Sink,
        *,
        msgs_limit: int,
        bytes_limit: int,
        on_fault: Callable[[BaseException, int], None],
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.stream = stream
        self._config = ordered_config(config)
        self._sink = sink
        self._msgs_limit = msgs_limit
        self._bytes_limit = bytes_limit
        self._on_fault = on_fault
        self._events: list[Event] = []
        self._bytes = 0
        #: The consumer sequence the next data message must have.
        self._dseq = 1
        #: The stream sequence of the last message delivered (where a reset resumes after).
        self.sseq = 0
        self._fc: list[bytes] = []
        self._active = True
        self._resetting = False
        #: Consumers re-created after a gap or silence, and flow-control replies sent.
        self.resets = 0
        self.flow_replies = 0
        self.sub: Subscription | None = None
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # ------------------------------------------------------------------ the parser side

    def receive(self, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        """One message of the consumer's inbox, straight from the protocol parser."""
        self._active = True
        if self._resetting:
            return  # the old consumer's, after a gap: the new one sends them again
        if headers and not data and headers.startswith(_CONTROL):
            self._control(reply, headers)
            return
        tokens = reply.split(b".")
        n = len(tokens)
        seq: int | None
        if n == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ns>.<pending>
            seq, dseq, ts = int(tokens[5]), int(tokens[6]), int(tokens[7]) / 1e9
        elif n >= 11:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>...
            seq, dseq, ts = int(tokens[7]), int(tokens[8]), int(tokens[9]) / 1e9
        else:  # not an ack subject: shown, not tracked (as nats-py does)
            seq, dseq, ts = None, 0, _now()
        if seq is not None and dseq != self._dseq:
            self._gap()
            return
        events = self._events
        size = len(data)
        if len(events) >= self._msgs_limit or self._bytes + size > self._bytes_limit:
            self._sink.add_dropped(1)
        else:
            if not events:
                self._wake.set()
            events.append(
                new_event(
                    "nats",
                    subject.decode("utf-8", "surrogateescape"),
                    data,
                    ts,
                    parse_header_block(headers) if headers else (),
                    None,
                    self.stream,
                    None,
                    seq,
                )
            )
            self._bytes += size
        if seq is not None:  # after the event: a message that raised is not counted as read
            self._dseq = dseq + 1
            self.sseq = seq

    def _control(self, reply: bytes, headers: bytes) -> None:
        end = headers.find(b"\r\n")
        what = headers[len(_CONTROL) + 1 : end if end >= 0 else len(headers)]
        if what.startswith(_FLOW):
            if reply:
                self._fc.append(reply)
                self._wake.set()
            return
        if not what.startswith(_IDLE):
            return
        fields = dict(parse_header_block(headers))
        stalled = fields.get("Nats-Consumer-Stalled")
        if stalled:
            self._fc.append(stalled)
            self._wake.set()
        last = fields.get("Nats-Last-Consumer")
        if not reply and last is not None and last.isdigit() and int(last) != self._dseq - 1:
            self._gap()  # the server delivered more than arrived here

    def _gap(self) -> None:
        self._resetting = True
        self._fc.clear()  # the old consumer's: it is being replaced
        self._spawn(self._reset())

    # ------------------------------------------------------------------ the loop side

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Subscribe the inbox, create the consumer, start handing over and watching."""
        self._spawn(self._drain())
        self._spawn(self._watch())
        await self._subscribe_and_create(first=True)

    async def _subscribe_and_create(self, *, first: bool) -> None:
        nc = self._nc
        inbox = nc.new_inbox()
        sub = await nc.subscribe(
            inbox,
            cb=_ignore,
            pending_msgs_limit=self._msgs_limit,
            pending_bytes_limit=self._bytes_limit,
        )
        self.sub = sub
        nc.deliver_js_directly(sid_of(sub), self.receive, self._fault)
        add_own_read(sub)  # the lag reports leave this process's own consumer out
        self._dseq = 1
        self._resetting = False
        config = self._config
        config.deliver_subject = inbox
        if not first:
            config.deliver_policy = nats.js.api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self.sseq + 1
            config.opt_start_time = None
        info = await self._js.add_consumer(self.stream, config=config)
        delivered = info.delivered.stream_seq if info.delivered else None
        if self._dseq == 1 and delivered is not None and sub is self.sub:
            self.sseq = max(self.sseq, delivered)  # where this consumer starts

    async def _reset(self) -> None:
        """Replace the consumer after a gap: a new inbox, a consumer from ``sseq + 1``."""
        if self._closed:
            return
        self.resets += 1
        self.hand_over()
        old, nc = self.sub, self._nc
        if old is not None:
            nc.stop_direct(sid_of(old))
            with contextlib.suppress(Exception):
                await old.unsubscribe()
        try:
            await self._subscribe_and_create(first=False)
        except Exception as err:  # the heartbeat watch tries again
            with contextlib.suppress(Exception):
                await report_error(nc, err)

    async def _drain(self) -> None:
        wake, nc = self._wake, self._nc
        while True:
            await wake.wait()
            wake.clear()
            self.hand_over()
            if self._fc:
                replies, self._fc = self._fc, []
                for reply in replies:
                    with contextlib.suppress(Exception):
                        await nc.publish(reply.decode("utf-8", "surrogateescape"))
                        self.flow_replies += 1

    async def _watch(self) -> None:
        interval = 2 * float(self._config.idle_heartbeat or HEARTBEAT)
        while not self._nc.is_closed:
            await asyncio.sleep(interval)
            active, self._active = self._active, False
            if not active and not self._resetting:
                self._gap()

    def hand_over(self) -> None:
        events = self._events
        if events:
            self._events = []
            self._bytes = 0
            self._sink.extend(events)

    def _fault(self, err: BaseException) -> None:
        """The handler raised on a message it had not taken: stop, and let the owner
        resume from it."""
        self._stop()
        self._on_fault(err, self.sseq + 1)

    def _stop(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self.hand_over()
        sub = self.sub
        if sub is not None:
            self._nc.stop_direct(sid_of(sub))
            self._spawn_unsubscribe(sub)

    def _spawn_unsubscribe(self, sub: Subscription) -> None:
        async def unsubscribe() -> None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

        if not self._nc.is_closed:
            self._spawn(unsubscribe())

    async def close(self) -> None:
        """What was read is handed over, then the subscription ends."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self.hand_over()
        sub = self.sub
        if sub is not None:
            self._nc.stop_direct(sid_of(sub))
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
