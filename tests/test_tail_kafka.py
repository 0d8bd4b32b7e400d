"""`evmon tail` and the Kafka source against a real Kafka broker."""

from __future__ import annotations

import asyncio
import subprocess

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evmon.codec import decode_record
from evmon.config import KafkaSettings
from evmon.selection import Start
from evmon.sources.kafka.tail import KafkaSource
from tests.helpers import ListSink, evmon_cmd, run_evmon
from tests.waiting import async_wait_for


async def _create(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics]
        )
    finally:
        await admin.close()


async def _groups(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(g[0] for g in await admin.list_consumer_groups())
    finally:
        await admin.close()


async def _produce(bootstrap: str, records: list[dict[str, object]]) -> list[tuple[int, int, int]]:
    """Produce and return (partition, offset, timestamp_ms) of each record."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        out = []
        for r in records:
            md = await producer.send_and_wait(**r)  # type: ignore[arg-type]
            out.append((md.partition, md.offset, md.timestamp))
        return out
    finally:
        await producer.stop()


async def test_tail_from_offset_and_time_across_partitions(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}-t"
    groups_before = await _groups(kafka_bootstrap)
    await _create(kafka_bootstrap, topic)
    base = 1_700_000_000_000
    # 4 records per partition with explicit, increasing timestamps
    recs = [
        {
            "topic": topic,
            "partition": p,
            "value": f"p{p}-{i}".encode(),
            "timestamp_ms": base + i * 1000,
        }
        for i in range(4)
        for p in range(3)
    ]
    await _produce(kafka_bootstrap, recs)
    settings = KafkaSettings(kafka_bootstrap)

    sink = ListSink()
    src = KafkaSource(settings, sink, topics=[topic], start=Start("offset", offset=2))
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) == 6, message="offsets 2,3 of 3 partitions")
        got = sorted((e.partition, e.offset, e.payload) for e in sink.events)
        assert got == [(p, o, f"p{p}-{o}".encode()) for p in range(3) for o in (2, 3)]
    finally:
        await src.close()

    sink = ListSink()
    src = KafkaSource(
        settings, sink, topics=[topic], start=Start("time", time=(base + 3000) / 1000)
    )
    await src.start()
    try:
        await async_wait_for(
            lambda: len(sink.events) == 3, message="the last record of each partition"
        )
        assert sorted((e.partition, e.offset) for e in sink.events) == [(0, 3), (1, 3), (2, 3)]
        assert all(e.timestamp == (base + 3000) / 1000 for e in sink.events)
        # and it keeps following
        await _produce(kafka_bootstrap, [{"topic": topic, "partition": 1, "value": b"live"}])
        await async_wait_for(lambda: len(sink.events) == 4, message="live record")
        assert sink.events[-1].payload == b"live" and sink.events[-1].offset == 4
    finally:
        await src.close()
    assert await _groups(kafka_bootstrap) == groups_before, "evmon must not create consumer groups"


async def test_pattern_picks_up_new_topic_and_tombstones_keys(
    kafka_bootstrap: str, unique: str
) -> None:
    first = f"{unique}-pay-a"
    groups_before = await _groups(kafka_bootstrap)
    await _create(kafka_bootstrap, first, partitions=1)
    sink = ListSink()
    src = KafkaSource(KafkaSettings(kafka_bootstrap), sink, pattern=f"{unique}-pay-.*")
    await src.start()
    try:
        later = f"{unique}-pay-b"
        await _create(kafka_bootstrap, later, partitions=2)
        await _produce(
            kafka_bootstrap,
            [
                {"topic": later, "partition": 1, "key": b"\xff\x01", "value": None},
                {
                    "topic": later,
                    "partition": 0,
                    "key": b"k",
                    "value": b"v",
                    "headers": [("h", b"1"), ("h", b"\xff"), ("x", b"")],
                },
                {"topic": first, "partition": 0, "value": b"a"},
            ],
        )
        # picked up within 10 s of creation (discovery runs every 2 s)
        await async_wait_for(lambda: len(sink.events) == 3, timeout=10, message="3 records")
        by = {(e.subject, e.partition): e for e in sink.events}
        tomb = by[(later, 1)]
        assert tomb.payload is None and tomb.key == b"\xff\x01" and tomb.size == 0
        rec = by[(later, 0)]
        assert rec.headers == (("h", b"1"), ("h", b"\xff"), ("x", b"")) and rec.key == b"k"
        assert by[(first, 0)].payload == b"a"
    finally:
        await src.close()
    assert await _groups(kafka_bootstrap) == groups_before


def test_cli_tail_jsonl_round_trip_and_no_group(kafka_bootstrap: str, unique: str) -> None:
    topic = f"{unique}-orders"
    groups_before = asyncio.run(_groups(kafka_bootstrap))
    asyncio.run(_create(kafka_bootstrap, topic))
    sent = [
        {"topic": topic, "partition": 0, "key": b"o-1", "value": b'{"id": 1, "total": 9.5}'},
        {"topic": topic, "partition": 1, "key": b"\x00\x9f", "value": b"\x89PNG\r\n\x1a\n"},
        {"topic": topic, "partition": 2, "key": b"gone", "value": None},
        {
            "topic": topic,
            "partition": 2,
            "value": "größe".encode(),
            "headers": [("trace", b"t1"), ("trace", b"t2"), ("bin", b"\xc3\x28")],
        },
    ]
    meta = asyncio.run(_produce(kafka_bootstrap, sent))
    res = run_evmon(
        [
            "tail",
            "--kafka",
            kafka_bootstrap,
            "-t",
            topic,
            "--from",
            "first",
            "--format",
            "jsonl",
            "-n",
            "4",
            "--timeout",
            "30",
        ]
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    recs = [orjson.loads(x) for x in lines]
    events = {(e.partition, e.offset): e for e in map(decode_record, lines)}
    for r, (p, o, ts) in zip(sent, meta, strict=True):
        ev = events[(p, o)]
        assert ev.payload == r["value"] and ev.key == r.get("key")
        assert list(ev.headers) == list(r.get("headers", []))
        assert ev.timestamp == ts / 1000
    by = {(r["partition"], r["offset"]): r for r in recs}
    assert by[(0, 0)]["json"] == {"id": 1, "total": 9.5} and by[(0, 0)]["key"] == "o-1"
    assert "key" not in by[(1, 0)] and by[(1, 0)]["key_b64"] == "AJ8="
    assert by[(2, 0)]["data"] is None and by[(2, 0)]["key"] == "gone"
    assert by[(2, 1)]["headers"] == [["trace", "t1"], ["trace", "t2"], ["bin", {"b64": "wyg="}]]

    # replaying the decoded records through the broker gives back the same bytes
    copy = f"{unique}-copy"
    asyncio.run(_create(kafka_bootstrap, copy))
    asyncio.run(
        _produce(
            kafka_bootstrap,
            [
                {
                    "topic": copy,
                    "partition": e.partition,
                    "key": e.key,
                    "value": e.payload,
                    "headers": list(e.headers),
                }
                for e in events.values()
            ],
        )
    )
    res2 = run_evmon(
        [
            "tail",
            "--kafka",
            kafka_bootstrap,
            "-t",
            copy,
            "--from",
            "first",
            "--format",
            "jsonl",
            "-n",
            "4",
            "--timeout",
            "30",
        ]
    )
    assert res2.returncode == 0, res2.stderr
    again = sorted(
        (
            (e.partition, e.key, e.payload, e.headers)
            for e in map(decode_record, res2.stdout.splitlines())
        ),
        key=repr,
    )
    orig = sorted(((e.partition, e.key, e.payload, e.headers) for e in events.values()), key=repr)
    assert again == orig
    assert asyncio.run(_groups(kafka_bootstrap)) == groups_before


def test_cli_unreachable_kafka_and_unknown_topic(kafka_bootstrap: str) -> None:
    from tests.brokers import free_port

    dead = f"127.0.0.1:{free_port()}"
    res = run_evmon(["tail", "--kafka", dead, "-t", "x"], timeout=30)
    assert res.returncode == 2 and dead.encode() in res.stderr and b"Traceback" not in res.stderr
    res = run_evmon(["tail", "--kafka", kafka_bootstrap, "-t", "no-such-topic-here"], timeout=30)
    assert res.returncode == 2 and b"no-such-topic-here" in res.stderr


def test_cli_both_brokers_at_once(
    nats_server: object, nats_url: str, kafka_bootstrap: str, unique: str
) -> None:
    from tests.test_tail_nats import _has_subscription
    from tests.waiting import wait_for

    topic = f"{unique}-both"
    asyncio.run(_create(kafka_bootstrap, topic, partitions=1))
    asyncio.run(_produce(kafka_bootstrap, [{"topic": topic, "value": b"from-kafka"}]))
    proc = subprocess.Popen(
        evmon_cmd(
            "tail",
            "--nats",
            nats_url,
            "-s",
            f"{unique}.x",
            "--kafka",
            kafka_bootstrap,
            "-t",
            topic,
            "--from",
            "first",
            "-n",
            "2",
            "--timeout",
            "30",
            "--format",
            "jsonl",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        monitor = nats_server.monitor_url  # type: ignore[attr-defined]
        wait_for(
            lambda: _has_subscription(monitor, f"{unique}.x"), timeout=15, message="subscribed"
        )

        async def publish() -> None:
            import nats

            nc = await nats.connect(nats_url)
            await nc.publish(f"{unique}.x", b"from-nats")
            await nc.flush()
            await nc.close()

        asyncio.run(publish())
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    recs = sorted((orjson.loads(x)["source"], orjson.loads(x)["data"]) for x in out.splitlines())
    assert recs == [("kafka", "from-kafka"), ("nats", "from-nats")]
