"""Move a whole Kafka consumer group: to a time, the log start or the log end.

    target = parse_move_target("2026-05-01T12:00:00Z")     # or "earliest", "latest", "-15m"
    plan = await inspect_group_move(ctx, "billing", target)  # refuses an active group
    print(plan.preview()); ask plan.question()
    result = await move_group(ctx, plan)                    # one commit, re-checked
    print(result.summary())                                 # before and after per partition

The same safety as a skip (``kafka_skip``): the group must have no members (checked first,
and again by the broker, which refuses a commit of generation -1 while members are there),
each partition's position is shown before the question and before/after in the result,
``ctx.guard("skip")`` refuses read-only mode, and the outcome is audited. It commits exactly
the offsets shown: ``move_group`` takes the plan, not the target, so a partition that moved
meanwhile is not silently moved further. The partitions are those the group committed on
(with every other partition of those topics, as ``evmon lag`` shows them), or every
partition of ``topics`` when given. A time moves each partition to its first offset stamped
at or after it (``offsets_for_times``; ``kafka-consumer-groups --to-datetime`` does the
same), the log end when no record is that recent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from aiokafka import TopicPartition

from evmon.actions.context import ActionContext
from evmon.actions.skip_report import KafkaPosition, stamp
from evmon.codec import safe_text
from evmon.errors import EvmonError, RuntimeFailure, UsageError
from evmon.selection import parse_time
from evmon.sources.kafka.group_lag import kafka_lag_snapshot
from evmon.sources.kafka.group_offsets import (
    GroupActiveError,
    KafkaGroupPositions,
    topic_partitions,
)

__all__ = [
    "GroupMovePlan",
    "GroupMoveResult",
    "MoveTarget",
    "inspect_group_move",
    "move_group",
    "parse_move_target",
]


@dataclass(frozen=True, slots=True)
class MoveTarget:
    """Where to move a group: ``earliest`` (log start), ``latest`` (log end) or a time."""

    kind: Literal["earliest", "latest", "time"]
    time: float = 0.0

    def describe(self) -> str:
        if self.kind == "time":
            return f"the first offset at or after {stamp(self.time)}"
        return "the log start" if self.kind == "earliest" else "the log end"

    @property
    def label(self) -> str:
        return stamp(self.time) if self.kind == "time" else self.kind


def parse_move_target(value: str, now: float | None = None) -> MoveTarget:
    """``--to-time``: earliest, latest, an RFC 3339 time or a relative one (``-15m``)."""
    v = value.strip()
    if v in ("earliest", "latest"):
        return MoveTarget(v)  # type: ignore[arg-type]
    try:
        return MoveTarget("time", parse_time(v, "--to-time", "earliest, latest", now))
    except ValueError as err:
        raise UsageError(str(err)) from None


@dataclass(frozen=True, slots=True)
class PartitionMove:
    """One partition of the move: where the group is, and where it goes."""

    tp: TopicPartition
    before: KafkaPosition
    new_offset: int

    @property
    def where(self) -> str:
        return safe_text(f"{self.tp.topic}[{self.tp.partition}]")

    @property
    def change(self) -> str:
        old = self.before.committed
        if old == self.new_offset:
            return "unchanged"
        if old is None:
            return "first commit"
        n = self.new_offset - old
        return f"{'forward' if n > 0 else 'back'} {abs(n)}"


@dataclass(frozen=True, slots=True)
class GroupMovePlan:
    """What ``move_group`` will commit, for the confirmation."""

    group: str
    target: MoveTarget
    state: str
    moves: tuple[PartitionMove, ...]

    @property
    def name(self) -> str:
        return safe_text(f"group {self.group}")

    def preview(self) -> str:
        """Escaped lines: each partition's committed offset, its log, and the new offset."""
        head = f"{self.name} ({self.state}, no members) to {self.target.describe()}:"
        lines = [head]
        for m in self.moves:
            old = "none" if m.before.committed is None else str(m.before.committed)
            log = f"log {m.before.log_start}-{m.before.log_end}"
            lines.append(f"  {m.where}: committed {old} -> {m.new_offset} ({log}; {m.change})")
        return "\n".join(lines)

    def question(self) -> str:
        n = len(self.moves)
        return f"Commit these {n} offset{'' if n == 1 else 's'} for {self.name}?"


@dataclass(frozen=True, slots=True)
class GroupMoveResult:
    """Where the group was and where it is now, per partition."""

    group: str
    target: MoveTarget
    before: tuple[tuple[str, KafkaPosition], ...]
    after: tuple[tuple[str, KafkaPosition], ...]

    def summary(self) -> str:
        lines = [f"group {self.group}: moved {len(self.after)} partitions to {self.target.label}"]
        for (where, old), (_, new) in zip(self.before, self.after, strict=True):
            lines.append(f"  {where}  before: {old}  after: {new}")
        return "\n".join(safe_text(line) for line in lines)


