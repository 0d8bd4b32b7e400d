"""Hostile input, fuzzed: what test_codec.py and test_filter.py do not already cover.

Display functions never raise on any bytes and never emit a character a terminal would act
on; the JSONL decoder raises only RecordError; the filter parser only FilterError, and a
parsed filter never raises on any event.
"""

from __future__ import annotations

import contextlib
import re

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evmon.codec import (
    RecordError,
    decode_record,
    encode_record,
    hexdump,
    pretty,
    preview,
    text_line,
)
from evmon.filter import FilterError, parse_filter
from evmon.model import Event

#: What a terminal could act on, newlines excluded (multi-line views keep them).
UNSAFE_MULTILINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

#: Payloads built to hurt: ANSI/OSC sequences, bidi overrides, broken UTF-8, JSON-ish text.
hostile_bytes = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(
        st.sampled_from(
            [
                b"\x1b[31m",
                b"\x1b]0;pwned\x07",
                b"\x1b[2J",
                b"\x9b31m",
                "\u202e".encode(),
                b"\xc3",
                b"\xff\xfe",
                b"\r",
                b"\n",
                b"\t",
                b"{",
                b"}",
                b'"a":',
                b"[",
                b"]",
                b"1e999",
                b"null",
                b"\x00",
                b"ok",
            ]
        ),
        max_size=60,
    ).map(b"".join),
)


@given(hostile_bytes)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_pretty_and_hexdump_never_raise_and_are_inert(payload: bytes) -> None:
    shown, _ = pretty(payload)
    assert UNSAFE_MULTILINE.search(shown) is None
    assert UNSAFE_MULTILINE.search(hexdump(payload)) is None
    cut, _ = pretty(payload, limit=7)
    assert UNSAFE_MULTILINE.search(cut) is None


@given(hostile_bytes, st.integers(min_value=1, max_value=120))
def test_preview_hostile_bytes(payload: bytes, width: int) -> None:
    shown = preview(payload, width)
    assert len(shown) <= width and UNSAFE_LINE.search(shown) is None


events = st.builds(
    Event,
    source=st.sampled_from(["nats", "kafka"]),
    subject=st.text(min_size=1, max_size=40),
    payload=st.none() | hostile_bytes,
    timestamp=st.floats(allow_nan=True, allow_infinity=True),
    headers=st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=20)), max_size=4).map(
        tuple
    ),
    key=st.none() | st.binary(max_size=40),
    stream=st.none() | st.text(max_size=10),
    partition=st.none() | st.integers(min_value=0, max_value=1000),
    offset=st.none() | st.integers(min_value=0, max_value=2**63),
)


@given(events)
def test_text_line_is_one_inert_line(ev: Event) -> None:
    line = text_line(ev)
    assert UNSAFE_LINE.search(line) is None  # no ESC, no newline, no bidi override


@given(events)
def test_encode_record_is_json_or_record_error(ev: Event) -> None:
    try:
        raw = encode_record(ev)
    except RecordError:
        return
    assert b"\n" not in raw and b"\x1b" not in raw
    orjson.loads(raw)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def test_deeply_nested_json_falls_back_to_text() -> None:
    deep = _nested(10_000)
    assert preview(deep, 40).startswith("[[[")
    shown, _ = pretty(deep)
    assert shown.startswith("[[[") and len(shown) >= 10_000
    obj = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
    assert pretty(obj)[0].startswith('{"a":')
    ev = Event("nats", "deep", deep, 1.0)
    assert "json" not in orjson.loads(encode_record(ev))
    assert decode_record(encode_record(ev)).payload == deep
    text_line(ev)


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "source",
                "subject",
                "stream",
                "partition",
                "offset",
                "timestamp",
                "key",
                "key_b64",
                "headers",
                "size",
                "data",
                "data_b64",
                "json",
                "extra",
            ]
        ),
        json_like,
        max_size=10,
    )
)
def test_decode_record_fields_of_any_type(rec: dict[str, object]) -> None:
    with contextlib.suppress(RecordError):
        decode_record(orjson.dumps(rec))


filter_terms = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(
            [
                "key:",
                "header:",
                "json:",
                "partition:",
                "source:",
                "stream:",
                "!",
                '"',
                "/",
                "text:",
                "=",
                "*",
                ">",
                ".",
            ]
        ),
    ),
    max_size=6,
).map(" ".join)


@given(filter_terms, events)
@settings(max_examples=300)
def test_filters_parse_or_fail_cleanly_and_never_raise_on_events(expr: str, ev: Event) -> None:
    try:
        flt = parse_filter(expr)
    except FilterError:
        return
    assert isinstance(flt(ev), bool)
