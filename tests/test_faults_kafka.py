"""Kafka faults against an owned broker: a restart during a tail, and a broker that never
comes back."""

from __future__ import annotations

import asyncio
import subprocess
from collections import defaultdict
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evmon.config import KafkaSettings
from evmon.model import ConnectionStatus
from evmon.selection import Start
from evmon.sources.kafka.tail import KafkaSource
from tests.brokers import KafkaBroker
from tests.helpers import ListSink, evmon_cmd
from tests.security_kit import avoid_dash_cluster_id
from tests.waiting import async_wait_for


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    b = KafkaBroker()
    avoid_dash_cluster_id(b)
    try:
        b.start()
        yield b
    finally:
        b.cleanup()


@pytest.fixture
def running(broker: KafkaBroker) -> KafkaBroker:
    broker.ensure_running()
    return broker


async def _topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, values: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in values:
            await producer.send(topic, str(i).encode(), partition=i % 3)
        await producer.flush()
    finally:
        await producer.stop()


async def test_restart_resumes_each_partition_exactly(running: KafkaBroker, unique: str) -> None:
    await _topic(running.bootstrap, unique, 3)
    await _produce(running.bootstrap, unique, range(0, 60))
    sink = ListSink()
    states: list[str] = []
    src = KafkaSource(
        KafkaSettings(running.bootstrap),
        sink,
        topics=[unique],
        start=Start(kind="first"),
        on_status=lambda s: states.append(s.state),
    )
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) >= 60, timeout=20, message="first 60")
        await asyncio.to_thread(running.restart)

        async def produce_rest() -> bool:
            await _produce(running.bootstrap, unique, range(60, 120))
            return True

        await async_wait_for(
            produce_rest, timeout=60, interval=0.5, message="produced", ignore=(Exception,)
        )
        await async_wait_for(lambda: len(sink.events) >= 120, timeout=60, message="all 120")
        by_partition: dict[int, list[int]] = defaultdict(list)
        for ev in sink.events:
            assert ev.partition is not None and ev.offset is not None
            by_partition[ev.partition].append(ev.offset)
        assert len(sink.events) == 120
        for offsets in by_partition.values():
            assert offsets == list(range(len(offsets)))  # no gap, no duplicate
        assert sorted(int(e.payload or b"") for e in sink.events) == list(range(120))
        assert src.next_offsets and all(v == 40 for v in src.next_offsets.values())
    finally:
        await src.close()


async def test_source_gives_up_after_the_deadline(running: KafkaBroker, unique: str) -> None:
    await _topic(running.bootstrap, unique, 1)
    closed: list[ConnectionStatus] = []
    src = KafkaSource(
        KafkaSettings(running.bootstrap, reconnect_deadline=2, request_timeout=3),
        ListSink(),
        topics=[unique],
        on_status=lambda s: closed.append(s) if s.state == "closed" else None,
        discovery_interval=0.5,
    )
    await src.start()
    try:
        await asyncio.to_thread(running.stop)
        await async_wait_for(lambda: closed, timeout=30, message="closed")
        assert closed[0].detail.startswith(
            f"lost the connection to Kafka at {running.bootstrap} for 2 s"
        )
    finally:
        await src.close()
        await asyncio.to_thread(running.start)


def test_cli_exits_1_when_the_broker_never_comes_back(running: KafkaBroker, unique: str) -> None:
    asyncio.run(_topic(running.bootstrap, unique, 1))
    asyncio.run(_produce(running.bootstrap, unique, range(1)))
    proc = subprocess.Popen(
        evmon_cmd(
            "tail",
            "--kafka",
            running.bootstrap,
            "-t",
            unique,
            "--from",
            "first",
            "--reconnect-deadline",
            "3",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        # The first record on stdout shows the tail is running (EOF if it failed).
        assert proc.stdout.readline(), proc.stderr.read() if proc.stderr else ""
        running.stop()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        running.start()
    text = err.decode()
    assert proc.returncode == 1, text
    lost = f"lost the connection to Kafka at {running.bootstrap} for 3 s"
    assert lost in text
    assert "Traceback" not in text
    # It gave up only after trying: the reconnecting line comes first.
    assert "reconnecting" in text and text.index("reconnecting") < text.index(lost), text
