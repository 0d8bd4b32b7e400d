"""The JSONL records of a varied, fuzzed corpus, byte for byte as the encoder wrote them
before issue 14's fast-path changes (the digest below), and as the dict-built reference
writes each one.

The corpus is generated from a fixed seed: Kafka and NATS events with binary and invalid
UTF-8 payloads, tombstones, empty payloads, headers with repeated names and binary values,
keys (none, text, binary), one-line and multi-line JSON, nested JSON, JSON scalars, text
that only starts like JSON, hostile escapes (quotes, backslashes, tabs, U+2028, C1 and bidi
controls, escaped lone surrogates, raw control bytes), huge payloads, big numbers, odd
subjects, and timestamps in runs (Kafka's records of a batch share a millisecond), at
half-millisecond boundaries and before 1970. ``encode_records`` sees it in batches of
random sizes, so what it reuses from one record to the next is crossed in every way.
"""

from __future__ import annotations

import hashlib
import random

import orjson
import pytest

from evmon.codec.record import RecordError, encode_record, encode_records, reference_record
from evmon.model import Event, Source

#: sha256 of the corpus's records (newline-joined) written by encode_records at 8ceb4f6,
#: before the timestamp, head and size reuse of issue 14.
# The 744 events of the corpus with a subject that is not UTF-8 were "!TypeError" (lost by
# the tail) until the batch path wrote them as the reference does; every other line is the
# bytes of the encoder before issue 14's changes.
GOLDEN = "ce871e8d488be6883781e043d74b1351230c202a450e509579c2a3b18c2ef7fc"
COUNT = 6000

_TEXTS = [
    "plain", 'quote " and \\ backslash', "tab\there", "line\u2028sep", "nul \u0000 esc",
    "c1 \u0085 bidi \u202e x", "emoji \U0001f600", "é ü ß", "", " ", "\\u0041", "</script>",
]  # fmt: skip


def _json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(_TEXTS)
    if kind == 1:
        return rng.randrange(-(10**6), 10**6)
    if kind == 2:
        return rng.choice([0.5, -1.25, 1e-7, 123456.789, 2**53])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(8)))
    if kind in (5, 6):
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(_TEXTS) + str(i): _json_value(rng, depth + 1) for i in range(rng.randrange(5))
    }


def _payload(rng: random.Random) -> bytes | None:
    kind = rng.randrange(22)
    value = _json_value(rng)
    if kind == 0:
        return None  # a tombstone
    if kind == 1:
        return b""
    if kind == 2:
        return rng.randbytes(rng.randrange(1, 60))
    if kind == 3:
        return b'{"a":"\xff\xfe"}'  # invalid UTF-8 inside JSON
    if kind == 4:
        return orjson.dumps({"v": value}, option=orjson.OPT_INDENT_2)  # multi-line
    if kind == 5:
        return b" \t" + orjson.dumps([value]) + b" "  # whitespace around
    if kind == 6:
        return orjson.dumps({"v": value}).replace(b",", b",\t")
    if kind == 7:
        return rng.choice([b"123", b'"text"', b"true", b"null", b"-0.5e3", b"1e400"])
    if kind == 8:
        return rng.choice([b"{", b"[1,", b'{"a":1}x', b"{}", b"[]", b"[}", b'{"a":1}\x00'])
    if kind == 9:
        return rng.choice([b'{"s":"\\ud800"}', b'["\\udfff x"]', b'{"s":"\\u2028\\u0000"}'])
    if kind == 10:
        return b'{"ctl":"' + bytes([rng.randrange(0, 32)]) + b'"}'  # raw control: not JSON
    if kind == 11:
        return b'{"big":' + str(2**70).encode() + b',"neg":-' + str(2**64).encode() + b"}"
    if kind == 12 and rng.random() < 0.05:
        return orjson.dumps({"pad": "x" * 1_100_000, "n": [1, 2, 3]})  # huge
    if kind == 13:
        return "text with é and \u202e".encode()
    if kind == 14:
        return b"\r\n" + orjson.dumps({"v": 1})
    return orjson.dumps({"id": rng.randrange(10**9), "v": value, "t": rng.choice(_TEXTS)})


