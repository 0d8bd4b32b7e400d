"""A Kafka broker that freezes (SIGSTOP: its sockets stay open and nothing is answered).

The test starts a single broker of its own (never the session's: freezing that would stall
every other Kafka test), reads a topic with `evmon tail` and the dashboard, freezes the
broker's JVM, and waits for both to name it; then thaws it and waits for the tail to read on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evmon.codec import decode_record
from evmon.config import KafkaSettings
from evmon.selection import Start
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import kafka_spec
from tests.brokers import KafkaBroker
from tests.helpers import evmon_cmd
from tests.waiting import async_wait_for

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A single Kafka broker for this test alone, so it may be frozen."""
    broker = KafkaBroker(workdir=tmp_path / "kafka", heap="384m")
    try:
        broker.start()
        yield broker
    finally:
        if broker.pid is not None and broker.is_running():
            os.kill(broker.pid, signal.SIGCONT)  # a frozen JVM ignores SIGTERM until thawed
        broker.cleanup()


async def _make_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait(topic, payload)
    finally:
        await producer.stop()


def _payloads(path: Path) -> list[bytes]:
    return [decode_record(line).payload for line in path.read_bytes().splitlines()]


async def test_a_frozen_broker_is_named_by_tail_and_the_status_bar(
    own_broker: KafkaBroker, tmp_path: Path
) -> None:
    broker = own_broker
    assert broker.pid is not None
    topic = "frozen"
    await _make_topic(broker.bootstrap, topic)
    await _produce(broker.bootstrap, topic, [f"before-{i}".encode() for i in range(5)])
    frozen = f"Kafka broker 1 at {broker.bootstrap} stopped answering"

    out_path, err_path = tmp_path / "tail.jsonl", tmp_path / "tail.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        tail = await asyncio.create_subprocess_exec(
            *evmon_cmd(
                "tail", "--kafka", broker.bootstrap, "-t", topic, "--from", "first",
                "--format", "jsonl", "--ping-interval", "1", "--reconnect-deadline", "0",
            ),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    settings = KafkaSettings(broker.bootstrap, ping_interval=1.0)
    app = EvmonApp(
        EventStore(1_000),
        [kafka_spec(settings, topics=[topic], start=Start("first"))],
        blink=False,
    )
    try:
        async with app.run_test(size=(200, 40)):
            await async_wait_for(lambda: len(app.store) == 5, timeout=60, message="5 in app")
            await async_wait_for(
                lambda: len(_payloads(out_path)) == 5, timeout=60, message="5 tailed"
            )
            assert "stopped answering" not in app.status_bar.render().plain

            os.kill(broker.pid, signal.SIGSTOP)
            try:
                await async_wait_for(
                    lambda: frozen in app.status_bar.render().plain,
                    timeout=60,
                    message=f"the status bar naming {frozen!r}",
                )
                await async_wait_for(
                    lambda: f"reconnecting: {frozen}" in err_path.read_text(),
                    timeout=60,
                    message="the tail naming the frozen broker on stderr",
                )
            finally:
                os.kill(broker.pid, signal.SIGCONT)

            # Thawed: the status bar stops naming it, the tail says so and reads on.
            await async_wait_for(
                lambda: "stopped answering" not in app.status_bar.render().plain,
                timeout=60,
                message="the status bar clearing the frozen broker",
            )
            assert "connected" in app.status_bar.render().plain
            await async_wait_for(
                lambda: (
                    err_path.read_text().rstrip().endswith(f"kafka {broker.bootstrap} connected")
                ),
                timeout=60,
                message="the tail saying the broker is back",
            )
            await _produce(broker.bootstrap, topic, [f"after-{i}".encode() for i in range(5)])
            await async_wait_for(lambda: len(app.store) == 10, timeout=60, message="10 in app")
            await async_wait_for(
                lambda: len(_payloads(out_path)) == 10, timeout=60, message="10 tailed"
            )
            await app.close_sources()
    finally:
        if tail.returncode is None:
            tail.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(tail.wait(), 60)
    text = err_path.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    want = [f"before-{i}".encode() for i in range(5)] + [f"after-{i}".encode() for i in range(5)]
    assert _payloads(out_path) == want  # nothing lost, nothing twice
    assert [e.payload for e in app.store.since(0)[0]] == want


async def test_the_aiokafka_hooks_the_pings_rest_on() -> None:
    """Broker-free, names the hooks: the pings go through ``AIOKafkaConsumer._client`` (an
    ``AIOKafkaClient``): ``cluster.brokers()`` for whom to ask and ``send(node_id, request)``
    with an ``ApiVersionRequest``, which raises ``RequestTimedOutError`` when nothing comes
    back within the request timeout."""
    import inspect

    from aiokafka import AIOKafkaConsumer
    from aiokafka.client import AIOKafkaClient
    from aiokafka.cluster import ClusterMetadata
    from aiokafka.protocol.admin import ApiVersionRequest

    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    assert isinstance(consumer._client, AIOKafkaClient)
    assert callable(ClusterMetadata().brokers)
    assert list(inspect.signature(AIOKafkaClient.send).parameters)[:3] == [
        "self", "node_id", "request",
    ]  # fmt: skip
    send = inspect.getsource(AIOKafkaClient.send)
    assert "RequestTimedOutError" in send and "self.ready(node_id" in send
    assert ApiVersionRequest().prepare({}).API_KEY == 18
    await consumer.stop()
