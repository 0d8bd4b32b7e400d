"""Short human forms of numbers and times for the dashboard's narrow columns."""

from __future__ import annotations

from collections.abc import Sequence

from evmon.codec import format_timestamp, safe_text
from evmon.model import Event

#: Key text an action modal shows before cutting it (the position is what is exact).
KEY_CHARS = 40


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


def key_text(key: bytes) -> str:
    """A key as one safe line: its UTF-8 text, else ``0x`` hex; long keys are cut."""
    try:
        text = safe_text(key.decode())
    except UnicodeDecodeError:
        text = "0x" + key.hex()
    return text if len(text) <= KEY_CHARS else text[: KEY_CHARS - 1] + "…"


def event_line(ev: Event) -> str:
    """``nats  orders.eu.created  ORDERS#322`` or ``kafka  payments  p2@41  key cust-9``: the
    event an action modal names. Core NATS messages have no position, so their time stands
    in. Escaped for the terminal; show it with ``markup=False`` (broker text is not markup).
    """
    where = safe_text(ev.position) if ev.position else f"at {clock(ev.timestamp)}"
    parts = [ev.source, safe_text(ev.subject), where]
    if ev.key is not None:
        parts.append(f"key {key_text(ev.key)}")
    elif ev.source == "kafka":
        parts.append("no key")
    return "  ".join(parts)


def event_lines(events: Sequence[Event], limit: int = 8) -> str:
    """One ``event_line`` per event; past ``limit`` the first ones, how many more, the last."""
    if len(events) <= limit:
        return "\n".join(event_line(ev) for ev in events)
    head = [event_line(ev) for ev in events[: limit - 1]]
    more = f"… {count(len(events) - limit)} more …"
    return "\n".join([*head, more, event_line(events[-1])])
