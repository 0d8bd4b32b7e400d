"""evmon against Kafka as it runs in production: three brokers, replication factor 3.

The session's `kafka_cluster` (tests/kafka_cluster.py) runs three combined KRaft nodes.
Every topic here names its replicas, so which broker leads which partition is known, and
each test checks that in the metadata before relying on it. The broker-kill test comes last
and the conftest starts the killed node again after it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from evmon.codec import decode_record
from evmon.config import KafkaSettings
from evmon.model import Event
from evmon.selection import Start
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import kafka_spec
from tests.helpers import evmon_cmd, run_evmon
from tests.kafka_cluster import (
    KafkaCluster,
    coordinator,
    create_spread_topic,
    partition_leaders,
)
from tests.kafka_kit import commit_offsets, delete_groups
from tests.waiting import async_wait_for, wait_for

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def _state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """skip and replay write their audit log under tmp_path, never in $HOME."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


async def _spread(cluster: KafkaCluster, topic: str, leaders: list[int]) -> None:
    """Create ``topic`` with ``leaders[p]`` leading partition p, and check the metadata says
    so with all three replicas in sync."""
    await create_spread_topic(cluster.bootstrap, topic, leaders)
    want = {p: (leader, [1, 2, 3]) for p, leader in enumerate(leaders)}
    await async_wait_for(
        lambda: _leaders_are(cluster, topic, want),
        timeout=30,
        interval=0.2,
        message=f"{topic} led by {leaders}, replicated on 1-3",
        ignore=(Exception,),
    )


async def _leaders_are(
    cluster: KafkaCluster, topic: str, want: dict[int, tuple[int, list[int]]]
) -> bool:
    return await partition_leaders(cluster.bootstrap, topic) == want


