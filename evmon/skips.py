"""Skip a poison message: move a Kafka group or a JetStream consumer past it.

Both come in two steps so a caller can confirm what it will do: ``inspect_*`` reads the
position and refuses what cannot be done (an active Kafka group, a push consumer...), and
``skip_*`` acts, re-checking, and returns the position before and after. Kafka commits N+1
for the group without joining it and only while it has no members; JetStream terminates the
next message of a pull consumer, or resets the consumer to a stream sequence (2.14+).
The I/O lives in ``evmon.sources.skip``; the public names are re-exported by
``evmon.actions``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Literal

from nats.aio.client import Client

from evmon.config import KafkaSettings
from evmon.errors import EvmonError, RuntimeFailure, UsageError
from evmon.safety import ActionContext
from evmon.sources.kafka_admin import kafka_lag_snapshot
from evmon.sources.nats import connect_nats
from evmon.sources.skip import (
    ConsumerPosition,
    GroupActiveError,
    KafkaGroupOffsets,
    consumer_info,
    consumer_position,
    reset_consumer,
    terminate_next,
)

__all__ = [
    "JetStreamSkipPlan",
    "KafkaPosition",
    "KafkaSkipPlan",
    "SkipResult",
    "inspect_jetstream_skip",
    "inspect_kafka_skip",
    "skip_jetstream",
    "skip_kafka",
]


@dataclass(frozen=True, slots=True)
class KafkaPosition:
    """A group's committed offset on one partition, with the partition's log bounds."""

    committed: int | None
    log_start: int
    log_end: int

    def __str__(self) -> str:
        where = "none" if self.committed is None else str(self.committed)
        return f"committed {where} (log {self.log_start}-{self.log_end})"


@dataclass(frozen=True, slots=True)
class KafkaSkipPlan:
    """What ``skip_kafka`` would do, for the confirmation."""

    group: str
    topic: str
    partition: int
    state: str
    members: int | None
    position: KafkaPosition
    offset: int  # the message skipped (N)

    @property
    def new_offset(self) -> int:
        return self.offset + 1

    @property
    def target(self) -> str:
        return f"group {self.group} on {self.topic}[{self.partition}]"

    @property
    def skipped_count(self) -> int:
        committed = self.position.committed
        return self.new_offset - (committed if committed is not None else self.offset)

    def question(self) -> str:
        extra = ""
        if self.skipped_count > 1:
            extra = f", skipping {self.skipped_count} messages"
        return (
            f"Commit offset {self.new_offset} for {self.target} (skips offset {self.offset}"
            f"{extra}; {self.position})?"
        )


@dataclass(frozen=True, slots=True)
class JetStreamSkipPlan:
    """A consumer's state before ``skip_jetstream``, for the confirmation."""

    stream: str
    consumer: str
    pull: bool
    ack_policy: str
    ack_wait: float
    position: ConsumerPosition
    seq: int | None = None

    @property
    def target(self) -> str:
        return f"consumer {self.consumer} on stream {self.stream}"

    def question(self) -> str:
        if self.seq is not None:
            return f"Reset {self.target} to stream sequence {self.seq} ({self.position})?"
        return f"Terminate the next message of {self.target} ({self.position})?"


@dataclass(frozen=True, slots=True)
class SkipResult:
    """Where a group or consumer was, what was skipped, and where it is now."""

    system: Literal["kafka", "jetstream"]
    target: str
    skipped: str
    #: The Kafka offset or JetStream stream sequence skipped; for a reset, the reset sequence.
    sequence: int | None
    before: KafkaPosition | ConsumerPosition
    after: KafkaPosition | ConsumerPosition

    def summary(self) -> str:
        return f"{self.target}: {self.skipped}\n  before: {self.before}\n  after:  {self.after}"


def _active_members(n: int | None, group: str) -> UsageError:
    if n is None:
        return UsageError(f"group {group} has active members; stop them first")
    noun, them = ("member", "it") if n == 1 else ("members", "them")
    return UsageError(f"group {group} has {n} active {noun}; stop {them} first")


async def _group_state(settings: KafkaSettings, group: str) -> tuple[str, int | None]:
    """State and member count (None: the broker cannot tell, e.g. KIP-848 on old brokers)."""

    rows = await kafka_lag_snapshot(settings, [group])
    if not rows:
        return "unknown", None
    return rows[0].state, rows[0].members


async def _kafka_plan(
    offsets: KafkaGroupOffsets, group: str, offset: int | None, state: str, members: int | None
) -> KafkaSkipPlan:
    committed = await offsets.committed()
    start, end = await offsets.bounds()
    tp = offsets.tp
    where = f"{tp.topic}[{tp.partition}]"
    n = offset if offset is not None else committed
    if n is None:
        raise UsageError(
            f"group {group} has no committed offset on {where}; give the offset to skip"
        )
    if n < start:
        raise UsageError(f"offset {n} is before the log start {start} of {where}")
    if n >= end:
        raise UsageError(f"offset {n} is not in {where} (log end {end}): nothing to skip")
    if committed is not None and n < committed:
        raise UsageError(
            f"group {group} is already past offset {n} on {where} (committed {committed})"
        )
    return KafkaSkipPlan(
        group, tp.topic, tp.partition, state, members, KafkaPosition(committed, start, end), n
    )


