"""``evmon tail`` Kafka positions against a real broker: ``--last N``, ``--partition N`` and
the bounded read of ``--until``. A bounded tail must end by itself: none of these runs
passes ``--timeout``, so one that never ended would fail on the subprocess deadline."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.records_to_delete import RecordsToDelete

from evmon.selection import parse_selection
from tests.helpers import evmon_cmd, run_evmon
from tests.kafka_kit import create_topic, produce_split
from tests.waiting import async_wait_for

pytestmark = pytest.mark.kafka


def _tail(*args: str) -> tuple[int, list[tuple[int, int, str]], str]:
    """rc, (partition, offset, data) of every record printed, and stderr."""
    res = run_evmon(["tail", "--format", "jsonl", *args], timeout=60, stdin=subprocess.DEVNULL)
    rows = []
    for line in res.stdout.splitlines():
        rec = orjson.loads(line)
        rows.append((rec["partition"], rec["offset"], rec["data"]))
    return res.returncode, sorted(rows), res.stderr.decode()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def test_last_n_per_partition_short_and_empty(kafka_bootstrap: str, unique: str) -> None:
    """``--last 2``: the last two offsets of each partition; a partition shorter than N from
    its start; an empty one gives nothing; ``--until end`` ends the tail (kcat -o -2 -e)."""
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 3)
    await produce_split(kafka_bootstrap, topic, {0: 5, 1: 1})
    rc, rows, err = _tail("--kafka", kafka_bootstrap, "-t", topic, "--last", "2", "--until", "end")
    assert rc == 0, err
    assert rows == [(0, 3, "0-3"), (0, 4, "0-4"), (1, 0, "1-0")]


async def test_last_n_starts_at_the_log_start(kafka_bootstrap: str, unique: str) -> None:
    """Records deleted below offset 3 (retention, delete-records): ``--last 10`` of a
    5-offset partition starts at the first offset still there, 3 (librdkafka would ask
    for 0 and reset as auto.offset.reset says)."""
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 1)
    await produce_split(kafka_bootstrap, topic, {0: 5})
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(3)})
    finally:
        await admin.close()
    rc, rows, err = _tail("--kafka", kafka_bootstrap, "-t", topic, "--last", "10", "--until", "end")
    assert rc == 0, err
    assert rows == [(0, 3, "0-3"), (0, 4, "0-4")]


async def test_offset_gaps_from_transaction_markers(kafka_bootstrap: str, unique: str) -> None:
    """A committed transaction leaves a marker at the last offset: ``--last 2`` covers
    offsets 1-2 and shows the one record there, and ``--until end`` still ends (the
    position, not the last record's offset, reaches the bound)."""
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=unique)
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(2):
                await producer.send_and_wait(topic, f"tx-{i}".encode(), partition=0)
    finally:
        await producer.stop()
    rc, rows, err = _tail("--kafka", kafka_bootstrap, "-t", topic, "--last", "2", "--until", "end")
    assert rc == 0, err
    assert rows == [(0, 1, "tx-1")]  # offset 2 is the commit marker: fewer than N records
    rc, rows, err = _tail(
        "--kafka", kafka_bootstrap, "-t", topic, "--from", "first", "--until", "end"
    )
    assert rc == 0, err
    assert [r[1] for r in rows] == [0, 1]


async def test_partition_selection_and_a_missing_partition(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 3)
    await produce_split(kafka_bootstrap, topic, {0: 2, 1: 2, 2: 2})
    base = ["--kafka", kafka_bootstrap, "-t", topic, "--from", "first", "--until", "end"]
    rc, rows, err = _tail(*base, "--partition", "0", "--partition", "2")
    assert rc == 0, err
    assert {r[0] for r in rows} == {0, 2} and len(rows) == 4
    rc, rows, err = _tail(*base, "--partition", "7")
    assert rc == 2 and rows == []
    assert err.strip().splitlines() == [
        f"evmon: error: Kafka topic {topic!r} on {kafka_bootstrap} has no partition 7 "
        "(partitions 0-2)"
    ]
    rc, rows, err = _tail(*base, "--partition", "x")
    assert rc == 2 and "bad --partition 'x'" in err and len(err.strip().splitlines()) == 1


