"""Short human forms of numbers and times for the dashboard's narrow columns."""

from __future__ import annotations

from evmon.codec import format_timestamp


def count(n: int) -> str:
    """``1,234,567``."""
    return f"{n:,}"


def short_count(n: float) -> str:
    """``999``, ``12.3k``, ``4.5M``: at most five characters."""
    if n < 1000:
        return f"{n:.0f}"
    if n < 999_950:
        return f"{n / 1000:.1f}k" if n < 99_950 else f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.1f}M"


def rate(per_second: float) -> str:
    """``0/s``, ``0.4/s``, ``12/s``, ``20.1k/s``."""
    if per_second <= 0:
        return "0/s"
    if per_second < 10:
        return f"{per_second:.1f}/s"
    return f"{short_count(per_second)}/s"


def size(n: int) -> str:
    """Payload size in at most six characters: ``812``, ``12.4K``, ``1.0M``."""
    if n < 10_000:
        return str(n)
    if n < 1024 * 1000:
        return f"{n / 1024:.1f}K" if n < 100 * 1024 else f"{n // 1024}K"
    return f"{n / (1024 * 1024):.1f}M"


def clock(ts: float) -> str:
    """``HH:MM:SS.mmm`` in UTC, like ``tail`` (so the two can be compared)."""
    try:
        return format_timestamp(ts)[11:23]
    except ValueError:
        return "??:??:??.???"


def stamp(ts: float) -> str:
    """The full RFC 3339 UTC time of the detail pane."""
    try:
        return format_timestamp(ts)
    except ValueError:
        return f"{ts!r} (out of range)"
