"""The JSONL record (exact round trip, strict decoding) and the display helpers."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evmon.codec import (
    PayloadKind,
    RecordError,
    classify,
    decode_record,
    encode_record,
    format_timestamp,
    hexdump,
    parse_timestamp,
    pretty,
    preview,
    safe_text,
    text_line,
)
from evmon.model import Event

TS = 1714564800.123  # 2024-05-01T12:00:00.123Z


def record(ev: Event) -> dict[str, Any]:
    rec = orjson.loads(encode_record(ev))
    assert isinstance(rec, dict)
    return rec


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (TS, "2024-05-01T12:00:00.123Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
        (0.0006, "1970-01-01T00:00:00.001Z"),
        (59.9996, "1970-01-01T00:01:00.000Z"),
        (-1.5, "1969-12-31T23:59:58.500Z"),
        (-62135596800.0, "0001-01-01T00:00:00.000Z"),
        (253402300799.999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_format_timestamp(ts: float, text: str) -> None:
    assert format_timestamp(ts) == text


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), -1e12, 1e12])
def test_format_timestamp_out_of_range(ts: float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        format_timestamp(ts)


@pytest.mark.parametrize(
    ("text", "ts"),
    [
        ("2024-05-01T12:00:00.123Z", TS),
        ("2024-05-01T12:00:00Z", 1714564800.0),
        ("2024-05-01t12:00:00z", 1714564800.0),
        ("2024-05-01 12:00:00Z", 1714564800.0),
        ("2024-05-01T14:00:00.123+02:00", TS),
        ("2024-05-01T07:30:00.123-04:30", TS),
        ("2024-05-01T12:00:00.123456789Z", 1714564800.123456789),
        ("2024-05-01T12:00:00.1234567891234Z", 1714564800.123456789),
        ("1969-12-31T23:59:58.5Z", -1.5),
        ("2016-12-31T23:59:60Z", 1483228800.0),
    ],
)
def test_parse_timestamp(text: str, ts: float) -> None:
    assert parse_timestamp(text) == ts


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:00:00",  # no zone: never guess local time
        "2024-05-01",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00.Z",
        "٢٠٢٤-05-01T12:00:00Z",
        "",
    ],
)
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


@given(st.integers(min_value=-62135596800000, max_value=253402300799999))
def test_timestamp_round_trip_to_the_millisecond(ms: int) -> None:
    ts = ms / 1000
    assert parse_timestamp(format_timestamp(ts)) == ts


# --------------------------------------------------------------------------- encode


def test_encode_json_payload_fields_in_order() -> None:
    payload = b'{"id": 7, "tags": ["a", "b"]}'
    ev = Event(
        "kafka",
        "orders",
        payload,
        TS,
        headers=(("trace", b"t-1"), ("trace", b"t-2")),
        key=b"k-1",
        partition=2,
        offset=1041,
    )
    line = encode_record(ev)
    assert b"\n" not in line
    rec = orjson.loads(line)
    assert list(rec) == [
        "source",
        "subject",
        "stream",
        "partition",
        "offset",
        "timestamp",
        "key",
        "headers",
        "size",
        "data",
        "json",
    ]
    assert rec == {
        "source": "kafka",
        "subject": "orders",
        "stream": None,
        "partition": 2,
        "offset": 1041,
        "timestamp": "2024-05-01T12:00:00.123Z",
        "key": "k-1",
        "headers": [["trace", "t-1"], ["trace", "t-2"]],
        "size": len(payload),
        "data": payload.decode(),
        "json": {"id": 7, "tags": ["a", "b"]},
    }
    # The payload is embedded as its own bytes, not re-serialized.
    assert line.endswith(b',"json":' + payload + b"}")


def test_encode_jetstream_event() -> None:
    rec = record(Event("nats", "orders.eu", b"hello", TS, stream="ORDERS", offset=17))
    assert (rec["stream"], rec["partition"], rec["offset"]) == ("ORDERS", None, 17)
    assert rec["key"] is None
    assert rec["headers"] == []
    assert rec["data"] == "hello"
    assert "json" not in rec
    assert "data_b64" not in rec


def test_encode_binary_key_header_and_payload() -> None:
    ev = Event(
        "kafka",
        "t",
        b"\x00\xff\x10",
        TS,
        headers=(("bin", b"\xff\xfe"), ("txt", "ü".encode())),
        key=b"\x80\x00",
        partition=0,
        offset=0,
    )
    rec = record(ev)
    assert "key" not in rec
    assert rec["key_b64"] == "gAA="
    assert rec["headers"] == [["bin", {"b64": "//4="}], ["txt", "ü"]]
    assert rec["data_b64"] == "AP8Q"
    assert "data" not in rec
    assert "json" not in rec
    assert rec["size"] == 3


def test_encode_tombstone_and_empty() -> None:
    tomb = record(Event("kafka", "t", None, TS, key=b"k", partition=0, offset=5))
    assert tomb["data"] is None
    assert tomb["size"] == 0
    assert "json" not in tomb and "data_b64" not in tomb
    empty = record(Event("nats", "s", b"", TS))
    assert empty["data"] == ""
    assert empty["size"] == 0
    assert "json" not in empty


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        (b"42", 42),
        (b"null", None),
        (b'"text"', "text"),
        (b" [1, 2] ", [1, 2]),
        (b'{\n  "a": 1\r\n}', {"a": 1}),
    ],
)
def test_encode_json_scalars_and_multiline(payload: bytes, parsed: Any) -> None:
    line = encode_record(Event("nats", "s", payload, TS))
    assert b"\n" not in line and b"\r" not in line
    rec = orjson.loads(line)
    assert "json" in rec
    assert rec["json"] == parsed
    assert rec["data"] == payload.decode()


@pytest.mark.parametrize("payload", [b"{not json", b"true story", b"1e400", b"[1,]", b"nan"])
def test_encode_no_json_field_for_non_json(payload: bytes) -> None:
    rec = record(Event("nats", "s", payload, TS))
    assert "json" not in rec
    assert rec["data"] == payload.decode()


def test_encode_lone_surrogate_does_not_crash() -> None:
    rec = record(Event("nats", "a.\udcff", b"x", TS, headers=(("h\ud800", b"v"),)))
    assert rec["subject"] == "a.\ufffd"
    assert rec["headers"] == [["h\ufffd", "v"]]


def test_encode_bad_timestamp_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="timestamp"):
        encode_record(Event("nats", "s", b"", float("nan")))


# --------------------------------------------------------------------------- decode


def valid() -> dict[str, Any]:
    return {
        "source": "kafka",
        "subject": "orders",
        "stream": None,
        "partition": 1,
        "offset": 9,
        "timestamp": "2024-05-01T12:00:00.123Z",
        "key": "k",
        "headers": [["a", "1"], ["b", {"b64": "/w=="}]],
        "size": 2,
        "data": "hi",
    }


def test_decode_valid_record() -> None:
    ev = decode_record(orjson.dumps(valid()))
    assert ev == Event(
        "kafka",
        "orders",
        b"hi",
        TS,
        headers=(("a", b"1"), ("b", b"\xff")),
        key=b"k",
        partition=1,
        offset=9,
    )
    assert decode_record(orjson.dumps(valid()).decode()) == ev


def test_decode_is_lenient_about_optional_fields() -> None:
    rec = {"source": "nats", "subject": "a.b", "timestamp": TS, "data": "x", "extra": [1]}
    assert decode_record(orjson.dumps(rec)) == Event("nats", "a.b", b"x", TS)


def test_decode_ignores_json_and_size() -> None:
    rec = valid() | {"json": {"something": "else"}, "size": 999}
    assert decode_record(orjson.dumps(rec)).payload == b"hi"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": "redis"}, "source"),
        ({"source": None}, "source"),
        ({"subject": ""}, "subject"),
        ({"subject": 5}, "subject"),
        ({"stream": 1}, "stream"),
        ({"partition": -1}, "partition"),
        ({"partition": True}, "partition"),
        ({"partition": 1.5}, "partition"),
        ({"offset": "9"}, "offset"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": None}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"key": 5}, "key"),
        ({"key_b64": "!!"}, "key_b64"),
        ({"key_b64": 5}, "key_b64"),
        ({"key_b64": "AA=="}, "key_b64"),  # together with key
        ({"headers": {"a": "b"}}, "headers"),
        ({"headers": [["a"]]}, "headers"),
        ({"headers": [[1, "b"]]}, "headers"),
        ({"headers": [["a", 1]]}, "headers"),
        ({"headers": [["a", {"b64": "é"}]]}, "headers"),
        ({"headers": [["a", {"hex": "00"}]]}, "headers"),
        ({"size": -1}, "size"),
        ({"data": 5}, "data"),
        ({"data_b64": "AA=="}, "data"),  # together with data
        ({"data": None, "data_b64": None}, "data"),
    ],
)
def test_decode_names_the_bad_field(change: dict[str, Any], field: str) -> None:
    rec = valid() | change
    with pytest.raises(RecordError, match=f"^{field}:"):
        decode_record(orjson.dumps(rec))


def test_decode_requires_a_payload_field() -> None:
    rec = valid()
    del rec["data"]
    with pytest.raises(RecordError, match=r"^data:"):
        decode_record(orjson.dumps(rec))


def test_decode_b64_fields() -> None:
    rec = valid() | {"key": None, "key_b64": "gAA="}
    del rec["data"]
    rec["data_b64"] = "AP8Q"
    ev = decode_record(orjson.dumps(rec))
    assert (ev.key, ev.payload) == (b"\x80\x00", b"\x00\xff\x10")


@pytest.mark.parametrize(
    "line", [b"", b"{", b"[]", b"42", b'"x"', b"\xff\xfe", "{\ud800}", b"null", b"{}"]
)
def test_decode_rejects_garbage(line: bytes | str) -> None:
    with pytest.raises(RecordError):
        decode_record(line)


# --------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
names = st.text(min_size=1, max_size=20)
payloads = st.one_of(
    st.none(),
    st.just(b""),
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    json_values.map(
        lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2 if isinstance(v, list) else 0)
    ),
)
events = st.builds(
    Event,
    source=st.sampled_from(["nats", "kafka"]),
    subject=names,
    payload=payloads,
    timestamp=st.floats(min_value=-62135596800.0, max_value=253402300799.999),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "Ünï", ""]) | st.text(max_size=8), st.binary(max_size=8)
        ),
        max_size=6,
    ).map(tuple),
    key=st.none() | st.binary(max_size=16) | st.text(max_size=16).map(str.encode),
    stream=st.none() | st.text(max_size=10),
    partition=st.none() | st.integers(min_value=0, max_value=2**31 - 1),
    offset=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
)


@settings(max_examples=500)
@given(events)
def test_round_trip_is_exact(ev: Event) -> None:
    line = encode_record(ev)
    assert b"\n" not in line and b"\r" not in line
    back = decode_record(line)
    assert back == dataclasses.replace(ev, timestamp=round(ev.timestamp * 1000) / 1000)
    assert encode_record(back) == line


record_fields = st.sampled_from(
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
    ]
)


@st.composite
def damaged_records(draw: st.DrawFn) -> bytes:
    rec = orjson.loads(encode_record(draw(events)))
    for _ in range(draw(st.integers(1, 3))):
        field = draw(record_fields)
        if draw(st.booleans()):
            rec.pop(field, None)
        else:
            rec[field] = draw(json_values)
    return orjson.dumps(rec)


@settings(max_examples=500)
@given(st.one_of(st.binary(), st.text(), json_values.map(orjson.dumps), damaged_records()))
def test_decode_only_raises_record_error(line: bytes | str) -> None:
    try:
        ev = decode_record(line)
    except RecordError:
        return
    assert isinstance(ev, Event)


# --------------------------------------------------------------------------- display


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (None, PayloadKind.TOMBSTONE),
        (b"", PayloadKind.EMPTY),
        (b'{"a": 1}', PayloadKind.JSON),
        (b"  [1, 2]\n", PayloadKind.JSON),
        (b"42", PayloadKind.TEXT),  # scalars read better as text
        (b'"quoted"', PayloadKind.TEXT),
        (b"{broken", PayloadKind.TEXT),
        (b"line 1\n\tline 2\r\n", PayloadKind.TEXT),
        ("grüße".encode(), PayloadKind.TEXT),
        (b"\x1b[31mred", PayloadKind.BINARY),
        (b"a\x00b", PayloadKind.BINARY),
        (b"\xff\xfe", PayloadKind.BINARY),
        ("\u009b".encode(), PayloadKind.BINARY),
    ],
)
def test_classify(payload: bytes | None, kind: PayloadKind) -> None:
    assert classify(payload) is kind


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("orders.eu", "orders.eu"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("tab\there\nnew\rret", "tab\\there\\nnew\\rret"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
        ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
        ("lone\udcff", "lone\\udcff"),
        ("ünïcødé ✓ 日本", "ünïcødé ✓ 日本"),
    ],
)
def test_safe_text(text: str, shown: str) -> None:
    assert safe_text(text) == shown


UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_safe_text_is_always_inert(text: str) -> None:
    assert UNSAFE.search(safe_text(text)) is None


def test_preview_markers_and_text() -> None:
    assert preview(None, 40) == "<tombstone>"
    assert preview(b"", 40) == "<empty>"
    assert preview(b"  \n ", 40) == "<blank 4 B>"
    assert preview(b'{\n  "a": 1,\n\t"b": [1, 2]\n}', 80) == '{ "a": 1, "b": [1, 2] }'
    assert preview(b"\x1b[31mred\x1b[0m alert", 80) == "\\x1b[31mred\\x1b[0m alert"
    assert preview(b"abcdefghij", 5) == "abcd…"
    assert preview(b"abcde", 5) == "abcde"
    assert preview(b"abc", 0) == ""


def test_preview_binary_is_hex() -> None:
    assert preview(b"\x00\xff\x10", 40) == "<binary 3 B: 00 ff 10>"
    shown = preview(bytes(range(100)), 40)
    assert shown == "<binary 100 B: 00 01 02 03 04 05 06 …>"
    assert len(shown) <= 40
    assert preview(b"\xff" * 3000, 30).startswith("<binary 2.9 KiB: ff ff")
    assert preview(b"\x00" * 10, 12) == "<binary 10…"


def test_preview_large_payload_is_cut() -> None:
    big = ("word " * 300_000).encode()  # 1.5 MB
    shown = preview(big, 50)
    assert len(shown) == 50
    assert shown.endswith("…")
    assert shown.startswith("word word")
    # A multibyte character cut at the look-ahead budget is not mistaken for binary.
    assert preview(("é" * 10_000).encode(), 20) == "é" * 19 + "…"


@given(st.binary(max_size=600) | st.none(), st.integers(min_value=1, max_value=200))
def test_preview_fits_and_is_inert(payload: bytes | None, width: int) -> None:
    shown = preview(payload, width)
    assert 0 < len(shown) <= width
    assert UNSAFE.search(shown) is None
    assert "\n" not in shown


def test_hexdump_classic_layout() -> None:
    dump = hexdump(b"Hello, world!\n\x00\xffABCDEFGH", 1024)
    assert dump.splitlines() == [
        "00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 ff  |Hello, world!...|",
        "00000010  41 42 43 44 45 46 47 48                           |ABCDEFGH|",
    ]
    assert hexdump(bytes(40), 20).count("\n") == 1  # only 20 bytes: two lines
    assert hexdump(b"", 10) == ""


def test_pretty() -> None:
    assert pretty(None) == ("<tombstone>", False)
    assert pretty(b"") == ("<empty>", False)
    assert pretty(b'{"a":[1,{"b":null}],"c":"\xc2\x9b"}') == (
        '{\n  "a": [\n    1,\n    {\n      "b": null\n    }\n  ],\n  "c": "\\x9b"\n}',
        False,
    )
    assert pretty(b"line 1\r\nline\t2\n") == ("line 1\nline\t2\n", False)
    assert pretty(b"\x1b[31mred") == (hexdump(b"\x1b[31mred"), False)
    text, cut = pretty(b"x" * 100, limit=10)
    assert (text, cut) == ("x" * 10, True)
    text, cut = pretty(b'{"a": "' + b"x" * 100 + b'"}', limit=10)
    assert (text, cut) == ('{"a": "xxx', True)
    text, cut = pretty(bytes(100), limit=32)
    assert cut and text.count("\n") == 1


def test_text_line() -> None:
    kafka = Event("kafka", "orders", b'{"id": 1}', TS, key=b"user-7", partition=2, offset=1041)
    assert text_line(kafka) == ('12:00:00.123 kafka orders p2@1041 key=user-7 size=9B {"id": 1}')
    js = Event("nats", "orders.eu", b"hi\x1b]0;pwned\x07", TS, stream="ORDERS", offset=17)
    assert text_line(js) == "12:00:00.123 nats orders.eu ORDERS#17 size=12B hi\\x1b]0;pwned\\x07"
    core = Event("nats", "a\x1bb", None, TS)
    assert text_line(core) == "12:00:00.123 nats a\\x1bb size=0B <tombstone>"
    binkey = Event("kafka", "t", b"", TS, key=b"\xff\x01", partition=0, offset=0)
    assert text_line(binkey) == "12:00:00.123 kafka t p0@0 key=0xff01 size=0B <empty>"
    spaced = Event("kafka", "t", b"x", TS, key=b'a "b"', partition=0, offset=0)
    assert 'key="a \\"b\\""' in text_line(spaced)


def test_text_line_width() -> None:
    ev = Event("nats", "s", b"y" * 1000, TS)
    assert len(text_line(ev, width=80)) == 80
    assert len(text_line(ev)) == 160
