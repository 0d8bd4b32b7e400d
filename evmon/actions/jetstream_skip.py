"""JetStream skip: terminate exactly the message a pull consumer is stuck on, nothing else.

    plan = await inspect_jetstream_skip(ctx, "ORDERS", "worker")      # read-only
    async with open_jetstream_skip(ctx, "ORDERS", "worker") as held:  # finds and holds it
        print(held.preview())                # ORDERS#33 orders.created: delivered 7 times...
        if confirm(held.question()):
            result = await held.terminate()  # a confirmed +TERM for sequence 33 only
    # leaving the block without terminate() hands the message back for redelivery

The target is the first stored message after the consumer's ack floor that its filter
matches: the one it is stuck on, ack-pending (delivered, never acknowledged), often naked
with a delay by a live client. A consumer with nothing ack-pending at the floor is not stuck,
and is refused before anything is fetched. Otherwise evmon pulls as the durable until the
server redelivers the target to it (``evmon.sources.nats.consumer_skip.hunt``: every other
message is handed back at once and counted), then shows it (sequence, subject, delivery
count, size, payload) and terminates it only once confirmed. When the target does not come
within the deadline, nothing is terminated and the refusal says what to do. ``--seq N`` (a consumer
reset, nats-server 2.14+) is the way past a message that live clients hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from typing import Any

from nats.aio.client import Client

from evmon.actions.context import ActionContext
from evmon.actions.skip_report import SkipResult, payload_line, stamp
from evmon.codec import safe_text
from evmon.errors import EvmonError, UsageError
from evmon.sources.nats.connect import connect_nats
from evmon.sources.nats.consumer_skip import (
    ConsumerPosition,
    HeldMessage,
    StreamMessage,
    consumer_info,
    consumer_position,
    hunt,
    read_stream_message,
    reset_consumer,
)

__all__ = [
    "DEFAULT_WAIT",
    "JetStreamSkip",
    "JetStreamSkipPlan",
    "inspect_jetstream_skip",
    "open_jetstream_skip",
    "skip_jetstream",
]

#: Seconds evmon waits for the stuck message to be redelivered to it (``--wait``).
DEFAULT_WAIT = 10.0


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _returned(n: int) -> str:
    if n == 1:
        return "1 message fetched on the way was returned for redelivery"
    return f"{n} messages fetched on the way were returned for redelivery"


@dataclass(frozen=True, slots=True)
class JetStreamSkipPlan:
    """A consumer's state and the message it is stuck on, for the confirmation."""

    stream: str
    consumer: str
    pull: bool
    ack_policy: str
    ack_wait: float
    position: ConsumerPosition
    seq: int | None = None  # a reset to this stream sequence (--seq) instead of a terminate
    message: StreamMessage | None = None  # the stuck message as stored
    deliveries: int | None = None  # its delivery count, once it was delivered to evmon
    returned: int = 0  # messages fetched on the way, handed back

    @property
    def target(self) -> str:
        return safe_text(f"consumer {self.consumer} on stream {self.stream}")

    @property
    def where(self) -> str:
        """``STREAM#SEQ`` of the stuck message."""
        seq = self.message.seq if self.message is not None else self.position.ack_floor + 1
        return safe_text(f"{self.stream}#{seq}")

    def question(self) -> str:
        if self.seq is not None:
            return f"Reset {self.target} to stream sequence {self.seq} ({self.position})?"
        msg = self.message
        assert msg is not None, "a terminate plan names its message"
        times = "" if self.deliveries is None else f", delivered {_times(self.deliveries)}"
        return (
            f"Terminate {self.where} ({safe_text(msg.subject)}{times}) for "
            f"{safe_text('consumer ' + self.consumer)}?"
        )

    def preview(self) -> str:
        """Escaped lines: the message (stream#seq, subject, deliveries, size, time, payload)."""
        msg = self.message
        if msg is None:
            return f"{self.target}: {self.position}"
        times = "" if self.deliveries is None else f"delivered {_times(self.deliveries)}, "
        return (
            f"{self.target} is stuck on {self.where}:\n"
            f"  subject: {safe_text(msg.subject)}\n"
            f"  {times}{msg.size} bytes, stored {stamp(msg.timestamp)}\n" + payload_line(msg.head)
        )


