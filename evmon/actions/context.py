"""Safety rails shared by every operator action: the read-only guard and the audit log.

``ActionContext`` carries what each action needs besides its arguments: connection
settings, the read-only flag (``--read-only`` or a context's ``read_only``) and the audit log
(``evmon.actions.audit``). Every mutating action calls ``guard`` before anything connects,
checks that the audit log can be written, and records its outcome there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from evmon.actions.audit import AuditLog
from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import UsageError

__all__ = ["Action", "ActionContext", "ReadOnlyError"]

Action = Literal["replay", "skip", "export"]
_ACTION_NAMES: dict[Action, str] = {"replay": "re-publish", "skip": "skip", "export": "export"}


class ReadOnlyError(UsageError):
    """A mutating action was asked for in read-only mode."""


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