async def test_until_offset_and_until_time(kafka_bootstrap: str, unique: str) -> None:
    """``--until 3`` prints offsets below 3; ``--until TIME`` stops each partition before its
    first record stamped at or after TIME (kcat -o e@MS: not included)."""
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 2)
    base_ms = 1_700_000_000_000
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(5):
            for p in (0, 1):
                await producer.send_and_wait(
                    topic, f"{p}-{i}".encode(), partition=p, timestamp_ms=base_ms + i * 1000
                )
    finally:
        await producer.stop()
    base = ["--kafka", kafka_bootstrap, "-t", topic, "--from", "first"]
    rc, rows, err = _tail(*base, "--until", "3")
    assert rc == 0, err
    assert [(p, o) for p, o, _ in rows] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    rc, rows, err = _tail(*base, "--until", _iso(base_ms + 2000))
    assert rc == 0, err
    assert [d for _, _, d in rows] == ["0-0", "0-1", "1-0", "1-1"]
    rc, rows, err = _tail(*base, "--until", _iso(base_ms + 1500))  # between two records
    assert [d for _, _, d in rows] == ["0-0", "0-1", "1-0", "1-1"]


async def test_until_in_the_past_exits_at_once_with_nothing(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 3)
    await produce_split(kafka_bootstrap, topic, {0: 3})
    for until in ("-1h", "end", "0"):
        rc, rows, err = _tail("--kafka", kafka_bootstrap, "-t", topic, "--until", until)
        assert (rc, rows) == (0, []), (until, err)
    rc, rows, err = _tail(
        "--kafka",
        kafka_bootstrap,
        "-t",
        topic,
        "--from",
        "first",
        "--until",
        "2020-01-01T00:00:00Z",
    )
    assert (rc, rows) == (0, []), err


