"""A Kafka record produced without a timestamp (-1 on the wire) gets its receive time.

The JSONL contract: ``timestamp`` is the broker's time where the broker gives one, else the
receive time. -1 once became "1969-12-31T23:59:59.999Z" (and, in the fast path, a line with
no date at all that replay rejected).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evmon.codec import decode_record
from tests.helpers import run_evmon


async def _produce_without_timestamp(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        stamps = []
        for i in range(2):
            # timestamp_ms=-1 is written as is: Kafka's NO_TIMESTAMP (CreateTime, no value)
            md = await producer.send_and_wait(
                topic, f'{{"n":{i}}}'.encode(), key=b"k", timestamp_ms=-1
            )
            stamps.append(md.timestamp)
        md = await producer.send_and_wait(
            topic, b'{"n":2}', key=b"k", timestamp_ms=1_700_000_000_123
        )
        stamps.append(md.timestamp)
        return stamps
    finally:
        await producer.stop()


def test_record_without_timestamp_gets_receive_time_and_replays(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    topic = f"{unique}-nots"
    stamps = asyncio.run(_produce_without_timestamp(kafka_bootstrap, topic))
    assert stamps[:2] == [-1, -1]  # the broker stored "no timestamp"
    before = time.time()
    res = run_evmon(
        [
            "tail",
            "--kafka",
            kafka_bootstrap,
            "-t",
            topic,
            "--from",
            "first",
            "-n",
            "3",
            "--format",
            "jsonl",
            "--timeout",
            "40",
        ],
        timeout=60,
    )
    after = time.time()
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 3
    recs = [orjson.loads(line) for line in lines]
    assert [r["offset"] for r in recs] == [0, 1, 2]
    assert recs[2]["timestamp"] == "2023-11-14T22:13:20.123Z"
    for line in lines[:2]:
        ts = decode_record(line).timestamp  # what replay reads: it parses
        assert before - 1 <= ts <= after + 1  # the receive time, not 1969
    # replay accepts the file as written
    path = tmp_path / "nots.jsonl"
    path.write_bytes(res.stdout)
    dry = run_evmon(["replay", str(path), "--kafka", kafka_bootstrap, "--dry-run"], timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert b"error" not in dry.stderr
