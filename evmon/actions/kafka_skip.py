"""Skip a poison message in Kafka: move a consumer group past it.

Kafka comes in two steps so a caller can confirm what it will do: ``inspect_kafka_skip``
reads the position and the record at the committed offset (the preview) and refuses an
active group; ``skip_kafka`` commits N+1, re-checking, and returns the position before and
after. It commits for the group without joining it and only while it has no members.
JetStream (``jetstream_skip``) terminates exactly the message a pull consumer is stuck on,
or resets the consumer to a stream sequence (2.14+). Every text here that quotes broker data
(subjects, names, keys, payloads) is escaped with ``codec.safe_text``, so callers can print
it. The I/O lives in ``evmon.sources.kafka.group_offsets`` and
``evmon.sources.nats.consumer_skip``; the public names are re-exported by ``evmon.actions``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from evmon.actions.context import ActionContext
from evmon.actions.skip_report import KafkaPosition, SkipResult, payload_line, stamp
from evmon.codec import safe_text
from evmon.config import KafkaSettings
from evmon.errors import EvmonError, RuntimeFailure, UsageError
from evmon.sources.kafka.group_lag import kafka_lag_snapshot
from evmon.sources.kafka.group_offsets import (
    GroupActiveError,
    KafkaGroupOffsets,
    KafkaRecord,
)

__all__ = ["KafkaSkipPlan", "inspect_kafka_skip", "skip_kafka"]


def _key(key: bytes | None) -> str:
    """A Kafka key as an escaped, quoted text (``0x`` hex when not UTF-8), at most 64 chars."""
    if key is None:
        return "none"
    try:
        text = key.decode()
    except UnicodeDecodeError:
        return "0x" + key[:32].hex() + ("…" if len(key) > 32 else "")
    return safe_text(repr(text[:64] + ("…" if len(text) > 64 else "")))


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
    record: KafkaRecord | None = None  # the record at N, for the preview

    def preview(self) -> str:
        """Escaped lines: the record at N (key, size, timestamp, payload preview)."""
        if self.offset == self.position.committed:
            head = f"{self.target} is stuck on offset {self.offset}:"
        else:
            head = f"{self.target}: the record at offset {self.offset}:"
        rec = self.record
        if rec is None:
            return f"{head}\n  no record at this offset (a transaction marker, or compacted)"
        extra = f", {rec.headers} header{'' if rec.headers == 1 else 's'}" if rec.headers else ""
        size = "tombstone" if rec.head is None else f"{rec.size} bytes"
        return (
            f"{head}\n  key: {_key(rec.key)}\n"
            f"  {size}, timestamp {stamp(rec.timestamp)}{extra}\n{payload_line(rec.head)}"
        )

    @property
    def new_offset(self) -> int:
        return self.offset + 1

    @property
    def target(self) -> str:
        return safe_text(f"group {self.group} on {self.topic}[{self.partition}]")

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
    record = await offsets.record_at(n)
    return KafkaSkipPlan(
        group,
        tp.topic,
        tp.partition,
        state,
        members,
        KafkaPosition(committed, start, end),
        n,
        record,
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