def _active(n: int | None, group: str) -> UsageError:
    if n is None:
        return UsageError(f"group {group} has active members; stop them first")
    noun, them = ("member", "it") if n == 1 else ("members", "them")
    return UsageError(f"group {group} has {n} active {noun}; stop {them} first")


async def _partitions(
    ctx: ActionContext, group: str, topics: tuple[str, ...]
) -> tuple[str, list[TopicPartition]]:
    """The group's state and the partitions to move; refuses a group with members."""
    settings = ctx.need_kafka("moving a Kafka group")
    rows = await kafka_lag_snapshot(settings, [group])
    state = rows[0].state if rows else "unknown"
    members = rows[0].members if rows else 0
    if members:  # None (the broker cannot tell) is left to the broker's refusal of the commit
        raise _active(members, group)
    if not topics:
        tps = [TopicPartition(r.topic, r.partition) for r in rows if r.topic is not None]
        if not tps:
            raise UsageError(
                safe_text(f"group {group} has no committed offsets: name the topics with --topic")
            )
        return state, tps
    return state, await topic_partitions(settings, topics)


async def inspect_group_move(
    ctx: ActionContext, group: str, target: MoveTarget, topics: tuple[str, ...] = ()
) -> GroupMovePlan:
    """Read-only: each partition's position and where ``target`` puts it."""
    state, tps = await _partitions(ctx, group, topics)
    settings = ctx.need_kafka("moving a Kafka group")
    async with KafkaGroupPositions(settings, group, tps) as pos:
        committed = await pos.committed()
        bounds = await pos.bounds()
        hits: dict[TopicPartition, int | None] = {}
        if target.kind == "time":
            hits = await pos.offsets_at(int(target.time * 1000))
    moves = []
    for tp in sorted(tps):
        start, end = bounds[tp]
        if target.kind == "earliest":
            new = start
        elif target.kind == "latest":
            new = end
        else:
            hit = hits.get(tp)
            new = end if hit is None else hit
        moves.append(PartitionMove(tp, KafkaPosition(committed[tp], start, end), new))
    return GroupMovePlan(group, target, state, tuple(moves))


async def move_group(ctx: ActionContext, plan: GroupMovePlan) -> GroupMoveResult:
    """Commit the plan's offsets in one request; refused while the group has members.

    A partition whose committed offset changed since the plan was read is refused (nothing
    committed): the operator confirmed the positions shown, not whatever is there now.
    """
    ctx.guard("skip")
    settings = ctx.need_kafka("moving a Kafka group")
    group = plan.group
    rows = await kafka_lag_snapshot(settings, [group])
    members = rows[0].members if rows else 0
    if members:
        raise _active(members, group)
    ctx.check_audit()
    tps = [m.tp for m in plan.moves]
    audit = {
        "action": "skip",
        "broker": settings.display,
        "target": plan.name,
        "events": [
            f"kafka:{m.tp.topic}:{m.tp.partition}:{m.before.committed}->{m.new_offset}"
            for m in plan.moves
        ],
        "extra": {"move_to": plan.target.label, "partitions": len(plan.moves)},
    }
    wanted = {m.tp: m.new_offset for m in plan.moves}
    async with KafkaGroupPositions(settings, group, tps) as pos:
        now = await pos.committed()
        moved = [m.where for m in plan.moves if now[m.tp] != m.before.committed]
        if moved:
            detail = f"committed offsets changed since they were shown: {', '.join(moved)}"
            ctx.record(**audit, outcome="failed", detail=detail)
            raise RuntimeFailure(f"{plan.name}: {detail}; nothing was committed")
        try:
            await pos.commit(
                wanted, f"evmon skip --to-time {plan.target.label} at {time.time():.0f}"
            )
            after = await pos.committed()
            bounds = await pos.bounds()
        except GroupActiveError:
            ctx.record(**audit, outcome="failed", detail="the group has active members")
            raise _active(None, group) from None
        except EvmonError as err:
            ctx.record(**audit, outcome="failed", detail=str(err))
            raise
    wrong = [m.where for m in plan.moves if after[m.tp] != m.new_offset]
    if wrong:
        detail = f"committed offsets differ from those sent on {', '.join(wrong)}"
        ctx.record(**audit, outcome="failed", detail=detail)
        raise RuntimeFailure(f"{plan.name}: {detail} (another client committed?)")
    ctx.record(**audit, outcome="ok", detail=f"moved {len(tps)} partitions")
    return GroupMoveResult(
        group,
        plan.target,
        tuple((m.where, m.before) for m in plan.moves),
        tuple((m.where, KafkaPosition(after[m.tp], *bounds[m.tp])) for m in plan.moves),
    )
