"""Payload display and the JSONL event record.

Two jobs share this module because both answer "what is in this payload": the JSONL
record (``tail --format jsonl``, export, replay) must reproduce payload bytes, key and
headers exactly, and the display helpers must show any payload without letting its bytes
reach the terminal as control sequences. Both run once per event, so the common cases
(UTF-8 JSON, plain text, a timestamp in the same second as the previous one) take short paths.
"""

from __future__ import annotations

import binascii
import enum
import functools
import math
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from evmon.model import Event, Headers, Source

__all__ = [
    "PayloadKind",
    "RecordError",
    "classify",
    "decode_record",
    "encode_record",
    "encode_records",
    "format_timestamp",
    "hexdump",
    "parse_timestamp",
    "pretty",
    "preview",
    "safe_text",
    "terminal_json",
    "text_line",
]

# --------------------------------------------------------------------------- timestamps

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

# --------------------------------------------------------------------------- JSONL record


class RecordError(ValueError):
    """A JSONL line that is not an evmon event record; the message names the field."""


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _header_value(value: bytes) -> str | dict[str, str]:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return {"b64": _b64(value)}


def _headers(headers: Headers) -> list[list[Any]]:
    try:  # all UTF-8, nearly always: no call per value
        return [[name, value.decode()] for name, value in headers]
    except UnicodeDecodeError:
        return [[name, _header_value(value)] for name, value in headers]


#: First bytes a JSON text can start with. Text that cannot be JSON skips orjson.loads,
#: whose exception would cost more than the whole encode.
_JSON_FIRST = frozenset(b'{["-0123456789tfn')
_JSON_WS = b" \t\r\n"
_JSON_WS_INTS = frozenset(_JSON_WS)
_NOT_JSON = object()


def _json_string(payload: bytes) -> bytes:
    """A valid one-line JSON text as a JSON string literal, byte for byte what orjson.dumps
    would write for ``payload.decode()``: such a text holds no control character but tab,
    so escaping backslash, quote and tab is all there is to do."""
    return (
        b'"' + payload.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\t", b"\\t") + b'"'
    )


_JSON_OPEN = frozenset(b"{[")
_heads: dict[tuple[Any, ...], bytes] = {}


def _head(ev: Event) -> bytes:
    key = (ev.source, ev.subject, ev.stream, ev.partition)
    head = _heads.get(key)
    if head is None:
        if len(_heads) >= 10_000:
            _heads.clear()
        head = (
            orjson.dumps(
                {
                    "source": ev.source,
                    "subject": ev.subject,
                    "stream": ev.stream,
                    "partition": ev.partition,
                }
            )[:-1]
            + b',"offset":'
        )
        _heads[key] = head
    return head


def encode_record(ev: Event) -> bytes:
    """The DESIGN.md JSONL record of one event, without the trailing newline.

    A JSON payload is embedded in ``json`` as its own bytes, not re-serialized, unless it
    spans lines: JSONL needs one line per record.
    """
    return encode_records((ev,))[0]


def _general_record(ev: Event) -> bytes:
    """Any event's record, built as a dict and written by orjson: the reference that the
    one-line JSON path of ``encode_records`` matches byte for byte."""
    ts = ev.timestamp
    if not _MIN_TS <= ts <= _MAX_TS:
        raise RecordError(f"timestamp: out of range: {ts!r}")
    # format_timestamp inlined: a function call is a tenth of the whole budget here.
    total_ms = round(ts * 1000)
    sec = total_ms // 1000
    cached = _last_second
    stamp = (cached[1] if cached[0] == sec else _second_text(sec)) + _MILLIS[total_ms - sec * 1000]
    key_field, key_value = "key", None
    if ev.key is not None:
        try:
            key_value = ev.key.decode()
        except UnicodeDecodeError:
            key_field, key_value = "key_b64", _b64(ev.key)
    payload = ev.payload
    data_field, fragment = "data", _NOT_JSON
    data_value: str | orjson.Fragment | None = None
    if payload is not None:
        try:
            data_value = payload.decode()
        except UnicodeDecodeError:
            data_field, data_value = "data_b64", _b64(payload)
        else:
            first = payload[0] if payload else 0
            if first in _JSON_WS_INTS:
                stripped = payload.lstrip(_JSON_WS)
                first = stripped[0] if stripped else 0
            if first in _JSON_FIRST:
                try:
                    parsed = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    pass
                else:
                    # 10 and 13 (not b"\n"): int membership is a memchr, 10x faster.
                    multiline = 10 in payload or 13 in payload
                    fragment = parsed if multiline else orjson.Fragment(payload)
                    if not multiline:
                        data_value = orjson.Fragment(_json_string(payload))
    # One dict display in field order: cheaper than growing the dict key by key.
    rec: dict[str, Any] = {
        "source": ev.source,
        "subject": ev.subject,
        "stream": ev.stream,
        "partition": ev.partition,
        "offset": ev.offset,
        "timestamp": stamp,
        key_field: key_value,
        "headers": _headers(ev.headers) if ev.headers else [],
        "size": 0 if payload is None else len(payload),
        data_field: data_value,
    }
    if fragment is not _NOT_JSON:
        rec["json"] = fragment
    try:
        return orjson.dumps(rec)
    except TypeError:
        # Only lone surrogates (a str decoded with surrogateescape) get here; write them as
        # U+FFFD rather than fail the whole tail on one odd subject or header name.
        return orjson.dumps(_scrub(rec))


