"""Smoke tests: the broker fixtures give real, working, restartable NATS and Kafka brokers.

These use only the client libraries (never evmon) so they hold while the package grows.
"""

from __future__ import annotations

import socket

import nats
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from nats.js.api import StorageType

from tests.brokers import (
    BrokerStartError,
    ExternalKafka,
    ExternalNats,
    KafkaBroker,
    NatsServer,
    free_port,
    parse_group_table,
)
from tests.waiting import WaitTimeout, async_wait_for, wait_for

# --------------------------------------------------------------------------- helpers


async def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name=topic, num_partitions=partitions, replication_factor=1)]
        )
        await async_wait_for(
            lambda: _topic_listed(admin, topic), timeout=15, message=f"topic {topic} listed"
        )
    finally:
        await admin.close()


async def _topic_listed(admin: AIOKafkaAdminClient, topic: str) -> bool:
    return topic in await admin.list_topics()


async def _produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for p in range(partitions):
            for i in range(per_partition):
                await producer.send_and_wait(
                    topic, value=f"v-{p}-{i}".encode(), key=f"k-{p}-{i}".encode(), partition=p
                )
    finally:
        await producer.stop()


async def _consume_all(
    bootstrap: str, topic: str, expected: int, within: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []

    async def got_all() -> bool:
        batch = await consumer.getmany(timeout_ms=200)
        for recs in batch.values():
            records.extend(recs)
        return len(records) >= expected

    try:
        await async_wait_for(got_all, timeout=within, message=f"{expected} records from {topic}")
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def _expected_rows(partitions: int, per_partition: int) -> list[tuple[int, int, bytes, bytes]]:
    return [
        (p, i, f"k-{p}-{i}".encode(), f"v-{p}-{i}".encode())
        for p in range(partitions)
        for i in range(per_partition)
    ]


def _rows(records: list[ConsumerRecord[bytes, bytes]]) -> list[tuple[int, int, bytes, bytes]]:
    return [(r.partition, r.offset, r.key, r.value) for r in records]


# --------------------------------------------------------------------------- helpers' own tests


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_returns_value_and_times_out() -> None:
    calls: list[int] = []

    def third_time() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert wait_for(third_time, timeout=5, interval=0.001) == 3
    try:
        wait_for(lambda: False, timeout=0.05, interval=0.01, message="never")
    except WaitTimeout as exc:
        assert "never" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("wait_for did not time out")


async def test_async_wait_for_accepts_async_predicates() -> None:
    n = 0

    async def ready() -> str:
        nonlocal n
        n += 1
        return "yes" if n >= 2 else ""

    assert await async_wait_for(ready, timeout=5, interval=0.001) == "yes"
    assert await async_wait_for(lambda: 42, timeout=1) == 42


def test_unique_names_are_valid_everywhere(unique: str) -> None:
    assert unique.startswith("test-unique-names-are-valid-eve")
    assert all(c.isalnum() or c == "-" for c in unique)


def test_parse_group_table() -> None:
    text = (
        "\nConsumer group 'g' has no active members.\n\n"
        "GROUP TOPIC PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID HOST CLIENT-ID\n"
        "g     t     0          3               5               2    -           -    -\n"
        "g     t     1          -               4               -    -           -    -\n"
    )
    assert parse_group_table(text) == [
        {
            "GROUP": "g",
            "TOPIC": "t",
            "PARTITION": 0,
            "CURRENT-OFFSET": 3,
            "LOG-END-OFFSET": 5,
            "LAG": 2,
            "CONSUMER-ID": None,
            "HOST": None,
            "CLIENT-ID": None,
        },
        {
            "GROUP": "g",
            "TOPIC": "t",
            "PARTITION": 1,
            "CURRENT-OFFSET": None,
            "LOG-END-OFFSET": 4,
            "LAG": None,
            "CONSUMER-ID": None,
            "HOST": None,
            "CLIENT-ID": None,
        },
    ]


# --------------------------------------------------------------------------- NATS


async def test_nats_publish_subscribe(nats_url: str, unique: str) -> None:
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        sub = await nc.subscribe(f"{unique}.*.created")
        await nc.flush()
        await nc.publish(f"{unique}.eu.created", b"one", headers={"h": "v"})
        await nc.publish(f"{unique}.eu.x.created", b"not matched")
        await nc.publish(f"{unique}.us.created", b"two")
        first = await sub.next_msg(timeout=5)
        second = await sub.next_msg(timeout=5)
        assert (first.subject, first.data, first.headers) == (
            f"{unique}.eu.created",
            b"one",
            {"h": "v"},
        )
        assert (second.subject, second.data) == (f"{unique}.us.created", b"two")
        assert sub.pending_msgs == 0
    finally:
        await nc.close()


async def test_nats_jetstream_enabled(nats_url: str, unique: str) -> None:
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        await js.add_stream(name=unique, subjects=[f"{unique}.>"], storage=StorageType.FILE)
        ack1 = await js.publish(f"{unique}.orders", b'{"n":1}')
        ack2 = await js.publish(f"{unique}.orders", b'{"n":2}')
        assert (ack1.stream, ack1.seq, ack2.seq) == (unique, 1, 2)
        info = await js.stream_info(unique)
        assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (2, 1, 2)
        msg = await js.get_msg(unique, 2)
        assert (msg.subject, msg.data) == (f"{unique}.orders", b'{"n":2}')
        await js.delete_stream(unique)
    finally:
        await nc.close()


async def test_nats_restart_keeps_jetstream_data(
    nats_server: NatsServer | ExternalNats, unique: str
) -> None:
    nats_server.ensure_running()
    port_before = nats_server.port
    nc = await nats.connect(nats_server.url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        await js.add_stream(name=unique, subjects=[f"{unique}.>"], storage=StorageType.FILE)
        ack = await js.publish(f"{unique}.kept", b"survives restart")
        assert ack.seq == 1
    finally:
        await nc.close()

    nats_server.restart()
    assert nats_server.is_running()
    assert nats_server.port == port_before

    nc = await nats.connect(nats_server.url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        info = await js.stream_info(unique)
        assert info.state.messages == 1
        msg = await js.get_msg(unique, 1)
        assert (msg.subject, msg.data) == (f"{unique}.kept", b"survives restart")
        await js.delete_stream(unique)
    finally:
        await nc.close()


def test_nats_picks_new_ports_when_its_port_was_taken_before_the_start() -> None:
    """The port picked at construction is bound by someone else (as a cluster node's route
    dial did in CI): the first start fails on it, the fixture starts on new ports."""
    with socket.socket() as taker:
        taker.bind(("127.0.0.1", 0))
        taker.listen()
        taken = taker.getsockname()[1]
        server = NatsServer(jetstream=False)
        server._port = taken  # as if the port had been taken after it was picked
        try:
            server.start()
            assert server.port != taken
            assert server.is_running()
            log = server.log_tail(200)
            assert f"127.0.0.1:{taken}" in log and "address already in use" in log
        finally:
            server.cleanup()
    with socket.socket() as taker:  # the caller's own port is never changed
        taker.bind(("127.0.0.1", 0))
        taker.listen()
        fixed = NatsServer(jetstream=False, port=taker.getsockname()[1])
        try:
            with pytest.raises(BrokerStartError, match="address already in use"):
                fixed.start()
            assert fixed.port == taker.getsockname()[1]
        finally:
            fixed.cleanup()


def test_nats_stop_then_start(nats_server: NatsServer | ExternalNats) -> None:
    nats_server.stop()
    assert not nats_server.is_running()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", nats_server.port)) != 0
    nats_server.start()
    assert nats_server.is_running()
    assert "nats" in nats_server.log_tail().lower()


# --------------------------------------------------------------------------- Kafka


async def test_kafka_produce_consume(kafka_bootstrap: str, unique: str) -> None:
    topic = f"{unique}.orders"
    await _create_topic(kafka_bootstrap, topic, partitions=3)
    await _produce(kafka_bootstrap, topic, partitions=3, per_partition=4)
    records = await _consume_all(kafka_bootstrap, topic, expected=12)
    assert _rows(records) == _expected_rows(3, 4)


async def test_kafka_describe_group_matches_commits(
    kafka_broker: KafkaBroker | ExternalKafka, unique: str
) -> None:
    kafka_broker.ensure_running()
    bootstrap = kafka_broker.bootstrap
    topic = f"{unique}.lag"
    group = f"{unique}-group"
    await _create_topic(bootstrap, topic, partitions=3)
    await _produce(bootstrap, topic, partitions=3, per_partition=5)

    # Commit for the group without joining it: assign() + commit(), never subscribe().
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        await consumer.commit({TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 5})
    finally:
        await consumer.stop()

    rows = kafka_broker.describe_group(group)
    by_partition = {row["PARTITION"]: row for row in rows}
    assert {row["TOPIC"] for row in rows} == {topic}
    assert by_partition[0]["CURRENT-OFFSET"] == 2
    assert by_partition[0]["LOG-END-OFFSET"] == 5
    assert by_partition[0]["LAG"] == 3
    assert by_partition[1]["LAG"] == 0
    assert by_partition[0]["GROUP"] == group
    assert by_partition[0]["CONSUMER-ID"] is None
    assert kafka_broker.describe_group(f"{unique}-no-such-group") == []


async def test_kafka_restart_keeps_records(
    kafka_broker: KafkaBroker | ExternalKafka, unique: str
) -> None:
    kafka_broker.ensure_running()
    bootstrap_before = kafka_broker.bootstrap
    topic = f"{unique}.durable"
    await _create_topic(bootstrap_before, topic, partitions=3)
    await _produce(bootstrap_before, topic, partitions=3, per_partition=2)

    kafka_broker.restart()
    assert kafka_broker.is_running()
    assert kafka_broker.bootstrap == bootstrap_before

    records = await _consume_all(kafka_broker.bootstrap, topic, expected=6, within=60)
    assert _rows(records) == _expected_rows(3, 2)
