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
