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
never happens unrecorded for want of a writable file (see ``evmon.safety``).

Connections are opened per action and closed after it: actions are rare and must not share
state with the live view's sources. This module holds re-publish and export and is the one
import for callers; skip lives in ``evmon.skips``, the guard and the log in ``evmon.safety``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from evmon.codec import RecordError, encode_record
from evmon.errors import RuntimeFailure, UsageError
from evmon.model import Event, Headers
from evmon.safety import Action, ActionContext, AuditLog, ReadOnlyError, default_audit_path
from evmon.skips import (
    JetStreamSkipPlan,
    KafkaPosition,
    KafkaSkipPlan,
    SkipResult,
    inspect_jetstream_skip,
    inspect_kafka_skip,
    skip_jetstream,
    skip_kafka,
)
from evmon.sources.publish import (
    KafkaPublisher,
    NatsPublisher,
    PublishAck,
    PublishError,
    check_nats_headers,
    check_nats_subject,
)
from evmon.sources.skip import ConsumerPosition

__all__ = [
    "PROVENANCE_HEADER",
    "Action",
    "ActionContext",
    "AuditLog",
    "ConsumerPosition",
    "ExportResult",
    "JetStreamSkipPlan",
    "KafkaPosition",
    "KafkaSkipPlan",
    "PlannedPublish",
    "PublishAck",
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


def identity(ev: Event) -> str:
    """``<source>:<subject>[:<partition>]:<offset>`` (no offset for core NATS messages)."""
    parts = [ev.source, ev.subject]
    if ev.partition is not None:
        parts.append(str(ev.partition))
    if ev.offset is not None:
        parts.append(str(ev.offset))
    return ":".join(parts)


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
    acks: tuple[PublishAck, ...] = ()

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
    ctx.check_audit()

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
        ctx.record(**audit, outcome="failed", detail=f"{err.acknowledged} of {total}: {err}")
        raise
    except (Exception, asyncio.CancelledError) as err:
        outcome: Literal["failed", "cancelled"] = (
            "cancelled" if isinstance(err, asyncio.CancelledError) else "failed"
        )
        ctx.record(**audit, outcome=outcome, detail=f"{len(acks)} of {total} acknowledged")
        raise
    finally:
        for pub in (npub, kpub):
            if pub is not None:
                await pub.close()
    ctx.record(**audit, outcome="ok", detail=f"{total} of {total} acknowledged")
    return ReplayResult(total, targets, tuple(acks))


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
    ctx.check_audit()
    await asyncio.to_thread(_write_export, items, dest, overwrite)
    ctx.record(
        action="export",
        broker="",
        target=str(dest.resolve()),
        events=[identity(ev) for ev in items],
        outcome="ok",
        detail=f"{len(items)} events",
    )
    return ExportResult(dest, len(items))
