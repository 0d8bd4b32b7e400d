"""``tail --template``: one line per event laid out by the operator, kcat ``-f`` style.

    line = compile_template("{time} {subject} {partition}:{offset} {key} {data}")
    line(event)   # '2024-05-01T12:00:00.123Z orders 2:1041 user-7 {"id": 1}'

Every field value goes through ``safe_text`` (broker data may hold ESC, CR, LF, bidi
overrides or bytes that are not UTF-8): whatever a field holds, no escape sequence reaches
the terminal and one event stays one line. The template's own text may use ``\\t`` and
``\\n`` as kcat's does, ``{{`` and ``}}`` for braces; an unknown field is a one-line
error that names it. A value that is absent (the partition of a NATS message, a missing key)
prints as ``-`` so ``awk`` columns stay put.
"""

from __future__ import annotations

import string
from collections.abc import Callable

from evmon.codec.display import safe_text
from evmon.codec.timestamps import _MAX_TS, _MIN_TS, _second_text, format_timestamp
from evmon.model import Event

__all__ = ["FIELDS", "TemplateError", "compile_template"]

ABSENT = "-"


class TemplateError(ValueError):
    """A template that cannot be used: the message is one line, fit for the user."""


def _time(ev: Event) -> str:
    ts = ev.timestamp
    return format_timestamp(ts) if _MIN_TS <= ts <= _MAX_TS else ABSENT


def _clock(ev: Event) -> str:
    """``HH:MM:SS.mmm`` UTC, as the default line starts."""
    ts = ev.timestamp
    if not _MIN_TS <= ts <= _MAX_TS:
        return "??:??:??.???"
    sec, ms = divmod(round(ts * 1000), 1000)
    return f"{_second_text(sec)[11:]}.{ms:03d}"


def _number(value: int | None) -> str:
    return ABSENT if value is None else str(value)


def _key(ev: Event) -> str:
    """The whole key (kcat ``%k``), escaped; not the default line's shortened form."""
    return ABSENT if ev.key is None else _bytes_text(ev.key)


def _bytes_text(raw: bytes) -> str:
    """Text with controls escaped; bytes that are not UTF-8 as ``\\xff``."""
    return safe_text(raw.decode("utf-8", "backslashreplace"))


def _headers(ev: Event) -> str:
    """``name=value,name=value`` in wire order, repeats kept (kcat ``%h``)."""
    if not ev.headers:
        return ABSENT
    return ",".join(f"{safe_text(n)}={_bytes_text(v)}" for n, v in ev.headers)


def _data(ev: Event) -> str:
    payload = ev.payload
    if payload is None:
        return "<tombstone>"
    return _bytes_text(payload)


#: Field name -> what it prints (and, for ``evmon tail --help``, in this order).
FIELDS: dict[str, Callable[[Event], str]] = {
    "time": _time,
    "clock": _clock,
    "source": lambda ev: ev.source,
    "subject": lambda ev: safe_text(ev.subject),
    "topic": lambda ev: safe_text(ev.subject),
    "stream": lambda ev: ABSENT if ev.stream is None else safe_text(ev.stream),
    "partition": lambda ev: _number(ev.partition),
    "offset": lambda ev: _number(ev.offset),
    "position": lambda ev: safe_text(ev.position) if ev.position else ABSENT,
    "key": _key,
    "headers": _headers,
    "hcount": lambda ev: str(len(ev.headers)),
    "size": lambda ev: str(ev.size),
    "data": _data,
}


def _literal(text: str) -> str:
    """The template's own text: ``\\t``/``\\n``/``\\\\`` as kcat reads them; any other control
    character in it is shown escaped like broker data."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "tn\\":
            out.append({"t": "\t", "n": "\n", "\\": "\\"}[text[i + 1]])
            i += 2
            continue
        out.append(ch if ch in "\t\n" else safe_text(ch))
        i += 1
    return "".join(out)


def compile_template(template: str) -> Callable[[Event], str]:
    """A function from an event to its line; raises ``TemplateError`` for a bad template."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:  # a lone "{" or "}"
        raise TemplateError(
            f"bad --template '{safe_text(template)}': {err} (write {{{{ or }}}} for a brace)"
        ) from None
    parts: list[str | Callable[[Event], str]] = []
    for text, name, spec, conversion in parsed:
        if text:
            parts.append(_literal(text))
        if name is None:
            continue
        if spec or conversion:
            raise TemplateError(
                f"--template field {{{safe_text(name)}}} takes no format spec or conversion"
            )
        field = FIELDS.get(name)
        if field is None:
            known = " ".join(f"{{{f}}}" for f in FIELDS)
            raise TemplateError(f"unknown --template field {{{safe_text(name)}}} (known: {known})")
        parts.append(field)
    if not any(callable(p) for p in parts):
        raise TemplateError("--template has no field (e.g. '{time} {subject} {data}')")
    fixed = tuple(parts)

    def line(ev: Event) -> str:
        return "".join(p if isinstance(p, str) else p(ev) for p in fixed)

    return line
