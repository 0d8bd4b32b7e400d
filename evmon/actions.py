"""Operator actions: re-publish (replay), skip, export — safe by default.

Shared by ``evmon replay`` / ``evmon skip`` and the dashboard's r / s / x modals. Every
action is an async function taking an ``ActionContext`` (connection settings, read-only flag,
audit log), returning a result object with a ``summary()`` line, and raising ``EvmonError``
subclasses whose message is one line fit for stderr or a modal:

- ``ReadOnlyError`` (a UsageError) from every mutating action when ``read_only`` is set,
  before anything connects. Export is allowed in read-only mode: it changes no broker, it
  writes a local file from events already shown. ``ActionContext.disabled_reason`` says
  which keys to grey out and why.
- ``ReplayError`` (a RuntimeFailure) when a publish is not acknowledged: it names the event
  and the reason and how many were acknowledged before it; the rest were not sent.

Actions that mutate a broker append one line to the audit log once they have an outcome
(``ok``, ``failed``, ``cancelled``); export is recorded too, since it copies data out of the
cluster. A refusal in read-only mode or before any connection is not recorded: nothing was
attempted. The audit log is checked for writability before anything is sent, so an action
never happens unrecorded for want of a writable file. No secrets are written: brokers appear
as their display form (URLs without user info), events as identities, never payloads.

Connections are opened per action and closed after it: actions are rare and must not share
state with the live view's sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from evmon.codec import RecordError, encode_record, format_timestamp
from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import EvmonError, RuntimeFailure, UsageError
from evmon.model import Event, Headers

__all__ = [
    "PROVENANCE_HEADER",
    "ActionContext",
    "AuditLog",
    "ExportResult",
    "JetStreamSkipPlan",
    "KafkaPosition",
    "KafkaSkipPlan",
    "PlannedPublish",
    "ReadOnlyError",
    "ReplayError",
    "ReplayResult",
    "SkipResult",
    "default_audit_path",
    "default_export_path",
    "export",
    "identity",
    "inspect_jetstream_skip",
    "inspect_kafka_skip",
    "plan_event",
    "plan_replay",
    "replay",
    "skip_jetstream",
    "skip_kafka",
]

PROVENANCE_HEADER = "evmon-replayed-from"

Action = Literal["replay", "skip", "export"]
_ACTION_NAMES: dict[Action, str] = {"replay": "re-publish", "skip": "skip", "export": "export"}


def identity(ev: Event) -> str:
    """``<source>:<subject>[:<partition>]:<offset>`` (no offset for core NATS messages)."""
    parts = [ev.source, ev.subject]
    if ev.partition is not None:
        parts.append(str(ev.partition))
    if ev.offset is not None:
        parts.append(str(ev.offset))
    return ":".join(parts)


class ReadOnlyError(UsageError):
    """A mutating action was asked for in read-only mode."""


# --------------------------------------------------------------------------- audit log


def default_audit_path() -> Path:
    """``$XDG_STATE_HOME/evmon/audit.jsonl``, else ``~/.local/state/evmon/audit.jsonl``."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "evmon" / "audit.jsonl"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry and no LOGNAME (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


class AuditLog:
    """Append-only JSONL audit trail, one line per action, written with one ``write``.

    ``O_APPEND`` makes concurrent evmon processes interleave whole lines, never bytes.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_audit_path()

    def check(self) -> None:
        """Make sure a line can be appended; UsageError naming the file otherwise."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as err:
            raise UsageError(
                f"cannot write the audit log {self.path}: {err.strerror or err}"
            ) from None

    def record(
        self,
        *,
        action: str,
        broker: str,
        target: str,
        events: Sequence[str],
        outcome: Literal["ok", "failed", "cancelled"],
        detail: str = "",
    ) -> dict[str, Any]:
        """Append one entry and return it. RuntimeFailure if the file cannot be written."""
        entry: dict[str, Any] = {
            "time": format_timestamp(time.time()),
            "user": _user(),
            "host": socket.gethostname(),
            "action": action,
            "broker": broker,
            "target": target,
            "events": list(events),
            "outcome": outcome,
            "detail": detail,
        }
        line = orjson.dumps(entry) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as err:
            raise RuntimeFailure(
                f"{action} {outcome}, but the audit log {self.path} could not be written: "
                f"{err.strerror or err}"
            ) from None
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry so far (for tests and an audit view); [] when there is no file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]