async def _plan(nc: Client, stream: str, consumer: str, seq: int | None) -> JetStreamSkipPlan:
    info = await consumer_info(nc, stream, consumer)
    config = info.get("config") or {}
    plan = JetStreamSkipPlan(
        stream,
        consumer,
        pull=not config.get("deliver_subject"),
        ack_policy=str(config.get("ack_policy", "explicit")),
        ack_wait=int(config.get("ack_wait") or 30_000_000_000) / 1e9,
        position=ConsumerPosition.from_info(info),
        seq=seq,
    )
    if seq is not None:
        if seq < 1:
            raise UsageError("--seq must be a stream sequence of 1 or more")
        return plan
    if not plan.pull:
        raise UsageError(
            f"{plan.target} is a push consumer: evmon terminates messages of pull consumers "
            "only; move it with --seq N instead"
        )
    if plan.ack_policy == "none":
        raise UsageError(f"{plan.target} does not ack (ack policy none): nothing to skip")
    pos = plan.position
    if not pos.num_ack_pending:
        raise UsageError(
            f"{plan.target} is not stuck: no message awaits its ack ({pos}); nothing to skip "
            "(--seq N moves it anyway)"
        )
    filters = list(config.get("filter_subjects") or [])
    if config.get("filter_subject"):
        filters.append(str(config["filter_subject"]))
    msg = await read_stream_message(nc, stream, pos.ack_floor + 1, filters)
    if msg is None or msg.seq > pos.delivered:
        raise UsageError(
            f"{plan.target} is not stuck: nothing delivered after its ack floor "
            f"{pos.ack_floor} awaits its ack ({pos}); nothing to skip (--seq N moves it anyway)"
        )
    return replace(plan, message=msg)


async def inspect_jetstream_skip(
    ctx: ActionContext, stream: str, consumer: str, seq: int | None = None
) -> JetStreamSkipPlan:
    """Read-only: the consumer's state and the stored message it is stuck on (no fetch);
    UsageError when there is nothing to skip."""
    nc = await connect_nats(ctx.need_nats("skipping a JetStream message"))
    try:
        return await _plan(nc, stream, consumer, seq)
    finally:
        await nc.close()


