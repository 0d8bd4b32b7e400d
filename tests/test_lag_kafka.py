"""`evmon lag` against a real Kafka broker, checked against Kafka's own ConsumerGroupCommand.

Every group a test creates is deleted at its end: other tests assert that the cluster has no
consumer groups (evmon itself must never create one).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from evmon.config import KafkaSettings
from evmon.sources.kafka import group_lag, protocol
from evmon.sources.kafka.group_lag import KafkaLagClient, kafka_lag_snapshot
from tests.brokers import ExternalKafka, KafkaBroker, ensure_kafka_jars, find_java, free_port
from tests.helpers import evmon_cmd, run_evmon
from tests.kafka_kit import commit_offsets, create_topic, delete_groups, produce_split
from tests.waiting import async_wait_for

Broker = KafkaBroker | ExternalKafka
Rows = list[dict[str, Any]]
SPLIT = {0: 34, 1: 33, 2: 33}  # 100 records, explicit partitions


@pytest.fixture
async def groups(kafka_bootstrap: str) -> AsyncIterator[list[str]]:
    """Names of groups to delete after the test."""
    names: list[str] = []
    yield names
    await delete_groups(kafka_bootstrap, names)


async def _lag(bootstrap: str, *args: str) -> Rows:
    """Run ``evmon lag --format json`` in a subprocess without blocking the event loop (live
    consumers in the test keep heartbeating)."""
    proc = await asyncio.create_subprocess_exec(
        *evmon_cmd("lag", "--kafka", bootstrap, "--format", "json", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    rows: Rows = orjson.loads(out)
    return rows


def _by_partition(rows: Rows, group: str) -> dict[int, dict[str, Any]]:
    return {r["partition"]: r for r in rows if r["group"] == group}


async def _kafka_view(broker: Broker, group: str) -> dict[int, tuple[Any, Any, Any]]:
    """Kafka's own ConsumerGroupCommand --describe: partition -> (committed, end, lag)."""
    rows = await asyncio.to_thread(broker.describe_group, group)
    return {
        int(r["PARTITION"]): (r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"])  # type: ignore[arg-type]
        for r in rows
    }


def _ours(rows: dict[int, dict[str, Any]]) -> dict[int, tuple[Any, Any, Any]]:
    return {p: (r["committed"], r["end"], r["lag"]) for p, r in rows.items()}


async def test_lag_equals_consumer_group_command(
    kafka_broker: Broker, kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    groups.append(group)
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    await commit_offsets(kafka_bootstrap, group, topic, {0: 20, 1: 25, 2: 15})  # 60 of 100

    named = _by_partition(await _lag(kafka_bootstrap, "--group", group), group)
    assert _ours(named) == {0: (20, 34, 14), 1: (25, 33, 8), 2: (15, 33, 18)}
    assert _ours(named) == await _kafka_view(kafka_broker, group)
    for row in named.values():
        assert row["system"] == "kafka" and row["topic"] == topic
        assert (row["state"], row["members"], row["status"]) == ("Empty", 0, "OK")

    # without --group: every group is listed, this one with the same numbers
    everything = await _lag(kafka_bootstrap)
    assert _by_partition(everything, group) == named


async def test_partition_without_commit_counts_from_log_start(
    kafka_broker: Broker, kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    groups.append(group)
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    await commit_offsets(kafka_bootstrap, group, topic, {0: 30, 1: 3})  # nothing on partition 2

    rows = _by_partition(await _lag(kafka_bootstrap, "--group", group), group)
    kafka_view = await _kafka_view(kafka_broker, group)
    assert {p: _ours(rows)[p] for p in kafka_view} == kafka_view  # the partitions Kafka shows
    assert _ours(rows) == {0: (30, 34, 4), 1: (3, 33, 30), 2: (None, 33, 33)}

    # records deleted from the front: the log start moves, so does the lag of partition 2
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, 2): RecordsToDelete(13)})
    finally:
        await admin.close()
    rows = _by_partition(await _lag(kafka_bootstrap, "--group", group), group)
    assert _ours(rows)[2] == (None, 33, 20)


