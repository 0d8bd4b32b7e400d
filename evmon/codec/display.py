"""Showing any payload, subject or key without letting its bytes act on the terminal.

``safe_text`` is applied to everything printed from broker data; the previews, the
``tail --format text`` line and the detail view (pretty JSON, text, hexdump) run once per
event or per row on screen, so only the first few hundred bytes of a payload are looked at.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from typing import Any

import orjson

from evmon.codec.record import _JSON_WS
from evmon.codec.timestamps import _MAX_TS, _MIN_TS, _second_text
from evmon.model import Event

__all__ = [
    "PayloadKind",
    "classify",
    "hexdump",
    "json_fields",
    "pretty",
    "preview",
    "safe_text",
    "text_line",
]


class PayloadKind(enum.Enum):
    """How a payload is best shown.

    JSON means an object or array that orjson parses: a bare scalar payload (``42``,
    ``"ok"``, ``true``) is shown as TEXT, because a JSON badge on a number tells nothing.
    TEXT is other UTF-8 without control characters except tab, newline and carriage
    return (C1 controls and DEL count as control characters). The rest is BINARY.
    """

    JSON = "json"
    TEXT = "text"
    BINARY = "binary"
    EMPTY = "empty"
    TOMBSTONE = "tombstone"


def _has_control(text: str) -> bool:
    """Control characters other than tab, newline and carriage return (C1 and DEL count)."""
    return not text.isprintable() and _control().search(text) is not None


@functools.cache
def _control() -> re.Pattern[str]:
    return re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


#: Characters a terminal could act on: C0/C1 controls (ESC starts ANSI sequences), bidi
#: overrides and isolates that reorder what follows, and lone surrogates that cannot even
#: be encoded for output. All are non-printable for str.isprintable(), the fast path.
_UNSAFE_CLASS = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"


@functools.cache
def _unsafe() -> re.Pattern[str]:
    return re.compile(f"[\x00-\x1f{_UNSAFE_CLASS}]")


@functools.cache
def _unsafe_multiline() -> re.Pattern[str]:
    return re.compile(f"[\x00-\x08\x0b-\x1f{_UNSAFE_CLASS}]")


_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED_ESCAPES.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(s: str) -> str:
    """One line of ``s`` that cannot move the cursor, recolour or reorder the terminal.

    Control characters (newlines and tabs too) are shown as backslash escapes (``\\x1b``).
    """
    if s.isprintable():
        return s
    return _unsafe().sub(_escape, s)


def _safe_multiline(s: str) -> str:
    """Like safe_text, but keeps newlines and tabs for multi-line views."""
    if "\r" in s:
        s = s.replace("\r\n", "\n")
    if s.isprintable():
        return s
    return _unsafe_multiline().sub(_escape, s)


def classify(payload: bytes | None) -> PayloadKind:
    """The display kind of a payload (see PayloadKind for the rules)."""
    kind, _ = _classify(payload)
    return kind


def _classify(payload: bytes | None) -> tuple[PayloadKind, Any]:
    if payload is None:
        return PayloadKind.TOMBSTONE, None
    if not payload:
        return PayloadKind.EMPTY, None
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return PayloadKind.BINARY, None
    if payload.lstrip(_JSON_WS)[:1] in (b"{", b"["):
        try:
            return PayloadKind.JSON, orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    if _has_control(text):
        return PayloadKind.BINARY, None
    return PayloadKind.TEXT, None


def _decode_prefix(head: bytes, cut: bool) -> str | None:
    """UTF-8 text of ``head``, forgiving a character split by the cut; None when binary."""
    if b"\x00" in head:
        return None
    try:
        return head.decode()
    except UnicodeDecodeError as err:
        end = err.start
    if not cut or end < len(head) - 3:
        return None
    try:
        return head[:end].decode()
    except UnicodeDecodeError:
        return None


def _human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _binary_preview(payload: bytes, width: int) -> str:
    n = len(payload)
    prefix = f"<binary {_human_size(n)}: "
    room = width - len(prefix) - 1
    count = (room + 1) // 3
    if count < n:
        count = (room - 1) // 3
    if count <= 0:
        return f"<binary {_human_size(n)}>"
    more = " …" if count < n else ""
    return f"{prefix}{payload[:count].hex(' ')}{more}>"


def preview(payload: bytes | None, width: int, fields: Sequence[FieldPath] = ()) -> str:
    """One line of at most ``width`` characters for the event list and ``tail``.

    Text is shown with whitespace collapsed and controls escaped; that includes UTF-8
    payloads with a few control characters (coloured log lines), which classify() calls
    BINARY. Only payloads that are not UTF-8 or contain NUL are shown as hex. Only the first
    few hundred bytes are looked at, so a 1 MiB payload costs what a small one does.

    ``fields`` (a filter's ``json:`` paths, ``Filter.json_paths``) are shown first when the
    payload has them, ``amount=12.5 · {"type":…``, so the value a filter looks at is seen.
    """
    if width <= 0:
        return ""
    shown = json_fields(payload, fields) if fields else ""
    if shown:
        rest = preview(payload, width - len(shown) - 3)
        return _fit(f"{shown} · {rest}" if rest else shown, width)
    if payload is None:
        return _fit("<tombstone>", width)
    n = len(payload)
    if n == 0:
        return _fit("<empty>", width)
    budget = width * 4 + 64
    cut = n > budget
    text = _decode_prefix(payload[:budget] if cut else payload, cut)
    if text is None:
        return _fit(_binary_preview(payload, width), width)
    line = safe_text(" ".join(text.split()))
    if not line:
        return _fit(f"<blank {_human_size(n)}>", width)
    if len(line) > width or (cut and len(line) == width):
        return line[: width - 1] + "…"
    return line + "…" if cut else line


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


#: ``json_fields`` parses payloads up to this size (the filter parsed them whole already).
JSON_FIELDS_BYTES = 256 * 1024
#: A field as a filter names it (``items.0.sku``) and its steps (``("items", 0, "sku")``).
FieldPath = tuple[str, Sequence[str | int]]
_GONE = object()


def _field(doc: Any, steps: Sequence[str | int]) -> Any:
    for step in steps:
        if isinstance(doc, dict):
            doc = doc.get(str(step), _GONE)
        elif isinstance(doc, list) and isinstance(step, int) and -len(doc) <= step < len(doc):
            doc = doc[step]
        else:
            return _GONE
    return doc


def json_fields(payload: bytes | None, paths: Sequence[FieldPath]) -> str:
    """``amount=12.5 · type=OrderPlaced``: the fields a filter's ``json:`` terms name, as
    found in a JSON object or array payload (strings bare, other values as compact JSON,
    absent fields left out); ``""`` when there is nothing to show. Escaped like a preview."""
    if not paths or not payload or len(payload) > JSON_FIELDS_BYTES:
        return ""
    if payload.lstrip(_JSON_WS)[:1] not in (b"{", b"["):
        return ""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ""
    parts = []
    for label, steps in paths:
        value = _field(doc, steps)
        if value is _GONE:
            continue
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{label}={' '.join(text.split())}")
    return safe_text(" · ".join(parts))


_ASCII = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))


def hexdump(data: bytes, limit: int = 256 * 1024) -> str:
    """``hexdump -C`` style lines for the first ``limit`` bytes of ``data``."""
    view = data[:limit] if len(data) > limit else data
    lines = []
    for off in range(0, len(view), 16):
        chunk = view[off : off + 16]
        hx = chunk.hex(" ")
        if len(chunk) > 8:
            hx = f"{hx[:23]}  {hx[24:]}"
        lines.append(f"{off:08x}  {hx:<48}  |{chunk.translate(_ASCII).decode('ascii')}|")
    return "\n".join(lines)


def pretty(payload: bytes | None, limit: int = 256 * 1024) -> tuple[str, bool]:
    """The detail view of a payload and whether only its first ``limit`` bytes are shown.

    JSON is re-indented (a payload over the limit cannot be parsed, so its head is shown
    as text); text keeps its lines with controls escaped; anything else is a hexdump.
    """
    if payload is None:
        return "<tombstone>", False
    if not payload:
        return "<empty>", False
    if len(payload) > limit:
        head = payload[:limit]
        text = _decode_prefix(head, True)
        if text is not None and not _has_control(text):
            return _safe_multiline(text), True
        return hexdump(payload, limit), True
    kind, parsed = _classify(payload)
    if kind is PayloadKind.JSON:
        return _safe_multiline(orjson.dumps(parsed, option=orjson.OPT_INDENT_2).decode()), False
    if kind is PayloadKind.TEXT:
        return _safe_multiline(payload.decode()), False
    return hexdump(payload, limit), False


def _key_text(key: bytes) -> str:
    try:
        text = key.decode()
    except UnicodeDecodeError:
        return "0x" + key[:32].hex() + ("…" if len(key) > 32 else "")
    if len(text) > 64:
        text = text[:63] + "…"
    if not text or " " in text or '"' in text:
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return safe_text(text)


def text_line(ev: Event, width: int = 160) -> str:
    """The ``tail --format text`` line: ``HH:MM:SS.mmm source subject position key= size= preview``.

    The time is UTC, like the JSONL record, so the two formats can be compared directly.
    A key that is not UTF-8 is shown as ``0x`` hex; a key with spaces is quoted.
    """
    ts = ev.timestamp
    if _MIN_TS <= ts <= _MAX_TS:
        sec, ms = divmod(round(ts * 1000), 1000)
        clock = f"{_second_text(sec)[11:]}.{ms:03d}"
    else:
        clock = "??:??:??.???"
    parts = [clock, ev.source, safe_text(ev.subject)]
    position = ev.position
    if position:
        parts.append(safe_text(position))
    if ev.key is not None:
        parts.append("key=" + _key_text(ev.key))
    parts.append(f"size={ev.size}B")
    head = " ".join(parts)
    return f"{head} {preview(ev.payload, max(16, width - len(head) - 1))}"
