"""The JSONL event record (``tail --format jsonl``, export, replay) and JSON for a terminal.

The record must reproduce payload bytes, key and headers exactly, and it is written once
per event, so the common case (a one-line UTF-8 JSON payload, a timestamp in the same second
as the previous one) takes a short path that ``tests/test_codec_fast_path.py`` checks byte
for byte against the dict-built reference.
"""

from __future__ import annotations

import binascii
import functools
import math
import re
from collections.abc import Sequence
from typing import Any, cast

import orjson

from evmon.codec import timestamps as _ts
from evmon.codec.timestamps import _MAX_TS, _MILLIS, _MIN_TS, _second_text, parse_timestamp
from evmon.model import Event, Headers, Source

__all__ = [
    "RecordError",
    "decode_record",
    "encode_record",
    "encode_records",
    "reference_record",
    "terminal_json",
]


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


def head_of(source: Source, subject: str, stream: str | None, partition: int | None) -> bytes:
    """A record's first part, up to ``"offset":``: the same for every event of a subject (or
    topic) and partition, so it is made once (bounded cache; the Kafka wire path shares it).
    Raises TypeError for a subject that is not UTF-8 (surrogate-escaped)."""
    key = (source, subject, stream, partition)
    head = _heads.get(key)
    if head is None:
        if len(_heads) >= 10_000:
            _heads.clear()
        head = (
            orjson.dumps(
                {"source": source, "subject": subject, "stream": stream, "partition": partition}
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


def reference_record(ev: Event) -> bytes:
    """Any event's record, built as a dict and written by orjson: the reference that the
    one-line JSON path of ``encode_records`` matches byte for byte (public so the tests
    and the bench compare against it)."""
    ts = ev.timestamp
    if not _MIN_TS <= ts <= _MAX_TS:
        raise RecordError(f"timestamp: out of range: {ts!r}")
    # format_timestamp inlined: a function call is a tenth of the whole budget here.
    total_ms = round(ts * 1000)
    sec = total_ms // 1000
    cached = _ts._last_second  # rebound by _second_text: read it live
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


#: ``b'<size>,"data":'`` by payload size, and the timestamp-and-key part of a record by
#: timestamp: both repeat from record to record (bounded: cleared when full).
_sizes: dict[int, bytes] = {}
_CACHE_MAX = 4096


def encode_records(events: Sequence[Event]) -> list[bytes]:
    """``encode_record`` of each event, for the tail's batches.

    The common record (a one-line JSON payload, no headers, a UTF-8 or absent key) is built
    here in one loop with everything it needs in locals: one ``orjson.loads`` to validate,
    one ``orjson.dumps`` of the text for ``data`` and one join of eight parts for the line;
    what repeats from one record to the next (the head for the same subject and partition,
    the timestamp text for the same millisecond, which Kafka's records of one batch share
    and a fast JetStream read's neighbours too) is made once. Everything else goes through
    ``reference_record``, whose errors (a timestamp out of range) propagate.
    """
    out: list[bytes] = []
    append = out.append
    loads, dumps, bad_json = orjson.loads, orjson.dumps, orjson.JSONDecodeError
    heads, millis, json_open, join = _heads, _MILLIS_B, _JSON_OPEN, b"".join
    sizes = _sizes
    general = reference_record
    # No second yet: -1 is a real one (the second before the epoch), so None marks "unset".
    last_sec: int | None = None
    last_text = b""
    last_ts: float | None = None
    last_ms: int | None = None
    stamp = b""  # the timestamp and key part of the record for last_ts (with or without key)
    stamp_no_key = False
    h_subject: str | None = None
    h_source = h_stream = h_partition = None
    head = b""
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
        key_json = b""
        if key is not None:
            try:
                key_json = dumps(key.decode())
            except UnicodeDecodeError:  # key_b64: the general path
                append(general(ev))
                continue
        no_key = key is None
        if ts != last_ts or no_key is not stamp_no_key:
            total_ms = round(ts * 1000)
            last_ts = ts
            if total_ms != last_ms or no_key is not stamp_no_key:  # the text is per ms
                sec = total_ms // 1000
                if sec != last_sec:
                    last_sec, last_text = sec, _second_text(sec).encode()
                last_ms, stamp_no_key = total_ms, no_key
                stamp = join(
                    (
                        b',"timestamp":"',
                        last_text,
                        millis[total_ms - sec * 1000],
                        b'","key":null,"headers":[],"size":' if no_key else b'","key":',
                    )
                )
        subject, partition = ev.subject, ev.partition
        if (
            subject != h_subject
            or partition != h_partition
            or ev.stream != h_stream
            or ev.source != h_source
        ):
            try:
                where = (ev.source, subject, ev.stream, partition)
                head = heads.get(where) or head_of(*where)
            except TypeError:  # a subject that is not UTF-8 (surrogateescape): U+FFFD there
                h_subject = None
                append(general(ev))
                continue
            h_subject, h_partition, h_stream, h_source = subject, partition, ev.stream, ev.source
        offset = ev.offset
        n = len(payload)
        size = sizes.get(n)
        if size is None:
            if len(sizes) >= _CACHE_MAX:
                sizes.clear()
            size = sizes[n] = b'%d,"data":' % n
        append(
            join(
                (
                    head,
                    b"null" if offset is None else b"%d" % offset,
                    stamp if no_key else stamp + key_json + b',"headers":[],"size":',
                    size,
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