async def test_until_an_offset_still_to_come_waits_for_it(
    kafka_bootstrap: str, unique: str
) -> None:
    """A bound past the log end: the tail follows the partition live and exits once it got
    there, having printed exactly the offsets below it."""
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 1)
    await produce_split(kafka_bootstrap, topic, {0: 1})
    proc = await asyncio.create_subprocess_exec(
        *evmon_cmd(
            "tail",
            "--kafka",
            kafka_bootstrap,
            "-t",
            topic,
            "--from",
            "first",
            "--until",
            "4",
            "--format",
            "jsonl",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert orjson.loads(line)["offset"] == 0  # the tail is reading
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(1, 8):
                await producer.send_and_wait(topic, f"0-{i}".encode(), partition=0)
        finally:
            await producer.stop()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert [orjson.loads(line)["offset"] for line in out.splitlines()] == [1, 2, 3]


def test_position_flags_parse_and_refuse_mixtures() -> None:
    start = parse_selection("new", "10", ["0,2", "2"], "end")
    assert (start.kind, start.offset, start.partitions) == ("last", 10, (0, 2))
    assert start.until is not None and start.until.kind == "end"
    with pytest.raises(ValueError, match="give one of them"):
        parse_selection("first", "10")
    with pytest.raises(ValueError, match="bad --last"):
        parse_selection("new", "0")
    for args, msg in (
        (["--nats", "nats://127.0.0.1:1", "-s", "x", "--until", "end"], "--until bounds"),
        (["--nats", "nats://127.0.0.1:1", "--stream", "S", "--last", "3"], "--last N counts"),
        (["--kafka", "127.0.0.1:1", "-t", "x", "--until", "soon"], "bad --until 'soon'"),
    ):
        res = run_evmon(["tail", *args], timeout=30, stdin=subprocess.DEVNULL)
        lines = res.stderr.decode().strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and msg in lines[0], lines


async def test_the_dashboard_takes_last_and_partition(kafka_bootstrap: str, unique: str) -> None:
    """``evmon connect --last 2 --partition 0 --partition 2``: the same Start reaches the
    dashboard's Kafka source (``build_app`` -> ``source_specs``), and ``--until`` is tail's
    alone."""
    from evmon.cli import build_parser
    from evmon.commands.common import start_position
    from evmon.config import KafkaSettings
    from evmon.tui.dashboard import build_app

    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 3)
    await produce_split(kafka_bootstrap, topic, {0: 4, 1: 4, 2: 1})
    argv = ["connect", "--kafka", kafka_bootstrap, "-t", topic, "--last", "2"]
    args = build_parser().parse_args([*argv, "--partition", "0", "--partition", "2"])
    start = start_position(args)
    app = build_app(kafka=KafkaSettings(bootstrap=kafka_bootstrap), topics=[topic], start=start)
    async with app.run_test(size=(120, 30)):
        await async_wait_for(
            lambda: len(app.visible_events()) >= 3, timeout=30, message="3 events shown"
        )
        shown = sorted((e.partition, e.offset) for e in app.visible_events())
    assert shown == [(0, 2), (0, 3), (2, 0)]
    res = run_evmon(["connect", *argv[1:], "--until", "end"], timeout=30, stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and b"unrecognized arguments: --until end" in res.stderr


async def test_until_a_time_to_come_stops_at_the_first_record_stamped_after_it(
    kafka_bootstrap: str, unique: str
) -> None:
    """``--until`` a minute from now: the tail follows live, and a partition ends at its
    first record stamped at or after that time (not printed), before the clock gets there."""
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic, 1)
    await produce_split(kafka_bootstrap, topic, {0: 2})
    until_ms = int(time.time() * 1000) + 60_000
    proc = await asyncio.create_subprocess_exec(
        *evmon_cmd(
            "tail",
            "--kafka",
            kafka_bootstrap,
            "-t",
            topic,
            "--from",
            "first",
            "--until",
            _iso(until_ms),
            "--format",
            "jsonl",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        for _ in range(2):  # both records are older than the bound: printed
            await asyncio.wait_for(proc.stdout.readline(), 60)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"before", partition=0, timestamp_ms=until_ms - 1)
            await producer.send_and_wait(topic, b"at", partition=0, timestamp_ms=until_ms)
            await producer.send_and_wait(topic, b"older", partition=0, timestamp_ms=until_ms - 5)
        finally:
            await producer.stop()
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    assert [orjson.loads(line)["data"] for line in out.splitlines()] == ["before"]


async def _offsets(bootstrap: str, tp: TopicPartition) -> tuple[list[int], int]:
    """The offsets that hold a record, and the log end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = int((await consumer.end_offsets([tp]))[tp])
        out: list[int] = []
        while await consumer.position(tp) < end:
            got = await consumer.getmany(tp, timeout_ms=500)
            out += [r.offset for r in got.get(tp, [])]
        return out, end
    finally:
        await consumer.stop()


async def test_a_compacted_topic_has_gaps(kafka_bootstrap: str, unique: str) -> None:
    """Compaction (the broker's log cleaner, for real) removes older values of a key: the
    offsets stay, the records go. ``--last N`` counts offsets, so it prints fewer than N
    records; a bound inside a gap still ends the read."""
    topic = f"{unique}-c"
    tp = TopicPartition(topic, 0)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        config = {
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.001",
            "min.compaction.lag.ms": "0",
        }
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=config)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(6):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=b"same", partition=0)

        async def compacted() -> bool:
            # each filler may roll the segment (segment.ms), which lets the cleaner run
            await producer.send_and_wait(topic, b"filler", key=b"filler", partition=0)
            return (await _offsets(kafka_bootstrap, tp))[0][:1] != [0]

        await async_wait_for(compacted, timeout=120, interval=1.0, message="log compaction")
    finally:
        await producer.stop()
    held, end = await _offsets(kafka_bootstrap, tp)
    gaps = [o for o in range(end) if o not in held]  # offset 0 at least is one
    assert gaps, held
    base = ["--kafka", kafka_bootstrap, "-t", topic]
    n = end - held[0] + 2  # every offset from before the first record still held
    rc, rows, err = _tail(*base, "--last", str(n), "--until", "end")
    assert rc == 0, err
    assert [o for _, o, _ in rows] == held and len(rows) < n
    inside = gaps[-1]  # the last offset compaction emptied
    rc, rows, err = _tail(*base, "--from", "first", "--until", str(inside))
    assert rc == 0, err
    assert [o for _, o, _ in rows] == [o for o in held if o < inside]
