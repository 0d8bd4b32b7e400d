"""Leaving fast without losing anything (issue 14): ``evmon tail`` writes and flushes what
it read before it closes the sources, closes them at once with a bound (a close that hangs
is cancelled, the others still finish), and a Kafka read of ``-n N`` stops reading once
its N records are out. ``q`` in the dashboard closes its sources the same way. No timing
is asserted: only what happened, in which order."""

from __future__ import annotations

import asyncio
import io
import subprocess

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evmon.codec.record import encode_records
from evmon.commands.tail import TailWriter, close_sources
from evmon.config import KafkaSettings
from evmon.filter import parse_filter
from evmon.model import Event
from evmon.selection import Start
from evmon.sources.kafka.tail import KafkaSource
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec
from tests.helpers import evmon_cmd
from tests.waiting import async_wait_for


class ScriptedSource:
    """A source whose close either finishes or never does (a broker that froze)."""

    def __init__(self, log: list[str], name: str, hang: bool = False) -> None:
        self.log, self.name, self.hang = log, name, hang

    async def start(self, wait: float | None = 10.0) -> None:
        self.log.append(f"{self.name} started")

    async def close(self) -> None:
        self.log.append(f"{self.name} closing")
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.log.append(f"{self.name} cancelled")
                raise
        self.log.append(f"{self.name} closed")


async def test_close_sources_cancels_a_close_that_hangs_and_finishes_the_others() -> None:
    log: list[str] = []
    sources = [ScriptedSource(log, "nats"), ScriptedSource(log, "kafka", hang=True)]
    await close_sources(sources, wait=0.05)
    assert "nats closed" in log
    assert "kafka cancelled" in log and "kafka closed" not in log


async def test_close_sources_without_sources() -> None:
    await close_sources([])


def test_writer_limit_is_the_count_only_without_a_filter() -> None:
    out = io.BytesIO()
    assert TailWriter(out, encode_records, count=5).limit == 5
    assert TailWriter(out, encode_records).limit is None
    flt = parse_filter("orders.>")
    assert TailWriter(out, encode_records, flt, count=5).limit is None


async def test_q_does_not_wait_for_a_close_that_hangs() -> None:
    log: list[str] = []
    made: list[ScriptedSource] = []

    def make(sink: object, on_status: object) -> ScriptedSource:
        made.append(ScriptedSource(log, f"s{len(made)}", hang=not made))
        return made[-1]

    specs = [SourceSpec("kafka", "fake://a", make), SourceSpec("nats", "fake://b", make)]
    app = EvmonApp(EventStore(10), specs, blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await async_wait_for(lambda: len(app.sources) == 2, message="both sources opened")
        await pilot.press("q")
        await async_wait_for(lambda: "s0 cancelled" in log, message="the hanging close cut")
    assert "s1 closed" in log
    assert app.return_code == 0


# ------------------------------------------------------------------- real Kafka


async def _fill(bootstrap: str, topic: str, per_partition: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, orjson.dumps({"p": p, "i": i}), partition=p)
            for p in range(3)
            for i in range(per_partition)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_kafka_read_of_n_stops_once_the_writer_has_them(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}-n"
    await _fill(kafka_bootstrap, topic, 2_000)
    out = io.BytesIO()
    writer = TailWriter(out, encode_records, count=3)
    source = KafkaSource(
        KafkaSettings(bootstrap=kafka_bootstrap), writer, topics=[topic], start=Start("first")
    )
    assert source.limit == 3
    await source.start()
    try:
        await asyncio.wait_for(writer.done.wait(), 60)
        task = source._task
        assert task is not None
        # The read loop ends by itself: nothing more is fetched or unpacked for the tail.
        await async_wait_for(task.done, message="the Kafka read loop stopped")
        assert not task.cancelled() and task.exception() is None
    finally:
        await source.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    for line in lines:
        rec = orjson.loads(line)
        assert rec["subject"] == topic and rec["json"]["p"] == rec["partition"]


def test_tail_n_writes_exactly_n_records_from_the_start_of_each_partition(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}-cli"
    asyncio.run(_fill(kafka_bootstrap, topic, 3_000))
    cmd = evmon_cmd("tail", "--kafka", kafka_bootstrap, "-t", topic)
    cmd += ["--from", "first", "-n", "5", "--format", "jsonl"]
    proc = subprocess.run(cmd, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    records = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) == 5
    by_partition: dict[int, list[int]] = {}
    for rec in records:
        by_partition.setdefault(rec["partition"], []).append(rec["offset"])
        assert rec["json"]["i"] == rec["offset"]  # each partition read from its first record
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))


def test_event_type_is_what_the_writer_encodes() -> None:
    """The writer's limit does not change the bytes: one event, the same line either way."""
    ev = Event("kafka", "t", b'{"a":1}', 1_700_000_000.0, partition=0, offset=7)
    a, b = io.BytesIO(), io.BytesIO()
    for out, count in ((a, 1), (b, None)):
        w = TailWriter(out, encode_records, count=count)
        w.append(ev)
        w.drain()
    assert a.getvalue() == b.getvalue() == encode_records([ev])[0] + b"\n"
