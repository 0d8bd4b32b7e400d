"""Fault containment of the aiokafka record patch, against a real Kafka broker.

The patch (``evmon/sources/kafka/records.py``) makes aiokafka hand over runs of wire
records. If a new aiokafka stops calling it, ``getmany`` returns ``ConsumerRecord``s; if it
raises inside aiokafka's unpacking, ``getmany`` raises; if it gives something that is no
record, nothing can be shown of it. ``KafkaSource`` converts what it gets, says
"degraded: ..." once, loses no record and counts what it could not read. The faults are
injected by putting aiokafka's own ``PartitionRecords._unpack_records`` back, or by wrapping
the patch's ``records._runs``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.consumer import fetcher

from evmon.config import KafkaSettings
from evmon.model import ConnectionStatus, Event
from evmon.selection import Start
from evmon.sources.kafka import records
from evmon.sources.kafka.tail import KafkaSource
from tests.helpers import ListSink
from tests.kafka_kit import create_topic
from tests.waiting import async_wait_for

PER_PARTITION = 60
POISON_OFFSET = 23  # the record whose unpacking raises (on partition 1)


async def _produce(bootstrap: str, topic: str, start: int = 0) -> list[tuple[int, int]]:
    """``PER_PARTITION`` records to each of partitions 0 and 1, values ``p:i``, one header."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = []
        for i in range(start, start + PER_PARTITION):
            for p in (0, 1):
                value = b"%d:%d" % (p, i)
                sent.append(await producer.send(topic, value, partition=p, headers=[("h", b"1")]))
        metas = [await fut for fut in sent]
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metas]


def _check_every_record_once(sink: ListSink, topic: str, total: int) -> None:
    assert all(type(e) is Event for e in sink.events)
    for p in (0, 1):
        mine = [e for e in sink.events if e.partition == p]
        assert [e.offset for e in mine] == list(range(total))  # in order, no gap, no repeat
        assert [e.payload for e in mine] == [b"%d:%d" % (p, i) for i in range(total)]
        assert all(e.subject == topic and e.headers == (("h", b"1"),) for e in mine)
    assert sink.dropped == 0


async def _tail(
    bootstrap: str, topic: str, statuses: list[ConnectionStatus]
) -> tuple[KafkaSource, ListSink]:
    sink = ListSink()
    src = KafkaSource(
        KafkaSettings(bootstrap=bootstrap),
        sink,
        topics=[topic],
        start=Start("first"),
        on_status=statuses.append,
    )
    await src.start()
    return src, sink


