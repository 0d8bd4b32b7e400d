"""What a skip reports: the result, and the preview lines shared by Kafka and JetStream.

Every string built here is escaped with ``codec.safe_text``: these lines quote broker data
(subjects, names, keys, payloads) and go straight to a terminal or a notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from evmon.codec import format_timestamp, preview, safe_text
from evmon.sources.nats.consumer_skip import ConsumerPosition

__all__ = ["PREVIEW_WIDTH", "KafkaPosition", "SkipResult", "payload_line", "stamp"]

#: Characters of the payload preview shown before a skip.
PREVIEW_WIDTH = 100


def stamp(ts: float | None) -> str:
    """A broker time as RFC 3339, or what stands in for it."""
    if ts is None:
        return "no timestamp"
    try:
        return format_timestamp(ts)
    except ValueError:
        return "timestamp out of range"


def payload_line(head: bytes | None) -> str:
    """The escaped, bounded one-line payload preview of a skip's confirmation."""
    return f"  payload: {preview(head, PREVIEW_WIDTH)}"


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
class SkipResult:
    """Where a group or consumer was, what was skipped, and where it is now."""

    system: Literal["kafka", "jetstream"]
    target: str
    skipped: str
    #: The Kafka offset or JetStream stream sequence skipped; for a reset, the reset sequence.
    sequence: int | None
    before: KafkaPosition | ConsumerPosition
    after: KafkaPosition | ConsumerPosition
    #: Lines said between what was skipped and the positions (messages returned...).
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """Escaped lines: the target, what was skipped, notes, the positions."""
        lines = [f"{self.target}: {self.skipped}", *(f"  {n}" for n in self.notes)]
        lines += [f"  before: {self.before}", f"  after:  {self.after}"]
        return "\n".join(safe_text(line) for line in lines)
