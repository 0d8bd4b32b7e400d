"""Safety rails shared by every operator action: the read-only guard and the audit log.

``ActionContext`` carries what each action needs besides its arguments: connection
settings, the read-only flag (``--read-only`` or a context's ``read_only``) and the audit log.
Every mutating action calls ``guard`` before anything connects, and records its outcome in
the audit log (``$XDG_STATE_HOME/evmon/audit.jsonl``): time, user, host, action, broker,
target, event identities, outcome, detail — never payloads, never credentials (brokers are
written in their display form, URLs without user info).
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from evmon.codec import format_timestamp
from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import RuntimeFailure, UsageError

__all__ = ["Action", "ActionContext", "AuditLog", "ReadOnlyError", "default_audit_path"]

Action = Literal["replay", "skip", "export"]
_ACTION_NAMES: dict[Action, str] = {"replay": "re-publish", "skip": "skip", "export": "export"}


class ReadOnlyError(UsageError):
    """A mutating action was asked for in read-only mode."""


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
        outcome: Literal["ok", "partial", "failed", "cancelled"],
        detail: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one entry and return it. RuntimeFailure if the file cannot be written.

        ``partial``: everything was sent and acknowledged but not all of it stored (a
        re-publish that JetStream dropped as duplicates). ``extra`` adds action-specific
        fields (re-publish: ``edited``, ``copies``, ``sha256`` of what was sent, counts).
        """
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
            **(extra or {}),
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
    #: NATS monitoring URL (``--nats-monitor``) to ask about interest before a core publish
    nats_monitor: str | None = None

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

    def check_audit(self) -> None:
        """Before acting: refuse to act if the outcome could not be recorded."""
        if self.audit is not None:
            self.audit.check()

    def record(self, **entry: Any) -> None:
        """Append the outcome of an action (see AuditLog.record for the fields)."""
        if self.audit is not None:
            self.audit.record(**entry)
