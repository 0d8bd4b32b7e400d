"""Event timestamps as RFC 3339 text, both ways.

Shared by the JSONL record, the text line and the time flags (``--from``). Formatting runs
once per event, so the formatted second is cached: consecutive events nearly always share
it. No orjson and no regex at import: safety checks and the stuck-consumer report import
only this module.
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, datetime

__all__ = ["format_timestamp", "parse_timestamp"]

#: RFC 3339 cannot write years outside 0001..9999; the top bound leaves room for rounding.
_MIN_TS = -62135596800.0
_MAX_TS = 253402300799.999

#: The formatted second of the last call: consecutive events nearly always share it, and a
#: tuple is swapped atomically, so threads never see a second paired with another's text.
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _second_text(sec: int) -> str:
    global _last_second
    cached = _last_second
    if cached[0] == sec:
        return cached[1]
    t = time.gmtime(sec)
    text = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
    _last_second = (sec, text)
    return text


#: ".000Z" .. ".999Z": indexing beats formatting the milliseconds on every call.
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def format_timestamp(ts: float) -> str:
    """``2024-05-01T12:00:00.123Z``; raises ValueError for NaN or years outside 1..9999."""
    if not _MIN_TS <= ts <= _MAX_TS:
        raise ValueError(f"timestamp out of range: {ts!r}")
    total_ms = round(ts * 1000)
    sec = total_ms // 1000
    cached = _last_second
    text = cached[1] if cached[0] == sec else _second_text(sec)
    return text + _MILLIS[total_ms - sec * 1000]


# Regexes are compiled on first use: together they would be most of the import time of a
# module that `evmon tail` loads before it can print its first line.


@functools.cache
def _rfc3339() -> re.Pattern[str]:
    return re.compile(
        r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,32}))?"
        r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
        re.ASCII,
    )


def parse_timestamp(s: str) -> float:
    """Epoch seconds from RFC 3339 (``Z`` or an offset; any number of fraction digits).

    Stricter than ``datetime.fromisoformat`` on purpose: a zone is required, so a record or
    a ``--from`` time is never silently read as local time.
    """
    m = _rfc3339().fullmatch(s)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {s[:64]!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    leap = second == 60  # RFC 3339 allows a leap second; count it as the next second
    try:
        base = datetime(year, month, day, hour, minute, 59 if leap else second, tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a valid date/time: {s[:64]!r}") from None
    if m.group(9) is not None:
        off_h, off_m = int(m.group(10)), int(m.group(11))
        if off_h > 23 or off_m > 59:
            raise ValueError(f"bad UTC offset: {s[:64]!r}")
        offset = (off_h * 3600 + off_m * 60) * (-1 if m.group(9) == "-" else 1)
    else:
        offset = 0
    whole = int((base - _EPOCH).total_seconds()) + leap - offset
    frac: str = (m.group(7) or "")[:9]
    if not frac:
        return float(whole)
    # One rounding only, so "...123Z" decodes to the float nearest 0.123 and re-encodes alike.
    scale: int = 10 ** len(frac)
    return (whole * scale + int(frac)) / scale


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
