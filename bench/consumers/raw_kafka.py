"""Baseline: a raw aiokafka consumer that reads a topic from its beginning and only counts.

It uses the same fetch sizes as evmon's KafkaSource, so the ratio measures what evmon does
with the records, not a different fetch configuration.

    python -m bench.consumers.raw_kafka BOOTSTRAP TOPIC COUNT [--idle S] [--deadline S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.consumers.common import report


async def run(bootstrap: str, topic: str, count: int, idle: float, deadline: float) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # as evmon's KafkaSource does
        parts = cluster.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n = first_count = 0
        first = last = cpu_first = cpu_last = 0.0
        start = time.monotonic()
        idle_since = start
        while n < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            now = time.perf_counter()
            got = sum(len(records) for records in batches.values())
            if got:
                cpu = time.process_time()
                if n == 0:
                    first, first_count, cpu_first = now, got, cpu
                n += got
                last, cpu_last = now, cpu
                idle_since = time.monotonic()
            elif n and time.monotonic() - idle_since >= idle:
                break
            if time.monotonic() - start >= deadline:
                break
        report(n, first, last, first_count=first_count, cpu_first=cpu_first, cpu_last=cpu_last)
    finally:
        await consumer.stop()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.consumers.raw_kafka")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("count", type=int)
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--deadline", type=float, default=300.0)
    a = p.parse_args()
    asyncio.run(run(a.bootstrap, a.topic, a.count, a.idle, a.deadline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
