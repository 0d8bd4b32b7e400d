"""JSON lines written straight from Kafka wire records (``sources/kafka/lines.py``) are,
byte for byte, the records ``codec.encode_records`` writes for the same records' events.

Broker-free but real: the records are aiokafka's own, decoded from record batches built
with aiokafka's batch builder and unpacked by evmon's runs (``records.py``), from the same
fuzzed payloads, keys and headers as ``test_codec_golden.py`` and with Kafka's timestamps:
runs of one millisecond, -1 (no timestamp: the receive time), the epoch, the last
millisecond RFC 3339 can write and the first it cannot.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

from evmon.codec.record import encode_records
from evmon.model import Event
from evmon.sources.kafka import records
from evmon.sources.kafka.lines import encode_run
from tests.kafka_kit import runs_of
from tests.test_codec_golden import _headers, _key, _payload

LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _stamps(rng: random.Random, count: int) -> list[int]:
    ms = 1_700_000_000_000
    out = []
    for _ in range(count):
        if rng.random() < 0.2:
            ms = rng.choice([ms + rng.randrange(0, 1500), -1, 0, 1, LAST_MS, LAST_MS + 1])
            if ms in (-1, LAST_MS + 1):
                out.append(ms)
                ms = 1_700_000_000_000
                continue
        out.append(ms)
    return out


def _wire_runs(seed: int, count: int) -> list[Any]:
    """The corpus as aiokafka's wire records, in runs as ``KafkaSource`` gets them."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    rng = random.Random(seed)
    raw = b""
    offset = 0
    stamps = _stamps(rng, count)
    while offset < count:
        builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 24)
        n = min(rng.choice([1, 3, 40, 200, 700]), count - offset)
        for i in range(n):
            headers = [(name, value) for name, value in _headers(rng)]
            builder.append(i, stamps[offset + i], _key(rng), _payload(rng), headers)
        raw += struct.pack(">q", offset) + bytes(builder.build())[8:]
        offset += n
    return runs_of(raw, "orders", 2)


def _encoded(events: list[Event]) -> list[bytes]:
    out = []
    for ev in events:
        try:
            out += encode_records([ev])
        except Exception as err:  # the tail skips it, and says so once
            out.append(b"!" + type(err).__name__.encode())
    return out


def _lines(run: list[Any]) -> tuple[list[bytes], int]:
    out: list[bytes] = []
    failed = encode_run("orders", 2, run, out.append, lambda ev: out.extend(_encoded([ev])))
    return out, failed


@pytest.mark.parametrize("seed", range(3))
def test_lines_from_wire_records_are_the_records_of_their_events(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "_now", lambda: 1_800_000_000.25)  # -1: the receive time
    runs = _wire_runs(seed, 3000)
    assert sum(len(run) for run in runs) == 3000
    written = reference = 0
    for run in runs:
        events, failed = records.run_events("orders", 2, run)
        assert failed == 0
        lines, failed = _lines(run)
        assert failed == 0
        assert lines == _encoded(events)
        written += len(lines)
        reference += sum(1 for line in lines if not line.startswith(b"!"))
    assert written == 3000
    assert 0 < reference < 3000  # the last millisecond + 1 cannot be written


def test_the_common_record_takes_the_wire_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-line JSON value with a UTF-8 or no key and no headers never becomes an
    ``Event``; everything else does (and is written the same way)."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    cases = [
        (None, b'{"a":"q\\"t\\tb"}', []),  # wire
        (b"k\xc3\xa9", b'[1,"\xc3\xa9"]', []),  # wire
        (b"\xff", b"{}", []),  # key_b64: event
        (None, b'{"a":1}', [("h", b"1")]),  # headers: event
        (None, b'{"a":\n1}', []),  # multi-line JSON: event
        (None, b"{not json", []),  # event
        (None, None, []),  # tombstone: event
    ]
    for i, (key, value, headers) in enumerate(cases):
        builder.append(i, 1_700_000_000_000 + i, key, value, headers)
    [run] = runs_of(bytes(builder.build()))
    general: list[int | None] = []
    out: list[bytes] = []

    def event_path(ev: Event) -> None:
        general.append(ev.offset)
        out.extend(encode_records([ev]))

    assert encode_run("t", 0, run, out.append, event_path) == 0
    assert general == [2, 3, 4, 5, 6]
    assert out == encode_records(records.run_events("t", 0, run)[0])
    assert out[0] == (
        b'{"source":"kafka","subject":"t","stream":null,"partition":0,"offset":0,'
        b'"timestamp":"2023-11-14T22:13:20.000Z","key":null,"headers":[],"size":15,'
        b'"data":"{\\"a\\":\\"q\\\\\\"t\\\\tb\\"}","json":{"a":"q\\"t\\tb"}}'
    )


def test_an_item_that_is_no_record_is_left_out_and_counted() -> None:
    run = [r for some in _wire_runs(7, 5) for r in some]
    odd = records.RecordRun([run[0], object(), run[2], object(), run[4]])
    lines, failed = _lines(odd)
    assert failed == 2
    assert lines == _lines(records.RecordRun([run[0], run[2], run[4]]))[0]


@pytest.mark.parametrize("ms", [-1, LAST_MS + 1])
def test_a_run_that_starts_without_a_writable_timestamp(
    ms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first record of a run has no broker time (-1) or one past 9999: the event path
    (the receive time; an error the tail reports), never a line with no timestamp."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    monkeypatch.setattr(records, "_now", lambda: 1_800_000_000.25)
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    builder.append(0, ms, None, b'{"n":0}', [])
    builder.append(1, ms, None, b'{"n":1}', [])
    [run] = runs_of(bytes(builder.build()))
    general: list[int | None] = []
    out: list[bytes] = []

    def event_path(ev: Event) -> None:
        general.append(ev.offset)
        out.extend(_encoded([ev]))

    assert encode_run("t", 0, run, out.append, event_path) == 0
    assert general == [0, 1]
    assert out == _encoded(records.run_events("t", 0, run)[0])
    if ms == -1:
        assert b'"timestamp":"2027-01-15T08:00:00.250Z"' in out[0]
