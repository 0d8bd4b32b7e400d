"""What to read: the ``--from`` start position shared by every stored source, and the
Kafka positions of ``--last N``, ``--partition N`` and ``--until TIME|OFFSET|end``.

    start = parse_start("-15m")                       # --from
    start = parse_last("10", partitions=(0, 2))       # --last 10 --partition 0 --partition 2
    start = replace(start, until=parse_until("end"))  # tail --until end (kcat -e)

They all travel in one ``Start`` value, so the dashboard and ``evmon tail`` build their
sources from the same selection (``evmon.sources.spec``); only ``tail`` sets ``until``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

StartKind = Literal["new", "first", "offset", "time", "last"]
UntilKind = Literal["end", "offset", "time"]

_DURATION = re.compile(r"^-(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


@dataclass(frozen=True, slots=True)
class Until:
    """Where a bounded Kafka read stops, per partition (``tail --until``); never included.

    ``end``: the log end offset when the tail starts (kcat ``-e``); ``offset``: before this
    offset; ``time`` (epoch seconds): before the partition's first record stamped at or
    after it (kcat ``-o e@MS``).
    """

    kind: UntilKind = "end"
    offset: int = 0
    time: float = 0.0

    def describe(self) -> str:
        if self.kind == "offset":
            return f"offset {self.offset}"
        if self.kind == "time":
            return f"time {datetime.fromtimestamp(self.time).astimezone().isoformat()}"
        return "the log end"


@dataclass(frozen=True, slots=True)
class Start:
    """Where a stored stream (JetStream stream, Kafka partition) starts being read.

    ``offset`` is a Kafka offset or a JetStream sequence, or with ``kind="last"`` how many
    offsets before each Kafka partition's end (``--last N``); ``time`` is epoch seconds.
    ``partitions`` (Kafka only; empty: all) are the partition numbers read of every
    selected topic, and ``until`` bounds the read (``tail --until``; None: follow live).
    """

    kind: StartKind = "new"
    offset: int = 0
    time: float = 0.0
    partitions: tuple[int, ...] = ()
    until: Until | None = None

    def describe(self) -> str:
        if self.kind == "offset":
            return f"offset {self.offset}"
        if self.kind == "time":
            return f"time {datetime.fromtimestamp(self.time).astimezone().isoformat()}"
        if self.kind == "last":
            return f"the last {self.offset} offsets"
        return self.kind

    @property
    def kafka_only(self) -> bool:
        """Whether this selection uses what only Kafka has (``--last``, ``--partition``,
        ``--until``): a NATS stream would silently read something else."""
        return self.kind == "last" or bool(self.partitions) or self.until is not None


def parse_time(value: str, flag: str, forms: str, now: float | None) -> float:
    """An RFC 3339 time or a relative ``-15m`` as epoch seconds; ValueError naming ``flag``
    and, for text that is neither, the ``forms`` it takes."""
    v = value.strip()
    if v.startswith("-"):
        m = _DURATION.match(v)
        if not m or v == "-":
            raise ValueError(f"bad {flag} {value!r}: relative times look like -30s, -15m, -2h, -1d")
        d, h, mi, s = m.groups()
        seconds = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
        if seconds <= 0:
            raise ValueError(f"bad {flag} {value!r}: the duration must be positive")
        return (time.time() if now is None else now) - seconds
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"bad {flag} {value!r}: use {forms}, an RFC 3339 time (2024-05-01T12:00:00Z) "
            "or a relative time (-15m)"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"bad {flag} {value!r}: give a time zone (Z or +02:00)")
    return dt.timestamp()


def parse_start(value: str, now: float | None = None) -> Start:
    """Parse ``new``, ``first``, a number, an RFC 3339 time or a relative ``-15m``/``-1h30m``.

    Raises ``ValueError`` with a message fit for a one-line CLI error.
    """
    v = value.strip()
    if v in ("new", "first"):
        return Start(kind=v)  # type: ignore[arg-type]
    if v.isdigit():
        return Start(kind="offset", offset=int(v))
    forms = "new, first, an offset/sequence number"
    return Start(kind="time", time=parse_time(v, "--from", forms, now))


def parse_until(value: str, now: float | None = None) -> Until:
    """``tail --until``: ``end``, an offset, an RFC 3339 time or a relative time (``-5m``:
    five minutes ago). ValueError with a one-line message otherwise."""
    v = value.strip()
    if v == "end":
        return Until("end")
    if v.isdigit():
        return Until("offset", offset=int(v))
    return Until("time", time=parse_time(v, "--until", "end, an offset", now))


def parse_last(value: str | int) -> Start:
    """``--last N``: read each Kafka partition from N offsets before its end (kcat ``-o -N``)."""
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"bad --last {value!r}: give a number of records, at least 1")
    return Start(kind="last", offset=int(text))


def parse_partitions(values: Sequence[int | str]) -> tuple[int, ...]:
    """``--partition N`` (repeatable, or ``0,2``): sorted, without repeats."""
    out: set[int] = set()
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part.isdigit():
                raise ValueError(f"bad --partition {value!r}: give a partition number (0, 1, ...)")
            out.add(int(part))
    return tuple(sorted(out))


#: The default: only what arrives from now on.
START_NEW = Start()


def parse_selection(
    start: str = "new",
    last: str | None = None,
    partitions: Sequence[int | str] = (),
    until: str | None = None,
    now: float | None = None,
) -> Start:
    """``--from``, ``--last``, ``--partition`` and ``--until`` as one ``Start``.

    ``--last`` replaces ``--from`` (both say where to start: giving both is an error).
    """
    if last is not None:
        if start.strip() != "new":
            raise ValueError("--last N and --from both say where to start: give one of them")
        where = parse_last(last)
    else:
        where = parse_start(start, now)
    return replace(
        where,
        partitions=parse_partitions(partitions),
        until=None if until is None else parse_until(until, now),
    )
