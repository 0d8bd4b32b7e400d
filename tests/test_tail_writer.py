"""TailWriter: one event that cannot be encoded is skipped and counted; the rest are written."""

from __future__ import annotations

import io

from evmon.codec import decode_record, encode_records
from evmon.commands.tail import TailWriter
from evmon.model import Event


def test_an_unencodable_event_is_skipped_and_the_batch_is_written() -> None:
    out = io.BytesIO()
    writer = TailWriter(out, encode_records, count=None)
    good = [Event("nats", f"a.{i}", b'{"i":%d}' % i, 1_700_000_000.0 + i) for i in range(3)]
    bad = Event("nats", "a.bad", b"{}", float("nan"))
    writer.extend([good[0], bad, good[1], good[2]])
    writer.flush()
    lines = out.getvalue().splitlines()
    assert [decode_record(line) for line in lines] == good
    assert writer.unencodable == 1
    assert writer.written == 3


def test_count_stops_after_exactly_n_events() -> None:
    out = io.BytesIO()
    writer = TailWriter(out, encode_records, count=2)
    events = [Event("kafka", "t", b"x%d" % i, 1.0, (), None, None, 0, i) for i in range(5)]
    for ev in events:
        writer.append(ev)
    writer.flush()
    assert [decode_record(line) for line in out.getvalue().splitlines()] == events[:2]
    assert writer.done.is_set()


def _wire_run(values: list[tuple[int, bytes]]) -> list[object]:
    """Real aiokafka wire records (offset i, the given timestamp and value) in one run."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    from tests.kafka_kit import runs_of

    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    for i, (ms, value) in enumerate(values):
        builder.append(i, ms, None, value, [])
    [run] = runs_of(bytes(builder.build()))
    return list(run)


def test_kafka_runs_are_written_after_the_events_before_them_and_counted() -> None:
    """``extend_kafka``: queued events first (arrival order), then the run's lines, exactly
    ``count`` in all; the same bytes as the run's events would have."""
    from evmon.sources.kafka.lines import encode_run
    from evmon.sources.kafka.records import run_events

    out = io.BytesIO()
    writer = TailWriter(out, encode_records, count=4, wire=encode_run)
    assert writer.extend_kafka is not None
    nats = Event("nats", "a.b", b'{"n":1}', 1_700_000_000.5)
    writer.append(nats)
    run = _wire_run([(1_700_000_000_000 + i, b'{"k":%d}' % i) for i in range(5)])
    assert writer.extend_kafka("t", 0, run) == 0
    lines = out.getvalue().splitlines()
    assert lines == encode_records([nats, *run_events("t", 0, run)[0][:3]])
    assert writer.written == 4 and writer.done.is_set()


def test_a_wire_record_that_cannot_be_written_is_skipped_once_and_counted() -> None:
    from evmon.sources.kafka.lines import encode_run

    out = io.BytesIO()
    writer = TailWriter(out, encode_records, wire=encode_run)
    assert writer.extend_kafka is not None
    last_ms = 253_402_300_799_999
    run = _wire_run([(1, b"{}"), (last_ms + 1, b"{}"), (last_ms, b'"x"')])
    assert writer.extend_kafka("t", 0, run) == 0
    assert [decode_record(line).offset for line in out.getvalue().splitlines()] == [0, 2]
    assert writer.unencodable == 1


def test_no_wire_path_when_events_are_judged() -> None:
    """A filter or a lens needs events: the Kafka source then makes them."""
    from evmon.filter import parse_filter
    from evmon.lenses import Lens, parse_dedupe_key
    from evmon.sources.kafka.lines import encode_run

    out = io.BytesIO()
    assert TailWriter(out, encode_records).extend_kafka is None
    flt = parse_filter("a.>")
    assert TailWriter(out, encode_records, flt, wire=encode_run).extend_kafka is None
    lens = Lens(parse_dedupe_key(None), dedupe=True, drift=False)
    assert TailWriter(out, encode_records, lens=lens, wire=encode_run).extend_kafka is None