async def test_empty_and_unknown_groups(
    kafka_broker: Broker, kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    groups.append(group)
    await create_topic(kafka_bootstrap, topic)
    # a member joins and leaves without committing: the group exists, Empty, with no offsets
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await async_wait_for(lambda: consumer.assignment(), message="partitions assigned")
    finally:
        await consumer.stop()
    assert await _kafka_view(kafka_broker, group) == {}

    missing = f"{unique}-never"
    rows = await _lag(kafka_bootstrap, "--group", group, "--group", missing)
    assert rows == [
        {
            "system": "kafka",
            "group": group,
            "state": "Empty",
            "members": 0,
            "topic": None,
            "partition": None,
            "committed": None,
            "end": None,
            "lag": None,
            "status": "OK",
        },
        {
            "system": "kafka",
            "group": missing,
            "state": "Dead",
            "members": 0,
            "topic": None,
            "partition": None,
            "committed": None,
            "end": None,
            "lag": None,
            "status": "ERR",
        },
    ]


async def test_actively_consuming_group(
    kafka_broker: Broker, kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    groups.append(group)
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        got = 0
        while got < 100:
            batches = await consumer.getmany(timeout_ms=500)
            got += sum(len(b) for b in batches.values())
        await consumer.commit()

        async def caught_up() -> dict[int, dict[str, Any]]:
            rows = _by_partition(await _lag(kafka_bootstrap, "--group", group), group)
            return rows if all(r["lag"] == 0 for r in rows.values()) and rows else {}

        rows = await async_wait_for(caught_up, timeout=30, message="the group caught up")
        assert {r["state"] for r in rows.values()} == {"Stable"}
        assert {r["members"] for r in rows.values()} == {1}
        assert _ours(rows) == {p: (n, n, 0) for p, n in SPLIT.items()}
        assert _ours(rows) == await _kafka_view(kafka_broker, group)
    finally:
        await consumer.stop()


def _console_consumer(broker: Broker, topic: str, group: str, *extra: str) -> list[str]:
    """Kafka's console consumer with the KIP-848 protocol (aiokafka only speaks classic)."""
    libs = ensure_kafka_jars(broker.version)
    return [
        find_java(),
        "-Xmx256m",
        "-cp",
        f"{libs}/*",
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        "--group",
        group,
        "--from-beginning",
        "--consumer-property",
        "group.protocol=consumer",
        *extra,
    ]


async def test_consumer_protocol_group_is_not_reported_dead(
    kafka_broker: Broker,
    kafka_bootstrap: str,
    unique: str,
    groups: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    groups.append(group)
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    proc = await asyncio.create_subprocess_exec(
        *_console_consumer(kafka_broker, topic, group),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        async def live() -> dict[int, dict[str, Any]]:
            rows = _by_partition(await _lag(kafka_bootstrap, "--group", group), group)
            done = rows and all(r["lag"] == 0 and r["members"] == 1 for r in rows.values())
            return rows if done else {}

        rows = await async_wait_for(live, timeout=60, message="the KIP-848 member consumed")
        assert {r["state"] for r in rows.values()} == {"Stable"}
        assert _ours(rows) == {p: (n, n, 0) for p, n in SPLIT.items()}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)

    async def left() -> dict[int, dict[str, Any]]:
        rows = _by_partition(await _lag(kafka_bootstrap, "--group", group), group)
        return rows if rows and all(r["members"] == 0 for r in rows.values()) else {}

    rows = await async_wait_for(left, timeout=60, message="the member left")
    # classic DescribeGroups calls this group Dead; evmon asks ConsumerGroupDescribe
    assert {r["state"] for r in rows.values()} == {"Empty"}
    assert _ours(rows) == await _kafka_view(kafka_broker, group)

    # a broker without ConsumerGroupDescribe: the state is unknown, never "Dead" or empty
    monkeypatch.setattr(protocol.ConsumerGroupDescribe, "API_KEY", 32767)
    rows_without = await kafka_lag_snapshot(KafkaSettings(kafka_bootstrap), [group])
    assert {(r.state, r.members, r.status) for r in rows_without} == {
        (group_lag.UNKNOWN_848, None, "OK")
    }
    assert {r.partition: (r.committed, r.end, r.lag) for r in rows_without} == _ours(rows)


async def test_watch_reports_stall_then_stop_then_err(
    kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    """A live member stops committing while a producer goes on: STALL. It leaves: STOP.
    The group is deleted: its rows turn ERR."""
    topic, group = f"{unique}-t", f"{unique}-g"
    groups.append(group)
    await create_topic(kafka_bootstrap, topic, partitions=1)
    await produce_split(kafka_bootstrap, topic, {0: 10})
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    watch = await asyncio.create_subprocess_exec(
        *evmon_cmd(
            "lag",
            "--kafka",
            kafka_bootstrap,
            "--group",
            group,
            "--watch",
            "1",
            "--format",
            "json",
            "--window",
            "3",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert watch.stdout is not None
    seen: list[Rows] = []

    async def until(predicate: Callable[[Rows], bool], what: str) -> Rows:
        async def next_report() -> Rows:
            assert watch.stdout is not None
            line = await watch.stdout.readline()
            assert line, f"evmon lag --watch ended: {(await watch.stderr.read()).decode()}"  # type: ignore[union-attr]
            rows: Rows = orjson.loads(line)
            seen.append(rows)
            return rows

        async def loop() -> Rows:
            while True:
                await producer.send_and_wait(topic, b"more")  # the producer never stops
                rows = await next_report()
                if predicate(rows):
                    return rows

        try:
            return await asyncio.wait_for(loop(), 45)
        except TimeoutError:
            pytest.fail(f"no {what} within 45 s; last reports: {seen[-3:]}")

    def statuses(rows: Rows) -> set[str]:
        return {r["status"] for r in rows if r["group"] == group and r["topic"] == topic}

    try:
        got = 0
        while got < 10:
            got += sum(len(b) for b in (await consumer.getmany(timeout_ms=500)).values())
        await consumer.commit()  # then never again, while staying in the group
        rows = await until(lambda rs: statuses(rs) == {"STALL"}, "STALL")
        (row,) = [r for r in rows if r["topic"] == topic]
        assert row["committed"] == 10 and row["lag"] > 0 and row["members"] == 1

        await consumer.stop()  # nobody consumes any more
        rows = await until(lambda rs: statuses(rs) == {"STOP"}, "STOP")
        (row,) = [r for r in rows if r["topic"] == topic]
        assert row["committed"] == 10 and row["members"] == 0 and row["state"] == "Empty"

        await delete_groups(kafka_bootstrap, [group])
        rows = await until(lambda rs: statuses(rs) == {"ERR"}, "ERR after deletion")
        assert {r["status"] for r in rows if r["group"] == group} == {"ERR"}
    finally:
        with contextlib.suppress(ProcessLookupError):
            watch.kill()
        await watch.wait()
        await producer.stop()
        await consumer.stop()


async def test_client_keeps_its_connection_between_snapshots(
    kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    groups.append(group)
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, {0: 5})
    await commit_offsets(kafka_bootstrap, group, topic, {0: 2})
    client = KafkaLagClient(KafkaSettings(kafka_bootstrap))
    await client.start()
    try:
        first = await client.snapshot([group])
        conns = dict(client.cluster._conns)  # aiokafka's connections by node
        await produce_split(kafka_bootstrap, topic, {0: 5})
        second = await client.snapshot([group])
        assert client.cluster._conns == conns  # no reconnect per refresh
    finally:
        await client.close()
    assert {r.partition: r.lag for r in first} == {0: 3, 1: 0, 2: 0}
    assert {r.partition: r.lag for r in second} == {0: 8, 1: 0, 2: 0}


def test_unreachable_kafka_is_one_line_and_exit_2() -> None:
    address = f"127.0.0.1:{free_port()}"
    res = run_evmon(["lag", "--kafka", address])
    assert res.returncode == 2
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and lines[0].startswith("evmon: error:")