_MILLIS_B = tuple(m.encode() for m in _MILLIS)


def encode_records(events: Sequence[Event]) -> list[bytes]:
    """``encode_record`` of each event, for the tail's batches.

    The common record (a one-line JSON payload, no
    headers, a UTF-8 or absent key) is built here in one loop with everything it needs in
    locals: one ``orjson.loads`` to validate, one ``orjson.dumps`` of the text for ``data``
    and one join for the line, about half the cost of the general path. Everything else
    goes through ``_general_record``, whose errors (a timestamp out of range) propagate.
    """
    out: list[bytes] = []
    append = out.append
    loads, dumps, bad_json = orjson.loads, orjson.dumps, orjson.JSONDecodeError
    heads, millis, json_open, join = _heads, _MILLIS_B, _JSON_OPEN, b"".join
    general = _general_record
    # No second yet: -1 is a real one (the second before the epoch), so None marks "unset".
    last_sec: int | None = None
    last_text = b""
    for ev in events:
        payload = ev.payload
        ts = ev.timestamp
        if (
            not payload
            or payload[0] not in json_open
            or ev.headers
            or 10 in payload
            or 13 in payload
            or not _MIN_TS <= ts <= _MAX_TS
        ):
            append(general(ev))
            continue
        try:
            loads(payload)
        except bad_json:
            append(general(ev))
            continue
        key = ev.key
        if key is None:
            key_json = b"null"
        else:
            try:
                key_json = dumps(key.decode())
            except UnicodeDecodeError:  # key_b64: the general path
                append(general(ev))
                continue
        total_ms = round(ts * 1000)
        sec = total_ms // 1000
        if sec != last_sec:
            last_sec, last_text = sec, _second_text(sec).encode()
        head = heads.get((ev.source, ev.subject, ev.stream, ev.partition)) or _head(ev)
        offset = ev.offset
        append(
            join(
                (
                    head,
                    b"null" if offset is None else b"%d" % offset,
                    b',"timestamp":"',
                    last_text,
                    millis[total_ms - sec * 1000],
                    b'","key":',
                    key_json,
                    b',"headers":[],"size":',
                    b"%d" % len(payload),
                    b',"data":',
                    dumps(payload.decode()),
                    b',"json":',
                    payload,
                    b"}",
                )
            )
        )
    return out


@functools.cache
def _surrogate() -> re.Pattern[str]:
    return re.compile("[\ud800-\udfff]")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _surrogate().sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def _field_str(rec: dict[str, Any], name: str, *, nullable: bool = False) -> str | None:
    value = rec.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected a string{' or null' if nullable else ''}")
    return value


def _field_int(rec: dict[str, Any], name: str) -> int | None:
    value = rec.get(name)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise RecordError(f"{name}: expected a non-negative integer or null")
    return value


def _unb64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected a base64 string")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"{name}: invalid base64") from None


