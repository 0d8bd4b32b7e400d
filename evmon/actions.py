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
  and the reason and how many were acknowledged before it; the rest were not sent. An
  acknowledged publish that was not stored (a JetStream duplicate, a core publish nobody
  subscribes to) is no error: ``ReplayResult`` counts it apart (see ``evmon.replays``).

Actions that mutate a broker append one line to the audit log once they have an outcome
(``ok``, ``failed``, ``cancelled``); export is recorded too, since it copies data out of the
cluster. A refusal in read-only mode or before any connection is not recorded: nothing was
attempted. The audit log is checked for writability before anything is sent, so an action
never happens unrecorded for want of a writable file (see ``evmon.safety``).

Connections are opened per action and closed after it: actions are rare and must not share
state with the live view's sources. This module holds export and is the one import for
callers; re-publish lives in ``evmon.replays``, skip in ``evmon.skips``, the guard and the log
in ``evmon.safety``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from evmon.codec import RecordError, encode_record
from evmon.errors import UsageError
from evmon.model import Event
from evmon.replays import (
    MSG_ID_HEADER,
    MSG_ID_POLICIES,
    PROVENANCE_HEADER,
    MsgIdPolicy,
    PlannedPublish,
    ReplayChecks,
    ReplayError,
    ReplayResult,
    TargetCheck,
    check_replay,
    identity,
    plan_event,
    plan_replay,
    replay,
)
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
from evmon.sources.publish import PublishAck
from evmon.sources.skip import ConsumerPosition

__all__ = [
    "MSG_ID_HEADER",
    "MSG_ID_POLICIES",
    "PROVENANCE_HEADER",
    "Action",
    "ActionContext",
    "AuditLog",
    "ConsumerPosition",
    "ExportResult",
    "JetStreamSkipPlan",
    "KafkaPosition",
    "KafkaSkipPlan",
    "MsgIdPolicy",
    "PlannedPublish",
    "PublishAck",
    "ReadOnlyError",
    "ReplayChecks",
    "ReplayError",
    "ReplayResult",
    "SkipResult",
    "TargetCheck",
    "check_replay",
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
        # 0600 like the audit log: an export holds payloads copied out of the cluster.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as f:
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
