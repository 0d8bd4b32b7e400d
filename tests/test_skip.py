"""``evmon skip`` against real brokers: exact offsets, refusals that move nothing."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.js.api
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from evmon.config import KafkaSettings
from evmon.sources.kafka.group_lag import kafka_lag_snapshot
from evmon.sources.kafka.group_offsets import GroupActiveError, KafkaGroupOffsets
from tests.helpers import run_evmon
from tests.kafka_kit import commit_one, create_topic, topic_with
from tests.waiting import async_wait_for


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


# --------------------------------------------------------------------------- Kafka


async def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(
        group_id=group, enable_auto_commit=False, bootstrap_servers=bootstrap
    )
    await consumer.start()
    try:
        value: int | None = await consumer.committed(tp)
        return value
    finally:
        await consumer.stop()


def _skip(*args: str) -> tuple[int, str, str]:
    res = run_evmon(["skip", *args, "--yes"], stdin=subprocess.DEVNULL)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


@contextlib.asynccontextmanager
async def _live_member(bootstrap: str, group: str, topic: str) -> AsyncIterator[None]:
    """A consumer of ``group`` subscribed and polling, until the block ends."""
    consumer = AIOKafkaConsumer(
        topic,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        bootstrap_servers=bootstrap,
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


async def test_kafka_skip_commits_next_offset_and_group_resumes_there(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    tp = TopicPartition(topic, 1)
    await topic_with(kafka_bootstrap, topic, 1, 6)
    await commit_one(kafka_bootstrap, group, tp, 2)  # stuck on offset 2

    rc, out, err = _skip(
        "--kafka", kafka_bootstrap, "--group", group, "--topic", topic, "--partition", "1"
    )
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[:2] == [  # the record at the committed offset, read without joining
        f"group {group} on {topic}[1] is stuck on offset 2:",
        "  key: none",
    ]
    assert re.fullmatch(r"  2 bytes, timestamp \d{4}-\d\d-\d\dT[\d:.]+Z", lines[2]), lines
    assert lines[3:] == [
        "  payload: m2",
        f"group {group} on {topic}[1]: skipped offset 2",
        "  before: committed 2 (log 0-6)",
        "  after:  committed 3 (log 0-6)",
    ]
    assert await _committed(kafka_bootstrap, group, tp) == 3

    # a consumer of the group starts at offset 3
    consumer = AIOKafkaConsumer(
        topic, group_id=group, enable_auto_commit=False, bootstrap_servers=kafka_bootstrap
    )
    await consumer.start()
    try:
        first = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (first.partition, first.offset, first.value) == (1, 3, b"m3")

    # an explicit offset further on skips everything up to it, and says so
    rc, out, err = _skip(
        "--kafka",
        kafka_bootstrap,
        "--group",
        group,
        "--topic",
        topic,
        "--partition",
        "1",
        "--offset",
        "4",
    )
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"group {group} on {topic}[1]: the record at offset 4:"
    assert lines[3:5] == [
        "  payload: m4",
        f"group {group} on {topic}[1]: skipped offset 4 (2 messages from offset 3)",
    ]
    assert await _committed(kafka_bootstrap, group, tp) == 5

    # offsets the group is already past, or that do not exist, are refused
    for offset, why in (("3", "is already past offset 3"), ("6", "offset 6 is not in")):
        rc, _, err = _skip(
            "--kafka",
            kafka_bootstrap,
            "--group",
            group,
            "--topic",
            topic,
            "--partition",
            "1",
            "--offset",
            offset,
        )
        assert rc == 2 and why in err, err
    assert await _committed(kafka_bootstrap, group, tp) == 5


async def test_kafka_skip_previews_the_record_escaped(kafka_bootstrap: str, unique: str) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await create_topic(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"fine", key=b"k0", partition=0)
        await producer.send_and_wait(
            topic,
            b'\x1b]0;owned\x07 {"id": 7}',
            key=b"order-\x1b[31m7",
            partition=0,
            headers=[("trace", b"1")],
            timestamp_ms=1_700_000_000_123,
        )
    finally:
        await producer.stop()
    await commit_one(kafka_bootstrap, group, TopicPartition(topic, 0), 1)
    rc, out, err = _skip(
        "--kafka", kafka_bootstrap, "--group", group, "--topic", topic, "--partition", "0"
    )
    assert rc == 0, err
    assert out.splitlines()[:4] == [
        f"group {group} on {topic}[0] is stuck on offset 1:",
        "  key: 'order-\\x1b[31m7'",
        "  20 bytes, timestamp 2023-11-14T22:13:20.123Z, 1 header",
        '  payload: \\x1b]0;owned\\x07 {"id": 7}',
    ]
    assert "\x1b" not in out + err
    assert await _committed(kafka_bootstrap, group, TopicPartition(topic, 0)) == 2


async def test_kafka_skip_refuses_an_active_group_and_moves_nothing(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    tp = TopicPartition(topic, 0)
    await topic_with(kafka_bootstrap, topic, 0, 3)
    await commit_one(kafka_bootstrap, group, tp, 1)
    async with _live_member(kafka_bootstrap, group, topic):
        await async_wait_for(
            lambda: _members(kafka_bootstrap, group), timeout=30, message="member visible"
        )
        rc, out, err = _skip(
            "--kafka", kafka_bootstrap, "--group", group, "--topic", topic, "--partition", "0"
        )
        assert rc == 2 and out == ""
        assert err == f"evmon: error: group {group} has 1 active member; stop it first\n"

        # past the describe check, the broker itself refuses: same clear message
        async with KafkaGroupOffsets(KafkaSettings(kafka_bootstrap), group, topic, 0) as offsets:
            with pytest.raises(GroupActiveError, match=f"group {group} has active members"):
                await offsets.commit(2)
    assert await _committed(kafka_bootstrap, group, tp) == 1


async def _members(bootstrap: str, group: str) -> int | None:
    rows = await kafka_lag_snapshot(KafkaSettings(bootstrap), [group])
    return rows[0].members if rows else None


# --------------------------------------------------------------------------- JetStream


async def _poison_setup(nats_url: str, unique: str) -> tuple[str, str, str]:
    stream, consumer, subject = unique.replace("-", "_").upper(), "worker", f"{unique}.work"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[subject])
        for body in (b"poison", b"good-1", b"good-2"):
            await js.publish(subject, body)
        await js.add_consumer(
            stream,
            nats.js.api.ConsumerConfig(
                durable_name=consumer, ack_policy=nats.js.api.AckPolicy.EXPLICIT, ack_wait=30
            ),
        )
    finally:
        await nc.close()
    return stream, consumer, subject


async def test_jetstream_skip_terminates_the_redelivered_poison_message(
    nats_url: str, unique: str
) -> None:
    stream, consumer, subject = await _poison_setup(nats_url, unique)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        sub = await js.pull_subscribe_bind(durable=consumer, stream=stream)
        for attempt in (1, 2, 3):  # the application fails on it and naks, again and again
            [msg] = await sub.fetch(1, timeout=5)
            assert (msg.data, msg.metadata.num_delivered) == (b"poison", attempt)
            await nc.request(msg.reply, b"-NAK", timeout=5)  # a nak the server confirms

        rc, out, err = _skip("--nats", nats_url, "--stream", stream, "--consumer", consumer)
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[:2] == [  # the message, shown before it is terminated
            f"consumer {consumer} on stream {stream} is stuck on {stream}#1:",
            f"  subject: {subject}",
        ]
        assert lines[2].startswith("  delivered 4 times, 6 bytes, stored ")
        assert lines[3] == "  payload: poison"
        lines = lines[4:]
        assert lines[0] == (
            f"consumer {consumer} on stream {stream}: terminated stream sequence 1 "
            f"({subject}, delivered 4 times)"
        )
        assert lines[1].startswith("  before: ack floor 0, delivered 1, 2 pending")
        assert lines[2].startswith("  after:  ack floor 1, delivered 1, 2 pending, 0 awaiting ack")

        # the application now gets the next message, and the poison never comes back
        [msg] = await sub.fetch(1, timeout=5)
        assert (msg.data, msg.metadata.sequence.stream, msg.metadata.num_delivered) == (
            b"good-1",
            2,
            1,
        )
        await msg.ack_sync()
        info = await js.consumer_info(stream, consumer)
        assert info.ack_floor is not None and info.ack_floor.stream_seq == 2
        assert (info.num_ack_pending, info.num_redelivered, info.num_pending) == (0, 0, 1)
    finally:
        await nc.close()


async def test_jetstream_skip_with_seq_resets_the_consumer(nats_url: str, unique: str) -> None:
    stream, consumer, _ = await _poison_setup(nats_url, unique)
    rc, out, err = _skip(
        "--nats", nats_url, "--stream", stream, "--consumer", consumer, "--seq", "3"
    )
    assert rc == 0, err
    assert out.splitlines()[0] == (
        f"consumer {consumer} on stream {stream}: reset to stream sequence 3"
    )
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe_bind(durable=consumer, stream=stream)
        [msg] = await sub.fetch(1, timeout=5)
        assert (msg.data, msg.metadata.sequence.stream) == (b"good-2", 3)
    finally:
        await nc.close()


async def test_jetstream_skip_refusals(nats_url: str, unique: str) -> None:
    stream, _, _ = await _poison_setup(nats_url, unique)
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().add_consumer(
            stream,
            nats.js.api.ConsumerConfig(durable_name="pushed", deliver_subject=f"{unique}.deliver"),
        )
    finally:
        await nc.close()
    rc, _, err = _skip("--nats", nats_url, "--stream", stream, "--consumer", "nobody")
    assert rc == 2 and err.startswith(
        f"evmon: error: JetStream consumer 'nobody' on stream '{stream}': consumer not found"
    ), err
    rc, _, err = _skip("--nats", nats_url, "--stream", stream, "--consumer", "pushed")
    assert rc == 2 and "is a push consumer" in err and "--seq N" in err, err
    rc, _, err = _skip("--nats", nats_url, "--stream", stream)
    assert rc == 2 and "JetStream skip needs --consumer" in err, err
    rc, _, err = _skip("--nats", nats_url, "--stream", stream, "--group", "g")
    assert rc == 2 and "either on Kafka" in err, err