def _utf8(value: str, name: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:
        raise RecordError(f"{name}: not encodable as UTF-8") from None


def decode_record(line: bytes | str) -> Event:
    """The event a JSONL record describes; raises only RecordError.

    Lenient where a hand-edited replay file would trip: ``stream``, ``partition``,
    ``offset``, ``key`` and ``headers`` may be missing, unknown fields and ``json`` are
    ignored, and ``size`` is informational (editing ``data`` with jq should not require
    fixing it). ``timestamp`` may also be epoch seconds.
    """
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        raise RecordError(f"not JSON: {err}") from None
    except TypeError:
        raise RecordError("not JSON: expected bytes or str") from None
    if not isinstance(rec, dict):
        raise RecordError("record: expected a JSON object")

    source = rec.get("source")
    if source not in ("nats", "kafka"):
        raise RecordError('source: expected "nats" or "kafka"')
    subject = _field_str(rec, "subject")
    if not subject:
        raise RecordError("subject: expected a non-empty string")
    stream = _field_str(rec, "stream", nullable=True)
    partition = _field_int(rec, "partition")
    offset = _field_int(rec, "offset")

    stamp = rec.get("timestamp")
    if isinstance(stamp, str):
        try:
            timestamp = parse_timestamp(stamp)
        except ValueError:
            raise RecordError("timestamp: expected an RFC 3339 time") from None
    elif isinstance(stamp, int | float) and not isinstance(stamp, bool) and math.isfinite(stamp):
        timestamp = float(stamp)
    else:
        raise RecordError("timestamp: expected an RFC 3339 time")

    key: bytes | None
    if "key_b64" in rec:
        if rec.get("key") is not None:
            raise RecordError("key_b64: not allowed together with key")
        key = _unb64(rec["key_b64"], "key_b64")
    else:
        key_text = _field_str(rec, "key", nullable=True)
        key = None if key_text is None else _utf8(key_text, "key")

    raw_headers = rec.get("headers")
    headers: list[tuple[str, bytes]] = []
    if raw_headers is not None:
        if not isinstance(raw_headers, list):
            raise RecordError("headers: expected a list of [name, value] pairs")
        for pair in raw_headers:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise RecordError("headers: expected a list of [name, value] pairs")
            name, value = pair
            if isinstance(value, str):
                headers.append((name, _utf8(value, "headers")))
            elif isinstance(value, dict) and len(value) == 1 and "b64" in value:
                headers.append((name, _unb64(value["b64"], "headers")))
            else:
                raise RecordError('headers: a value must be a string or {"b64": "..."}')

    size = rec.get("size")
    if size is not None and (type(size) is not int or size < 0):
        raise RecordError("size: expected a non-negative integer")

    has_data, has_b64 = "data" in rec, "data_b64" in rec
    if has_data == has_b64:
        raise RecordError("data: expected exactly one of data and data_b64")
    payload: bytes | None
    if has_b64:
        payload = _unb64(rec["data_b64"], "data_b64")
    else:
        data = _field_str(rec, "data", nullable=True)
        payload = None if data is None else _utf8(data, "data")

    return Event(
        source=cast(Source, source),
        subject=subject,
        payload=payload,
        timestamp=timestamp,
        headers=tuple(headers),
        key=key,
        stream=stream,
        partition=partition,
        offset=offset,
    )


# --------------------------------------------------------------------------- display


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


@functools.cache
def _json_live() -> re.Pattern[bytes]:
    # The UTF-8 of DEL, C1 (U+0080-009F), U+061C, U+200E/F, U+2028/9 (line breaks to some
    # terminals), U+202A-202E and U+2066-2069: valid raw in a JSON string, live on a tty.
    return re.compile(
        rb"\x7f|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]"
    )


def _json_escape(m: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(m.group().decode())


def terminal_json(data: bytes) -> bytes:
    """JSON text (orjson's output) with the characters a terminal acts on as ``\\uXXXX``.

    orjson escapes C0 controls but writes C1 controls and bidi overrides raw: valid JSON
    that decodes to the same strings, yet live on a terminal. Only applied when stdout is a
    terminal, so piped output stays byte-identical. Outside strings orjson writes ASCII, so a
    byte-level substitution is exact. The check for the lead bytes is a memchr per byte, so
    clean output costs almost nothing.
    """
    if b"\xc2" in data or b"\xe2" in data or b"\xd8" in data or b"\x7f" in data:
        return _json_live().sub(_json_escape, data)
    return data


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


def preview(payload: bytes | None, width: int) -> str:
    """One line of at most ``width`` characters for the event list and ``tail``.

    Text is shown with whitespace collapsed and controls escaped; that includes UTF-8
    payloads with a few control characters (coloured log lines), which classify() calls
    BINARY. Only payloads that are not UTF-8 or contain NUL are shown as hex. Only the first
    few hundred bytes are looked at, so a 1 MiB payload costs what a small one does.
    """
    if width <= 0:
        return ""
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