# --------------------------------------------------------------------------- context


@dataclass(slots=True)
class ActionContext:
    """What every action needs besides its arguments. ``audit=None`` records nothing."""

    nats: NatsSettings | None = None
    kafka: KafkaSettings | None = None
    read_only: bool = False
    audit: AuditLog | None = field(default_factory=AuditLog)

    def disabled_reason(self, action: Action) -> str | None:
        """Why ``action`` is unavailable (for greyed-out keys and palette entries), or None."""
        if self.read_only and action != "export":
            return f"read-only mode: {_ACTION_NAMES[action]} is disabled"
        return None

    def guard(self, action: Action) -> None:
        reason = self.disabled_reason(action)
        if reason is not None:
            raise ReadOnlyError(reason)

    def need_nats(self, why: str) -> NatsSettings:
        if self.nats is None:
            raise UsageError(f"{why} needs a NATS connection: give --nats URL")
        return self.nats

    def need_kafka(self, why: str) -> KafkaSettings:
        if self.kafka is None:
            raise UsageError(f"{why} needs a Kafka connection: give --kafka HOST:PORT")
        return self.kafka

    def _check_audit(self) -> None:
        if self.audit is not None:
            self.audit.check()

    def _record(self, **entry: Any) -> None:
        if self.audit is not None:
            self.audit.record(**entry)


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class PlannedPublish:
    """One event as it will be sent: the exact bytes, and where to."""

    event: Event
    identity: str
    target: str
    headers: Headers
    #: Kafka only: the original partition, used when the target is the same topic and has it.
    partition: int | None = None

    @property
    def source(self) -> str:
        return self.event.source

    def describe(self) -> str:
        """The dry-run line: ``identity -> source:target[ partition], size, headers``."""
        where = f"{self.source}:{self.target}"
        if self.source == "kafka":
            where += f" (partition {self.partition})" if self.partition is not None else " (by key)"
        payload = "tombstone" if self.event.payload is None else f"{self.event.size} B"
        n = len(self.headers)
        return f"{self.identity} -> {where}, {payload}, {n} header{'' if n == 1 else 's'}"


_KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def plan_event(ev: Event, target: str | None = None, provenance: bool = True) -> PlannedPublish:
    """Validate one event for re-publishing; UsageError saying what cannot be sent, and why."""
    from evmon.sources.publish import check_nats_headers, check_nats_subject

    ident = identity(ev)
    dest = target or ev.subject
    headers = ev.headers
    if provenance:
        headers = (*headers, (PROVENANCE_HEADER, ident.encode()))
    try:
        if ev.source == "nats":
            if ev.payload is None:
                raise UsageError("a NATS message has a payload (data is null)")
            if ev.key is not None:
                raise UsageError("NATS messages have no key")
            check_nats_subject(dest)
            check_nats_headers(headers)
            return PlannedPublish(ev, ident, dest, headers)
        if _KAFKA_TOPIC.fullmatch(dest) is None or dest in (".", ".."):
            raise UsageError(f"{dest!r} is not a valid Kafka topic name")
        partition = ev.partition if dest == ev.subject else None
        return PlannedPublish(ev, ident, dest, headers, partition)
    except UsageError as err:
        raise UsageError(f"{ident}: {err}") from None


def plan_replay(
    events: Iterable[Event], target: str | None = None, provenance: bool = True
) -> list[PlannedPublish]:
    """Every event validated before anything is sent (``--dry-run`` prints this)."""
    return [plan_event(ev, target, provenance) for ev in events]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """Every event was acknowledged: ``acks[i]`` is where ``plan[i]`` went."""

    count: int
    targets: tuple[str, ...]
    acks: tuple[Any, ...] = ()  # PublishAck (evmon.sources.publish), imported lazily

    def summary(self) -> str:
        noun = "event" if self.count == 1 else "events"
        where = ", ".join(self.targets) or "nowhere"
        return f"re-published {self.count} {noun} to {where} (all acknowledged)"


class ReplayError(RuntimeFailure):
    """A publish was not acknowledged. ``acknowledged`` events before it were; none after."""

    def __init__(self, failed: str, target: str, reason: str, acknowledged: int, total: int):
        self.failed = failed
        self.target = target
        self.reason = reason
        self.acknowledged = acknowledged
        self.total = total
        super().__init__(
            f"re-publish of {failed} to {target} failed: {reason}; {acknowledged} of {total} "
            "events were acknowledged before it, the rest were not sent"
        )


