"""Export: the events shown, written as a JSONL file that ``evmon replay`` reads unchanged.

Allowed in read-only mode (it changes no broker, it writes a local file from events already
shown) and recorded in the audit log all the same, since it copies data out of the cluster.
The default file goes to ``$XDG_DATA_HOME/evmon/exports/`` (created 0700), never into the
current directory; the result names the path.
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

from evmon.actions.context import ActionContext
from evmon.actions.republish import identity
from evmon.codec import RecordError, encode_record
from evmon.errors import UsageError
from evmon.model import Event

__all__ = ["ExportResult", "default_export_dir", "default_export_path", "export"]


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    count: int

    def summary(self) -> str:
        noun = "event" if self.count == 1 else "events"
        return f"exported {self.count} {noun} to {self.path}"


def default_export_dir() -> Path:
    """``$XDG_DATA_HOME/evmon/exports``, else ``~/.local/share/evmon/exports``: exports hold
    payloads copied out of the cluster, so they stay out of the working tree (and any git
    repository in it) unless the operator names another place."""
    data = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data) if os.path.isabs(data) else Path.home() / ".local" / "share"
    return base / "evmon" / "exports"


def default_export_path(directory: str | Path | None = None, now: float | None = None) -> Path:
    """``evmon-export-YYYYmmdd-HHMMSS.jsonl`` (local time) in ``directory`` (default
    ``default_export_dir()``), with ``-2``, ``-3``... when that name is taken."""
    base = Path(directory) if directory is not None else default_export_dir()
    stamp = datetime.fromtimestamp(time.time() if now is None else now).strftime("%Y%m%d-%H%M%S")
    path = base / f"evmon-export-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = base / f"evmon-export-{stamp}-{n}.jsonl"
    return path


def _make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents 0700 (``makedirs`` would give the parents
    the umask's mode)."""
    missing = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing.append(p)
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):
            p.mkdir(mode=0o700)


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
        if path.parent == default_export_dir():
            _make_private_dirs(path.parent)
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
