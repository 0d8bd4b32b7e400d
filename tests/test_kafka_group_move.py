"""``evmon skip --group G --to-time T|earliest|latest`` against a real Kafka broker: the whole
group moved with the safety of a skip (empty group only, shown before and after, confirmed,
audited, blocked by --read-only)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.helpers import run_evmon
from tests.kafka_kit import commit_offsets, create_topic
from tests.waiting import async_wait_for

pytestmark = pytest.mark.kafka

BASE_MS = 1_700_000_000_000


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _audit(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "state" / "evmon" / "audit.jsonl"
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _skip(*args: str, yes: bool = True) -> tuple[int, str, str]:
    res = run_evmon(
        ["skip", *args, *(["--yes"] if yes else [])], timeout=60, stdin=subprocess.DEVNULL
    )
    return res.returncode, res.stdout.decode(), res.stderr.decode()


async def _committed(bootstrap: str, group: str, topic: str, n: int) -> list[int | None]:
    consumer = AIOKafkaConsumer(
        group_id=group, enable_auto_commit=False, bootstrap_servers=bootstrap
    )
    await consumer.start()
    try:
        return [await consumer.committed(TopicPartition(topic, p)) for p in range(n)]
    finally:
        await consumer.stop()


async def _topic(bootstrap: str, topic: str) -> None:
    """3 partitions; partition p holds 4 records stamped BASE + i s (offsets 0-3)."""
    await create_topic(bootstrap, topic, 3)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for p in range(3):
            for i in range(4):
                await producer.send_and_wait(
                    topic, f"{p}-{i}".encode(), partition=p, timestamp_ms=BASE_MS + i * 1000
                )
    finally:
        await producer.stop()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@contextlib.asynccontextmanager
async def _live_member(bootstrap: str, group: str, topic: str) -> AsyncIterator[None]:
    consumer = AIOKafkaConsumer(
        topic, group_id=group, enable_auto_commit=False, bootstrap_servers=bootstrap
    )
    await consumer.start()
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set():
            await consumer.getmany(timeout_ms=100)

    task = asyncio.create_task(poll())
    try:
        await async_wait_for(lambda: consumer.assignment(), timeout=30, message="assignment")
        yield
    finally:
        stop.set()
        await task
        await consumer.stop()


async def test_to_time_moves_every_partition_shown_and_audited(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await _topic(kafka_bootstrap, topic)
    await commit_offsets(kafka_bootstrap, group, topic, {0: 4, 1: 3, 2: 0})
    t = _iso(BASE_MS + 1500)  # between offsets 1 and 2 of every partition
    rc, out, err = _skip("--kafka", kafka_bootstrap, "--group", group, "--to-time", t)
    assert rc == 0, err
    assert await _committed(kafka_bootstrap, group, topic, 3) == [2, 2, 2]
    lines = out.splitlines()
    assert lines[0] == (
        f"group {group} (Empty, no members) to the first offset at or after "
        "2023-11-14T22:13:21.500Z:"
    )
    assert lines[1:4] == [
        f"  {topic}[0]: committed 4 -> 2 (log 0-4; back 2)",
        f"  {topic}[1]: committed 3 -> 2 (log 0-4; back 1)",
        f"  {topic}[2]: committed 0 -> 2 (log 0-4; forward 2)",
    ]
    assert lines[4] == f"group {group}: moved 3 partitions to 2023-11-14T22:13:21.500Z"
    assert lines[5] == f"  {topic}[0]  before: committed 4 (log 0-4)  after: committed 2 (log 0-4)"
    (entry,) = _audit(tmp_path)
    assert entry["action"] == "skip" and entry["outcome"] == "ok"
    assert entry["target"] == f"group {group}" and entry["move_to"] == "2023-11-14T22:13:21.500Z"
    assert entry["events"] == [f"kafka:{topic}:{p}:{o}->2" for p, o in ((0, 4), (1, 3), (2, 0))]


async def test_earliest_latest_and_a_time_past_every_record(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await _topic(kafka_bootstrap, topic)
    await commit_offsets(kafka_bootstrap, group, topic, {0: 1})
    base = ["--kafka", kafka_bootstrap, "--group", group]
    rc, out, err = _skip(*base, "--to-time", "latest")
    assert rc == 0, err
    # the group committed on partition 0 only; the topic's other partitions come along
    # (as evmon lag shows them), so a never-committed partition gets its first commit
    assert f"  {topic}[1]: committed none -> 4 (log 0-4; first commit)" in out
    assert await _committed(kafka_bootstrap, group, topic, 3) == [4, 4, 4]
    rc, out, err = _skip(*base, "--to-time", "earliest")
    assert rc == 0, err
    assert await _committed(kafka_bootstrap, group, topic, 3) == [0, 0, 0]
    rc, out, err = _skip(*base, "--to-time", "-1m")  # newer than every record: the log end
    assert rc == 0, err
    assert await _committed(kafka_bootstrap, group, topic, 3) == [4, 4, 4]


async def test_refusals_move_nothing(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await _topic(kafka_bootstrap, topic)
    await commit_offsets(kafka_bootstrap, group, topic, {0: 3, 1: 3, 2: 3})
    base = ["--kafka", kafka_bootstrap, "--group", group, "--to-time", "earliest"]

    def one_line(err: str, text: str) -> None:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and text in lines[0], lines

    rc, out, err = _skip(*base, "--read-only")
    assert rc == 2 and out == ""
    one_line(err, "read-only mode: skip is disabled")
    rc, out, err = _skip(*base, yes=False)  # no terminal and no --yes
    assert rc == 2
    one_line(err, "pass --yes to confirm")
    rc, out, err = _skip(*base, "--partition", "0")
    assert rc == 2
    one_line(err, "--to-time moves every partition")
    rc, out, err = _skip(*base[:-1], "yesterday")
    assert rc == 2
    one_line(err, "bad --to-time 'yesterday'")
    rc, out, err = _skip(
        "--kafka", kafka_bootstrap, "--group", f"{unique}-none", "--to-time", "latest"
    )
    assert rc == 2
    one_line(err, "has no committed offsets: name the topics with --topic")
    async with _live_member(kafka_bootstrap, group, topic):
        rc, out, err = _skip(*base)
    assert rc == 2 and out == ""
    one_line(err, f"group {group} has 1 active member; stop it first")
    assert await _committed(kafka_bootstrap, group, topic, 3) == [3, 3, 3]
    assert _audit(tmp_path) == []  # refused before anything was attempted


async def test_topic_names_the_partitions(kafka_bootstrap: str, unique: str) -> None:
    """A group that never committed: --topic says which partitions to give offsets."""
    topic, group = f"{unique}-t", f"{unique}-g"
    await _topic(kafka_bootstrap, topic)
    rc, _out, err = _skip(
        "--kafka",
        kafka_bootstrap,
        "--group",
        group,
        "--topic",
        topic,
        "--to-time",
        _iso(BASE_MS + 3000),
    )
    assert rc == 0, err
    assert await _committed(kafka_bootstrap, group, topic, 3) == [3, 3, 3]
    rc, _out, err = _skip(
        "--kafka",
        kafka_bootstrap,
        "--group",
        group,
        "--topic",
        f"{unique}-no",
        "--to-time",
        "latest",
    )
    assert rc == 2 and f"Kafka topic '{unique}-no' not found" in err
