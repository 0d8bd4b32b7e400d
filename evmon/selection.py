"""What to read: the ``--from`` start position shared by every stored source."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

StartKind = Literal["new", "first", "offset", "time"]

_DURATION = re.compile(r"^-(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


@dataclass(frozen=True, slots=True)
class Start:
    """Where a stored stream (JetStream stream, Kafka partition) starts being read.

    ``offset`` is a Kafka offset or a JetStream sequence; ``time`` is epoch seconds.
    """

    kind: StartKind = "new"
    offset: int = 0
    time: float = 0.0

    def describe(self) -> str:
        if self.kind == "offset":
            return f"offset {self.offset}"
        if self.kind == "time":
            return f"time {datetime.fromtimestamp(self.time).astimezone().isoformat()}"
        return self.kind


def parse_start(value: str, now: float | None = None) -> Start:
    """Parse ``new``, ``first``, a number, an RFC 3339 time or a relative ``-15m``/``-1h30m``.

    Raises ``ValueError`` with a message fit for a one-line CLI error.
    """
    v = value.strip()
    if v in ("new", "first"):
        return Start(kind=v)  # type: ignore[arg-type]
    if v.isdigit():
        return Start(kind="offset", offset=int(v))
    if v.startswith("-"):
        m = _DURATION.match(v)
        if not m or v == "-":
            raise ValueError(f"bad --from {value!r}: relative times look like -30s, -15m, -2h, -1d")
        d, h, mi, s = m.groups()
        seconds = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
        if seconds <= 0:
            raise ValueError(f"bad --from {value!r}: the duration must be positive")
        return Start(kind="time", time=(time.time() if now is None else now) - seconds)
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"bad --from {value!r}: use new, first, an offset/sequence number, "
            "an RFC 3339 time (2024-05-01T12:00:00Z) or a relative time (-15m)"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"bad --from {value!r}: give a time zone (Z or +02:00)")
    return Start(kind="time", time=dt.timestamp())


#: The default: only what arrives from now on.
START_NEW = Start()