def _targets(plan: Sequence[PlannedPublish]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.target for p in plan))


def _brokers(ctx: ActionContext, plan: Sequence[PlannedPublish]) -> str:
    out = []
    if ctx.nats is not None and any(p.source == "nats" for p in plan):
        out.append(ctx.nats.display)
    if ctx.kafka is not None and any(p.source == "kafka" for p in plan):
        out.append(ctx.kafka.display)
    return ",".join(out)


async def replay(
    ctx: ActionContext,
    events: Iterable[Event] | Sequence[PlannedPublish],
    *,
    target: str | None = None,
    provenance: bool = True,
    rate: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Re-publish events, one acknowledged publish after another, in order.

    ``events`` may be Events (planned here with ``target``/``provenance``) or an already
    made plan (the dashboard's edited copy). Each event goes to the broker it came from.
    ``rate`` caps events per second. ``on_progress(done, total)`` follows acknowledgements.
    """
    ctx.guard("replay")
    items: list[Event | PlannedPublish] = list(events)
    plan = [
        p if isinstance(p, PlannedPublish) else plan_event(p, target, provenance) for p in items
    ]
    if rate is not None and rate <= 0:
        raise UsageError("the rate must be a positive number of events per second")
    has_nats = any(p.source == "nats" for p in plan)
    has_kafka = any(p.source == "kafka" for p in plan)
    nats = ctx.need_nats("re-publishing NATS events") if has_nats else None
    kafka = ctx.need_kafka("re-publishing Kafka events") if has_kafka else None
    targets = _targets(plan)
    if not plan:
        return ReplayResult(0, targets)
    ctx._check_audit()

    from evmon.sources.publish import KafkaPublisher, NatsPublisher, PublishAck, PublishError

    total = len(plan)
    acks: list[PublishAck] = []
    audit = {
        "action": "replay",
        "broker": _brokers(ctx, plan),
        "target": ",".join(targets),
        "events": [p.identity for p in plan],
    }
    npub = NatsPublisher(nats) if nats is not None else None
    kpub = KafkaPublisher(kafka) if kafka is not None else None
    try:
        if npub is not None:
            await npub.start()
        if kpub is not None:
            await kpub.start()
            for topic in dict.fromkeys(p.target for p in plan if p.source == "kafka"):
                await kpub.partitions(topic)  # an unknown topic stops us before any send
    except BaseException:
        for pub in (npub, kpub):
            if pub is not None:
                await pub.close()
        raise
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i, p in enumerate(plan):
            if rate is not None and i:
                delay = started + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            ev = p.event
            try:
                if p.source == "nats":
                    assert npub is not None and ev.payload is not None
                    ack = await npub.publish(p.target, ev.payload, p.headers)
                else:
                    assert kpub is not None
                    ack = await kpub.publish(p.target, ev.payload, ev.key, p.headers, p.partition)
            except (PublishError, UsageError) as err:
                raise ReplayError(p.identity, p.target, str(err), len(acks), total) from None
            acks.append(ack)
            if on_progress is not None:
                on_progress(len(acks), total)
    except ReplayError as err:
        ctx._record(**audit, outcome="failed", detail=f"{err.acknowledged} of {total}: {err}")
        raise
    except (Exception, asyncio.CancelledError) as err:
        outcome: Literal["failed", "cancelled"] = (
            "cancelled" if isinstance(err, asyncio.CancelledError) else "failed"
        )
        ctx._record(**audit, outcome=outcome, detail=f"{len(acks)} of {total} acknowledged")
        raise
    finally:
        for pub in (npub, kpub):
            if pub is not None:
                await pub.close()
    ctx._record(**audit, outcome="ok", detail=f"{total} of {total} acknowledged")
    return ReplayResult(total, targets, tuple(acks))


# --------------------------------------------------------------------------- skip


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
    position: Any  # evmon.sources.skip.ConsumerPosition
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
    before: Any  # KafkaPosition | evmon.sources.skip.ConsumerPosition
    after: Any

    def summary(self) -> str:
        return f"{self.target}: {self.skipped}\n  before: {self.before}\n  after:  {self.after}"


def _active_members(n: int | None, group: str) -> UsageError:
    if n is None:
        return UsageError(f"group {group} has active members; stop them first")
    noun, them = ("member", "it") if n == 1 else ("members", "them")
    return UsageError(f"group {group} has {n} active {noun}; stop {them} first")


async def _group_state(settings: KafkaSettings, group: str) -> tuple[str, int | None]:
    """State and member count (None: the broker cannot tell, e.g. KIP-848 on old brokers)."""
    from evmon.sources.kafka_admin import kafka_lag_snapshot

    rows = await kafka_lag_snapshot(settings, [group])
    if not rows:
        return "unknown", None
    return rows[0].state, rows[0].members


async def _kafka_plan(
    offsets: Any, group: str, offset: int | None, state: str, members: int | None
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
    from evmon.sources.skip import KafkaGroupOffsets

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
    from evmon.sources.skip import GroupActiveError, KafkaGroupOffsets

    state, members = await _group_state(settings, group)
    if members:
        raise _active_members(members, group)
    ctx._check_audit()
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
            ctx._record(**audit, outcome="failed", detail="the group has active members")
            with contextlib.suppress(EvmonError):
                _, members = await _group_state(settings, group)
            raise _active_members(members or None, group) from None
        except EvmonError as err:
            ctx._record(**audit, outcome="failed", detail=str(err))
            raise
        if committed != plan.new_offset:
            detail = f"committed {committed} after committing {plan.new_offset}"
            ctx._record(**audit, outcome="failed", detail=detail)
            raise RuntimeFailure(f"{plan.target}: {detail} (another client committed?)")
        ctx._record(**audit, outcome="ok", detail=f"committed {plan.new_offset}")
    after = KafkaPosition(committed, plan.position.log_start, plan.position.log_end)
    skipped = f"skipped offset {plan.offset}"
    if plan.skipped_count > 1:
        skipped += f" ({plan.skipped_count} messages from offset {plan.position.committed})"
    return SkipResult("kafka", plan.target, skipped, plan.offset, plan.position, after)


async def _jetstream_plan(
    nc: Any, stream: str, consumer: str, seq: int | None
) -> JetStreamSkipPlan:
    from evmon.sources.skip import ConsumerPosition, consumer_info

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
    from evmon.sources.nats import connect_nats

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
    from evmon.sources.nats import connect_nats
    from evmon.sources.skip import consumer_position, reset_consumer, terminate_next

    nc = await connect_nats(settings)
    try:
        plan = await _jetstream_plan(nc, stream, consumer, seq)
        ctx._check_audit()
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
            ctx._record(**audit, outcome="cancelled" if cancelled else "failed", detail=str(err))
            raise
        ctx._record(**audit, outcome="ok", detail=detail)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return SkipResult("jetstream", plan.target, skipped, sequence, plan.position, after)


# --------------------------------------------------------------------------- export


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    count: int

    def summary(self) -> str:
        noun = "event" if self.count == 1 else "events"
        return f"exported {self.count} {noun} to {self.path}"


def default_export_path(directory: str | Path | None = None, now: float | None = None) -> Path:
    """``evmon-export-YYYYmmdd-HHMMSS.jsonl`` (local time) in ``directory`` (default cwd),
    with ``-2``, ``-3``... when that name is taken."""
    base = Path(directory) if directory is not None else Path.cwd()
    stamp = datetime.fromtimestamp(time.time() if now is None else now).strftime("%Y%m%d-%H%M%S")
    path = base / f"evmon-export-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = base / f"evmon-export-{stamp}-{n}.jsonl"
    return path


def _write_export(events: list[Event], path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists; choose another file name")
    lines = []
    for ev in events:
        try:
            lines.append(encode_record(ev))
        except RecordError as err:
            raise UsageError(f"{identity(ev)}: cannot export: {err}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(b"".join(line + b"\n" for line in lines))
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None


async def export(
    ctx: ActionContext,
    events: Iterable[Event],
    path: str | Path | None = None,
    *,
    overwrite: bool = False,
) -> ExportResult:
    """Write events as JSONL records (``evmon replay`` reads the file unchanged).

    The file appears complete or not at all (written aside, then renamed). Allowed in
    read-only mode; recorded in the audit log.
    """
    ctx.guard("export")
    items = list(events)
    dest = Path(path) if path is not None else default_export_path()
    ctx._check_audit()
    await asyncio.to_thread(_write_export, items, dest, overwrite)
    ctx._record(
        action="export",
        broker="",
        target=str(dest.resolve()),
        events=[identity(ev) for ev in items],
        outcome="ok",
        detail=f"{len(items)} events",
    )
    return ExportResult(dest, len(items))