def _key(rng: random.Random) -> bytes | None:
    return rng.choice([None, None, b"", b"k1", "ключ".encode(), b"\xff\x00k", b'"q"\\'])


def _headers(rng: random.Random) -> tuple[tuple[str, bytes], ...]:
    if rng.random() < 0.8:
        return ()
    return tuple(
        (rng.choice(["A", "A", "Nats-Msg-Id", "é", "x-bin"]), rng.choice([b"1", b"\xff", b""]))
        for _ in range(rng.randrange(1, 4))
    )


def corpus(seed: int = 14, count: int = COUNT) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    ms = 1_700_000_000_000
    ts = ms / 1000.0
    for i in range(count):
        if rng.random() < 0.3:  # a new timestamp; else the last one again (a Kafka batch)
            ms += rng.randrange(0, 3)
            ts = rng.choice(
                [
                    ms / 1000.0,
                    (ms * 1_000_000 + rng.randrange(10**6)) / 1e9,  # a JetStream stamp
                    ms / 1000.0 + 0.0005,  # half a millisecond: round() decides
                    -1.5 + rng.random(),  # before 1970
                    0.0,
                ]
            )
        source: Source
        if rng.random() < 0.5:
            source, stream = "kafka", None
            subject = rng.choice(["orders", "orders", "t-é", "a.b"])
            partition: int | None = rng.choice([0, 0, 1, 2, 300])
        else:
            source, partition = "nats", None
            subject = rng.choice(
                [
                    "bench.eu.paid",
                    "bench.us.paid",
                    "sub\x0bject",
                    b"bad\xff".decode("utf-8", "surrogateescape"),
                ]
            )
            stream = rng.choice([None, "ORDERS", "S"])
        offset = rng.choice([None, i, 2**62 + i])
        events.append(
            Event(
                source,
                subject,
                _payload(rng),
                ts,
                _headers(rng),
                _key(rng),
                stream,
                partition,
                offset,
            )
        )
    return events


def _batched(events: list[Event], rng: random.Random) -> list[bytes]:
    """As the tail writes them: batches, and a batch that raises encoded one by one, an
    event that cannot be encoded written as ``!ErrorName`` here (the tail skips it)."""
    out: list[bytes] = []
    i = 0
    while i < len(events):
        n = rng.choice([1, 2, 7, 50, 300, 2000])
        batch = events[i : i + n]
        try:
            out += encode_records(batch)
        except Exception:
            for ev in batch:
                try:
                    out += encode_records([ev])
                except Exception as err:
                    out.append(b"!" + type(err).__name__.encode())
        i += n
    return out


def test_the_records_are_the_golden_bytes() -> None:
    events = corpus()
    lines = _batched(events, random.Random(1))
    assert len(lines) == len(events)
    digest = hashlib.sha256(b"\n".join(lines)).hexdigest()
    assert digest == GOLDEN


@pytest.mark.parametrize("seed", range(4))
def test_batches_equal_the_reference_record_by_record(seed: int) -> None:
    events = corpus(seed=100 + seed, count=2500)
    lines = _batched(events, random.Random(seed))
    # A subject that is not UTF-8 (surrogate-escaped) is written with U+FFFD by both paths
    # (the batch path raised TypeError from the head and the tail lost the event, before).
    odd = [ev.subject != ev.subject.encode("utf-8", "replace").decode() for ev in events]
    assert lines == [reference_record(ev) for ev in events]
    plain = [ev for ev, o in zip(events, odd, strict=True) if not o][:200]
    assert encode_records(plain) == [encode_record(ev) for ev in plain]


def test_a_timestamp_out_of_range_is_an_error_in_a_batch_too() -> None:
    good = Event("kafka", "t", b"{}", 1.0, (), None, None, 0, 1)
    bad = Event("kafka", "t", b"{}", 1e20, (), None, None, 0, 2)
    with pytest.raises(RecordError):
        encode_records([good, bad])