async def _produce(bootstrap: str, topic: str, values: dict[int, list[bytes]]) -> None:
    """Each value to its partition, acknowledged by every in-sync replica; idempotent, so a
    retry after a leader change cannot store a record twice."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=30_000
    )
    await producer.start()
    try:
        for partition, payloads in values.items():
            for payload in payloads:
                await producer.send_and_wait(topic, payload, partition=partition)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str, n: int) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of the first ``n`` records, read by a plain aiokafka
    consumer (the reference the tests compare evmon with)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        out: list[tuple[int, int, bytes]] = []
        async with asyncio.timeout(60):
            while len(out) < n:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    out.extend((r.partition, r.offset, r.value) for r in records)
        return sorted(out)
    finally:
        await consumer.stop()


def _tail_raw(bootstrap: str, topic: str, n: int) -> bytes:
    """``evmon tail --format jsonl`` of the first ``n`` records, as printed."""
    res = run_evmon(
        [
            "tail", "--kafka", bootstrap, "-t", topic, "--from", "first",
            "--format", "jsonl", "-n", str(n), "--timeout", "60",
        ],
        timeout=90,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout


def _tail_jsonl(bootstrap: str, topic: str, n: int) -> list[Event]:
    return [decode_record(line) for line in _tail_raw(bootstrap, topic, n).splitlines()]


def _positions(events: list[Event]) -> list[tuple[int, int, bytes | None]]:
    return sorted((e.partition or 0, e.offset or 0, e.payload) for e in events)


# --------------------------------------------------------------------------- tail


async def test_tail_reads_partitions_led_by_three_brokers(
    kafka_cluster: KafkaCluster, unique: str
) -> None:
    topic = f"{unique}-t"
    await _spread(kafka_cluster, topic, [1, 2, 3])
    sent = {p: [f"p{p}-{i}".encode() for i in range(20)] for p in range(3)}
    await _produce(kafka_cluster.bootstrap, topic, sent)

    # Only broker 1 is given: the leaders on 2 and 3 are found through its metadata.
    events = await asyncio.to_thread(_tail_jsonl, kafka_cluster.address(1), topic, 60)
    assert _positions(events) == [
        (p, i, f"p{p}-{i}".encode()) for p in range(3) for i in range(20)
    ]  # every record once, at its partition and offset
    assert {e.subject for e in events} == {topic}


# --------------------------------------------------------------------------- lag


async def _group_coordinated_by(cluster: KafkaCluster, node: int, prefix: str) -> str:
    """A group id whose coordinator (FindCoordinator) is broker ``node``."""
    for i in range(200):
        group = f"{prefix}-g{i}"
        if await coordinator(cluster.bootstrap, group) == node:
            return group
    raise AssertionError(f"no group id among 200 is coordinated by broker {node}")


async def _lag_rows(bootstrap: str, group: str) -> dict[int, tuple[Any, Any, Any]]:
    proc = await asyncio.create_subprocess_exec(
        *evmon_cmd("lag", "--kafka", bootstrap, "--format", "json", "--group", group),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    rows = orjson.loads(out)
    return {
        r["partition"]: (r["committed"], r["end"], r["lag"]) for r in rows if r["group"] == group
    }


async def test_lag_with_the_coordinator_on_another_broker_equals_kafkas_own(
    kafka_cluster: KafkaCluster, unique: str
) -> None:
    topic = f"{unique}-t"
    await _spread(kafka_cluster, topic, [1, 2])
    group = await _group_coordinated_by(kafka_cluster, 3, unique)
    assert await coordinator(kafka_cluster.bootstrap, group) not in (1, 2)  # leaders are 1, 2
    try:
        await _produce(
            kafka_cluster.bootstrap,
            topic,
            {0: [b"a%d" % i for i in range(30)], 1: [b"b%d" % i for i in range(20)]},
        )
        await commit_offsets(kafka_cluster.bootstrap, group, topic, {0: 12, 1: 5})

        ours = await _lag_rows(kafka_cluster.address(1), group)
        assert ours == {0: (12, 30, 18), 1: (5, 20, 15)}
        kafka_view = await asyncio.to_thread(kafka_cluster.describe_group, group)
        assert {
            int(r["PARTITION"]): (r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"])  # type: ignore[arg-type]
            for r in kafka_view
        } == ours
    finally:
        await delete_groups(kafka_cluster.bootstrap, [group])


# --------------------------------------------------------------------------- skip, replay


async def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        value: int | None = await consumer.committed(tp)
        return value
    finally:
        await consumer.stop()


async def test_skip_and_replay_on_the_cluster(
    kafka_cluster: KafkaCluster, unique: str, tmp_path: Path
) -> None:
    topic, copies = f"{unique}-dlq", f"{unique}-copies"
    await _spread(kafka_cluster, topic, [2, 3, 1])
    await _spread(kafka_cluster, copies, [3, 1, 2])
    await _produce(kafka_cluster.bootstrap, topic, {1: [b"m%d" % i for i in range(6)]})
    group = await _group_coordinated_by(kafka_cluster, 1, unique)  # partition 1 is led by 3
    tp = TopicPartition(topic, 1)
    try:
        await commit_offsets(kafka_cluster.bootstrap, group, topic, {1: 2})  # stuck on 2
        res = await asyncio.to_thread(
            run_evmon,
            [
                "skip", "--kafka", kafka_cluster.address(2), "--group", group,
                "--topic", topic, "--partition", "1", "--yes",
            ],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out = res.stdout.decode()
        assert res.returncode == 0, res.stderr.decode()
        assert f"group {group} on {topic}[1]: skipped offset 2" in out
        assert await _committed(kafka_cluster.bootstrap, group, tp) == 3
        [row] = await asyncio.to_thread(kafka_cluster.describe_group, group)
        assert (row["CURRENT-OFFSET"], row["LOG-END-OFFSET"], row["CONSUMER-ID"]) == (3, 6, None)
    finally:
        await delete_groups(kafka_cluster.bootstrap, [group])

    # replay the 6 records into a topic replicated three times: each copy is reported at
    # the partition@offset the cluster stored it at
    path = tmp_path / "dlq.jsonl"
    path.write_bytes(await asyncio.to_thread(_tail_raw, kafka_cluster.address(3), topic, 6))
    res = await asyncio.to_thread(
        run_evmon,
        ["replay", str(path), "--kafka", kafka_cluster.bootstrap, "--to", copies, "--yes"],
        stdin=subprocess.DEVNULL,
    )
    out = res.stdout.decode()
    assert res.returncode == 0, res.stderr.decode() + out
    stored = await _read_all(kafka_cluster.bootstrap, copies, 6)
    assert sorted(v for _, _, v in stored) == [b"m%d" % i for i in range(6)]
    # each original (by its offset N, the record m<N>) is reported where its copy is stored
    reported = {
        int(m[1]): m[2]
        for m in re.finditer(rf"{re.escape(topic)}:1:(\d+)\b.* (p\d+@\d+)\b.*stored", out)
    }
    assert reported == {int(v[1:]): f"p{p}@{o}" for p, o, v in stored}, out
    meta = await partition_leaders(kafka_cluster.bootstrap, copies)
    assert all(isr == [1, 2, 3] for _, isr in meta.values())  # on every replica


# --------------------------------------------------------------------------- a broker dies


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


async def test_a_broker_killed_during_a_tail(
    kafka_cluster: KafkaCluster, unique: str, tmp_path: Path
) -> None:
    """Kill the leader of partition 1 while `evmon tail` and the dashboard read the topic:
    both go on with the new leader, every record once, and the status bar names the broker
    that went away (and stops naming it once it is back)."""
    topic, victim = f"{unique}-t", 2
    await _spread(kafka_cluster, topic, [1, victim, 3])
    before = {p: [f"before-{p}-{i}".encode() for i in range(10)] for p in range(3)}
    after = {p: [f"after-{p}-{i}".encode() for i in range(10)] for p in range(3)}
    await _produce(kafka_cluster.bootstrap, topic, before)

    out_path = tmp_path / "tail.jsonl"
    with out_path.open("wb") as out, (tmp_path / "tail.err").open("wb") as err:
        tail = await asyncio.create_subprocess_exec(
            *evmon_cmd(
                "tail", "--kafka", kafka_cluster.bootstrap, "-t", topic, "--from", "first",
                "--format", "jsonl", "-n", "60", "--timeout", "150",
            ),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    app = EvmonApp(
        EventStore(10_000),
        [kafka_spec(KafkaSettings(kafka_cluster.bootstrap), topics=[topic], start=Start("first"))],
        blink=False,
    )
    gone = f"broker {victim} at {kafka_cluster.address(victim)} went away"
    try:
        async with app.run_test(size=(200, 40)):
            await async_wait_for(lambda: len(app.store) == 30, timeout=60, message="30 in app")
            await async_wait_for(lambda: _lines(out_path) == 30, timeout=60, message="30 tailed")

            await asyncio.to_thread(kafka_cluster.kill, victim)
            await _produce(kafka_cluster.others(victim), topic, after)

            await async_wait_for(
                lambda: gone in app.status_bar.render().plain,
                timeout=60,
                message=f"the status bar naming {gone!r}",
            )
            await async_wait_for(lambda: len(app.store) >= 60, timeout=60, message="60 in app")
            code = await asyncio.wait_for(tail.wait(), 90)
            assert code == 0, (tmp_path / "tail.err").read_text()
            leaders = await partition_leaders(kafka_cluster.others(victim), topic)
            assert leaders[1][0] != victim and victim not in leaders[1][1]  # it really moved

            reference = await _read_all(kafka_cluster.others(victim), topic, 60)
            want = sorted([*(v for vs in before.values() for v in vs),
                           *(v for vs in after.values() for v in vs)])  # fmt: skip
            assert sorted(v for _, _, v in reference) == want  # each record stored once
            for got in (
                [decode_record(line) for line in out_path.read_bytes().splitlines()],
                list(app.store.since(0)[0]),
            ):
                assert _positions(got) == reference  # no gap, no duplicate, same offsets
                per_partition: dict[int, list[int]] = defaultdict(list)
                for e in got:
                    per_partition[e.partition or 0].append(e.offset or 0)
                assert {p: offsets == list(range(20)) for p, offsets in
                        per_partition.items()} == {0: True, 1: True, 2: True}  # fmt: skip
                assert not [k for k, n in Counter(_positions(got)).items() if n > 1]

            # the broker comes back: the status bar says connected, with no broker named
            await asyncio.to_thread(kafka_cluster.restart, victim)
            await async_wait_for(
                lambda: "went away" not in app.status_bar.render().plain,
                timeout=60,
                message="the status bar clearing the gone broker",
            )
            assert "connected" in app.status_bar.render().plain
            await app.close_sources()
    finally:
        if tail.returncode is None:
            tail.kill()
            await tail.wait()
    wait_for(lambda: len(kafka_cluster.running()) == 3, timeout=5, message="node back")