async def inspect_kafka_skip(
    ctx: ActionContext, group: str, topic: str, partition: int, offset: int | None = None
) -> KafkaSkipPlan:
    """Read-only look at what ``skip_kafka`` would commit; refuses an active group."""
    settings = ctx.need_kafka("skipping a Kafka message")
    state, members = await _group_state(settings, group)
    if members:
        raise _active_members(members, group)
    async with KafkaGroupOffsets(settings, group, topic, partition) as offsets:
        return await _kafka_plan(offsets, group, offset, state, members)


async def skip_kafka(
    ctx: ActionContext, group: str, topic: str, partition: int, offset: int | None = None
) -> SkipResult:
    """Commit N+1 for ``group`` (N: ``offset``, default the committed offset).

    Refused while the group has members (checked first, and again by the broker).
    """
    ctx.guard("skip")
    settings = ctx.need_kafka("skipping a Kafka message")
    state, members = await _group_state(settings, group)
    if members:
        raise _active_members(members, group)
    ctx.check_audit()
    async with KafkaGroupOffsets(settings, group, topic, partition) as offsets:
        plan = await _kafka_plan(offsets, group, offset, state, members)
        ident = f"kafka:{topic}:{partition}:{plan.offset}"
        audit = {
            "action": "skip",
            "broker": settings.display,
            "target": plan.target,
            "events": [ident],
        }
        try:
            await offsets.commit(plan.new_offset, f"evmon skip {ident}")
            committed = await offsets.committed()
        except GroupActiveError:
            ctx.record(**audit, outcome="failed", detail="the group has active members")
            with contextlib.suppress(EvmonError):
                _, members = await _group_state(settings, group)
            raise _active_members(members or None, group) from None
        except EvmonError as err:
            ctx.record(**audit, outcome="failed", detail=str(err))
            raise
        if committed != plan.new_offset:
            detail = f"committed {committed} after committing {plan.new_offset}"
            ctx.record(**audit, outcome="failed", detail=detail)
            raise RuntimeFailure(f"{plan.target}: {detail} (another client committed?)")
        ctx.record(**audit, outcome="ok", detail=f"committed {plan.new_offset}")
    after = KafkaPosition(committed, plan.position.log_start, plan.position.log_end)
    skipped = f"skipped offset {plan.offset}"
    if plan.skipped_count > 1:
        skipped += f" ({plan.skipped_count} messages from offset {plan.position.committed})"
    return SkipResult("kafka", plan.target, skipped, plan.offset, plan.position, after)


async def _jetstream_plan(
    nc: Client, stream: str, consumer: str, seq: int | None
) -> JetStreamSkipPlan:

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
    return plan


async def inspect_jetstream_skip(
    ctx: ActionContext, stream: str, consumer: str, seq: int | None = None
) -> JetStreamSkipPlan:
    """Read-only look at the consumer ``skip_jetstream`` would move."""

    nc = await connect_nats(ctx.need_nats("skipping a JetStream message"))
    try:
        return await _jetstream_plan(nc, stream, consumer, seq)
    finally:
        await nc.close()


async def skip_jetstream(
    ctx: ActionContext, stream: str, consumer: str, seq: int | None = None, *, wait: float = 5.0
) -> SkipResult:
    """Terminate the consumer's next message (pull consumers), or with ``seq`` reset the
    consumer so its next message is the first at or after stream sequence ``seq``."""
    ctx.guard("skip")
    settings = ctx.need_nats("skipping a JetStream message")

    nc = await connect_nats(settings)
    try:
        plan = await _jetstream_plan(nc, stream, consumer, seq)
        ctx.check_audit()
        audit: dict[str, Any] = {
            "action": "skip",
            "broker": settings.display,
            "target": plan.target,
            "events": [],
        }
        try:
            if seq is not None:
                reset_to = await reset_consumer(nc, stream, consumer, seq)
                sequence, skipped = reset_to, f"reset to stream sequence {reset_to}"
                detail = f"reset to {reset_to}"
            else:
                try:
                    msg = await terminate_next(nc, stream, consumer, wait)
                except UsageError as err:
                    pos = plan.position
                    if pos.num_ack_pending:
                        raise UsageError(
                            f"{err}: {pos.num_ack_pending} awaiting ack elsewhere come back "
                            f"after the ack wait ({plan.ack_wait:g} s); stop the consumer's "
                            "clients and try again"
                        ) from None
                    raise UsageError(f"{err}: {plan.target} has nothing pending") from None
                audit["events"] = [f"nats:{msg.subject}:{msg.stream_seq}"]
                sequence = msg.stream_seq
                times = "once" if msg.deliveries == 1 else f"{msg.deliveries} times"
                skipped = (
                    f"terminated stream sequence {msg.stream_seq} "
                    f"({msg.subject}, delivered {times})"
                )
                detail = f"terminated {msg.stream_seq}"
            after = await consumer_position(nc, stream, consumer)
        except (Exception, asyncio.CancelledError) as err:
            cancelled = isinstance(err, asyncio.CancelledError)
            ctx.record(**audit, outcome="cancelled" if cancelled else "failed", detail=str(err))
            raise
        ctx.record(**audit, outcome="ok", detail=detail)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return SkipResult("jetstream", plan.target, skipped, sequence, plan.position, after)