class JetStreamSkip:
    """The stuck message of one consumer, found and held by evmon until ``terminate()`` or
    the end of the ``async with`` block (which hands it back for redelivery)."""

    def __init__(self, ctx: ActionContext, stream: str, consumer: str, wait: float) -> None:
        self.ctx = ctx
        self.stream = stream
        self.consumer = consumer
        self.wait = wait
        self.nc: Client | None = None
        self.held: HeldMessage | None = None
        self._plan: JetStreamSkipPlan | None = None
        self._audit: dict[str, Any] = {}

    @property
    def plan(self) -> JetStreamSkipPlan:
        assert self._plan is not None, "inside async with"
        return self._plan

    def question(self) -> str:
        return self.plan.question()

    def preview(self) -> str:
        return self.plan.preview()

    async def __aenter__(self) -> JetStreamSkip:
        ctx = self.ctx
        ctx.guard("skip")
        settings = ctx.need_nats("skipping a JetStream message")
        self.nc = await connect_nats(settings)
        try:
            await self._find()
        except BaseException:
            await self._close()
            raise
        return self

    async def _find(self) -> None:
        assert self.nc is not None
        plan = await _plan(self.nc, self.stream, self.consumer, None)
        msg = plan.message
        assert msg is not None
        self.ctx.check_audit()
        self._audit = {
            "action": "skip",
            "broker": self.ctx.need_nats("skipping a JetStream message").display,
            "target": plan.target,
            "events": [f"nats:{msg.subject}:{msg.seq}"],
        }
        try:
            found = await hunt(
                self.nc,
                self.stream,
                self.consumer,
                msg.seq,
                wait=self.wait,
                ack_wait=plan.ack_wait,
            )
        except (Exception, asyncio.CancelledError) as err:
            self.ctx.record(**self._audit, outcome="failed", detail=str(err))
            raise
        if found.held is None:
            why = await self._refusal(plan, found.reason, found.returned)
            self.ctx.record(**self._audit, outcome="failed", detail=why)
            raise UsageError(why)
        self.held = found.held
        self._plan = replace(plan, deliveries=found.held.deliveries, returned=found.returned)

    async def _refusal(self, plan: JetStreamSkipPlan, reason: str, returned: int) -> str:
        msg = plan.message
        assert msg is not None and self.nc is not None
        subject = safe_text(msg.subject)
        back = f"; {_returned(returned)}" if returned else ""
        if reason == "acked":
            floor = ""
            with contextlib.suppress(EvmonError):
                pos = await consumer_position(self.nc, self.stream, self.consumer)
                floor = f" (ack floor now {pos.ack_floor})"
            return (
                f"{plan.target} is not stuck: it acknowledged {plan.where} ({subject}) while "
                f"evmon waited{floor}; nothing was terminated{back}"
            )
        if reason == "limit":
            limit = f"after {returned} other messages"
        else:
            limit = f"within {self.wait:g} s"
        return (
            f"{plan.where} ({subject}) was not redelivered to evmon {limit}: the consumer's "
            f"clients hold it (ack wait {plan.ack_wait:g} s, or a nak delay); stop them and "
            f"try again, allow longer with --wait, or move past it with --seq {msg.seq + 1}; "
            f"nothing was terminated{back}"
        )

    async def terminate(self) -> SkipResult:
        """Terminate the held message (confirmed by the server) and report where the
        consumer is now."""
        held, plan, nc = self.held, self.plan, self.nc
        assert held is not None and nc is not None, "inside async with, once"
        self.held = None
        subject = safe_text(held.subject)
        try:
            await held.terminate()
            after = await consumer_position(nc, self.stream, self.consumer)
        except (Exception, asyncio.CancelledError) as err:
            self.ctx.record(**self._audit, outcome="failed", detail=str(err))
            raise
        skipped = (
            f"terminated stream sequence {held.seq} ({subject}, delivered "
            f"{_times(held.deliveries)})"
        )
        notes = [_returned(plan.returned)] if plan.returned else []
        if after.ack_floor < held.seq:
            notes.append(f"the ack floor is still {after.ack_floor}: another message waits")
        detail = f"terminated {self.stream}#{held.seq} ({held.subject}, {_times(held.deliveries)})"
        if plan.returned:
            detail += f"; {_returned(plan.returned)}"
        self.ctx.record(**self._audit, outcome="ok", detail=detail)
        return SkipResult(
            "jetstream", plan.target, skipped, held.seq, plan.position, after, tuple(notes)
        )

    async def __aexit__(self, *exc: object) -> None:
        held, self.held = self.held, None
        try:
            if held is not None:  # not confirmed: give it back to the consumer's clients
                ok = await held.hand_back()
                detail = f"not confirmed; {self.plan.where} handed back for redelivery"
                self.ctx.record(
                    **self._audit,
                    outcome="cancelled",
                    detail=detail if ok else detail + " (unconfirmed: back after the ack wait)",
                )
        finally:
            await self._close()

    async def _close(self) -> None:
        nc, self.nc = self.nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()


def open_jetstream_skip(
    ctx: ActionContext, stream: str, consumer: str, *, wait: float = DEFAULT_WAIT
) -> JetStreamSkip:
    """Find the message ``consumer`` is stuck on and hold it (see the module docstring);
    UsageError, with nothing terminated, when it is not stuck or the message does not come
    within ``wait`` seconds."""
    return JetStreamSkip(ctx, stream, consumer, wait)


async def skip_jetstream(
    ctx: ActionContext,
    stream: str,
    consumer: str,
    seq: int | None = None,
    *,
    wait: float = DEFAULT_WAIT,
) -> SkipResult:
    """Without confirmation: terminate the message the consumer is stuck on, or with ``seq``
    reset the consumer so its next message is the first at or after stream sequence ``seq``."""
    ctx.guard("skip")
    if seq is None:
        async with open_jetstream_skip(ctx, stream, consumer, wait=wait) as held:
            return await held.terminate()
    settings = ctx.need_nats("skipping a JetStream message")
    nc = await connect_nats(settings)
    try:
        plan = await _plan(nc, stream, consumer, seq)
        ctx.check_audit()
        audit: dict[str, Any] = {
            "action": "skip",
            "broker": settings.display,
            "target": plan.target,
            "events": [],
        }
        try:
            reset_to = await reset_consumer(nc, stream, consumer, seq)
            after = await consumer_position(nc, stream, consumer)
        except (Exception, asyncio.CancelledError) as err:
            cancelled = isinstance(err, asyncio.CancelledError)
            ctx.record(**audit, outcome="cancelled" if cancelled else "failed", detail=str(err))
            raise
        ctx.record(**audit, outcome="ok", detail=f"reset to {reset_to}")
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    skipped = f"reset to stream sequence {reset_to}"
    return SkipResult("jetstream", plan.target, skipped, reset_to, plan.position, after)