async def test_records_that_are_not_events_are_converted(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patch no longer applies (aiokafka's own ``_unpack_records`` runs again):
    ``ConsumerRecord``s come back, and are converted to the same ``Event``s."""
    monkeypatch.setattr(fetcher.PartitionRecords, "_unpack_records", records._unpack_records)
    topic = f"{unique}-foreign"
    await create_topic(kafka_bootstrap, topic, partitions=2)
    await _produce(kafka_bootstrap, topic)
    statuses: list[ConnectionStatus] = []
    src, sink = await _tail(kafka_bootstrap, topic, statuses)
    try:
        await async_wait_for(lambda: len(sink.events) >= 2 * PER_PARTITION, timeout=30)
        await _produce(kafka_bootstrap, topic, start=PER_PARTITION)  # and later ones too
        await async_wait_for(lambda: len(sink.events) >= 4 * PER_PARTITION, timeout=30)
    finally:
        summary = src.summary()
        await src.close()
    _check_every_record_once(sink, topic, 2 * PER_PARTITION)
    degraded = [s for s in statuses if s.detail.startswith("degraded: ")]
    assert len(degraded) == 1 and degraded[0].state == "connected"  # said once
    assert "record patch gave ConsumerRecord, not RecordRun" in degraded[0].detail
    assert src.converted_records == 4 * PER_PARTITION
    assert summary.startswith("Kafka: the aiokafka record patch gave ConsumerRecord")


async def test_a_patch_that_raises_is_turned_off_without_losing_records(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patch raises inside aiokafka's unpacking (in the middle of a batch): it is turned
    off for the consumer, and reading resumes at the first record evmon had not shown."""
    patched = records._runs

    def raising(self: Any) -> Any:
        for run in patched(self):
            if self._tp.partition == 1 and any(r.offset == POISON_OFFSET for r in run):
                raise RuntimeError("injected\nfault")
            yield run

    monkeypatch.setattr(records, "_runs", raising)
    topic = f"{unique}-raise"
    await create_topic(kafka_bootstrap, topic, partitions=2)
    await _produce(kafka_bootstrap, topic)
    statuses: list[ConnectionStatus] = []
    src, sink = await _tail(kafka_bootstrap, topic, statuses)
    try:
        await async_wait_for(lambda: len(sink.events) >= 2 * PER_PARTITION, timeout=30)
        await _produce(kafka_bootstrap, topic, start=PER_PARTITION)
        await async_wait_for(lambda: len(sink.events) >= 4 * PER_PARTITION, timeout=30)
    finally:
        await src.close()
    _check_every_record_once(sink, topic, 2 * PER_PARTITION)
    degraded = [s for s in statuses if s.detail.startswith("degraded: ")]
    assert len(degraded) == 1 and degraded[0].state == "connected"
    assert "record patch failed (RuntimeError: injected fault)" in degraded[0].detail
    assert not any(s.state == "reconnecting" for s in statuses)


#: ``evmon tail`` with the patch not applying (aiokafka's own ``_unpack_records``).
_FOREIGN_TAIL = """
import sys
from aiokafka.consumer import fetcher
from evmon.sources.kafka import records
fetcher.PartitionRecords._unpack_records = records._unpack_records
from evmon.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _tail_cli(
    script: str, bootstrap: str, topic: str, n: int, fmt: str = "text"
) -> tuple[list[str], str]:
    """``evmon tail -n N --format FMT`` of ``topic`` (two partitions of ``_produce``'s
    records) run by ``script``, which injects the fault first: the payloads printed, sorted,
    and stderr. JSON lines are written from the wire records (``sources/kafka/lines.py``),
    text lines from events."""

    async def prepare() -> None:
        await create_topic(bootstrap, topic, partitions=2)
        await _produce(bootstrap, topic)

    asyncio.run(prepare())
    args = ["tail", "--kafka", bootstrap, "-t", topic, "--from", "first", "-n", str(n)]
    args += ["--format", fmt]
    res = subprocess.run(
        [sys.executable, "-c", script, *args, "--timeout", "60"],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    if fmt == "jsonl":
        return sorted(json.loads(line)["data"] for line in lines), res.stderr.decode()
    return sorted(line.rsplit(" ", 1)[-1] for line in lines), res.stderr.decode()


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_tail_warns_once_on_stderr(kafka_bootstrap: str, unique: str, fmt: str) -> None:
    n = 2 * PER_PARTITION
    payloads, err = _tail_cli(_FOREIGN_TAIL, kafka_bootstrap, f"{unique}-cli", n, fmt)
    assert payloads == sorted(f"{p}:{i}" for p in (0, 1) for i in range(PER_PARTITION))
    said = [line for line in err.splitlines() if "degraded: " in line]
    assert len(said) == 1, err
    assert "connected: degraded: the aiokafka record patch gave ConsumerRecord" in said[0]


#: ``evmon tail`` with the patch giving something that is no record at all for one offset.
_UNCONVERTIBLE_TAIL = """
import sys
from evmon.sources.kafka import records
runs = records._runs
def odd(self):
    for run in runs(self):
        if self._tp.partition == 1:  # no timestamp, no value: nothing to convert
            run = records.RecordRun(object() if r.offset == POISON_OFFSET else r for r in run)
        yield run
records._runs = odd
from evmon.cli import main
sys.exit(main(sys.argv[1:]))
""".replace("POISON_OFFSET", str(POISON_OFFSET))


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_an_unconvertible_record_is_said_in_kafka_words(
    kafka_bootstrap: str, unique: str, fmt: str
) -> None:
    """The record evmon could not convert is counted as a Kafka drop, not as "dropped by
    the NATS client (slow consumer)" (one sink counts both), whether lines are written from
    events or straight from the wire records."""
    n = 2 * PER_PARTITION - 1
    payloads, err = _tail_cli(_UNCONVERTIBLE_TAIL, kafka_bootstrap, f"{unique}-odd", n, fmt)
    expected = [f"{p}:{i}" for p in (0, 1) for i in range(PER_PARTITION)]
    expected.remove(f"1:{POISON_OFFSET}")
    assert payloads == sorted(expected)
    assert "NATS" not in err, err
    said = [line for line in err.splitlines() if "dropped" in line]
    assert said == [
        "evmon: 1 Kafka record dropped: aiokafka gave what evmon could not convert to an event"
    ], err
    assert "1 left out" in err  # the source's own summary line agrees
