"""The floor under ``evmon tail --format jsonl`` of Kafka, measured rather than estimated:
the least Python work on aiokafka that writes a JSON line per record with DESIGN.md's
``data`` and ``json`` fields.

It reads as evmon does (the record patch's runs of wire records, the same fetch sizes) and
does, for every record, only what the record format itself asks of Python code: validate
the value as JSON (``orjson.loads``: ``json`` is there only for valid JSON), escape its text
(``orjson.dumps``: ``data``), format the offset, join the line and write it. Nothing else:
no check for headers, keys, binary, empty or multi-line values, no timestamp text (constant
parts stand in for the fields that do not change in this benchmark). So its lines are not
evmon's records, and no correct writer in Python can cost less per record; issue 14's
Kafka target is judged against it (bench/README.md).

    python -m bench.consumers.floor_kafka BOOTSTRAP TOPIC COUNT
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from evmon.sources.kafka.records import AS_RUNS
from evmon.sources.kafka.tail import (
    FETCH_BYTES,
    MAX_RECORDS,
    PARTITION_FETCH_BYTES,
    RUNS_PER_READ,
)

#: The fields between the offset and ``data`` as long as evmon writes them for this
#: benchmark's records, so that the floor writes as many bytes.
_MIDDLE = b',"timestamp":"2026-01-01T00:00:00.000Z","key":null,"headers":[],"size":128,"data":'


async def run(bootstrap: str, topic: str, count: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
        fetch_max_bytes=FETCH_BYTES,
        value_deserializer=AS_RUNS,
    )
    await consumer.start()
    out = sys.stdout.buffer
    loads, dumps, join = orjson.loads, orjson.dumps, b"".join
    try:
        cluster = await consumer._client.fetch_all_metadata()  # as evmon's KafkaSource does
        tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n = handed = 0
        while n < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=RUNS_PER_READ)
            for tp, runs in batches.items():
                head = (
                    b'{"source":"kafka","subject":"%s","stream":null,"partition":%d,"offset":'
                    % (
                        tp.topic.encode(),
                        tp.partition,
                    )
                )
                for records in runs:
                    lines = []
                    append = lines.append
                    for r in records:
                        value = r.value
                        loads(value)
                        append(
                            join(
                                (
                                    head,
                                    b"%d" % r.offset,
                                    _MIDDLE,
                                    dumps(value.decode()),
                                    b',"json":',
                                    value,
                                    b"}",
                                )
                            )
                        )
                    lines.append(b"")
                    out.write(b"\n".join(lines))
                    out.flush()
                    n += len(records)
                    handed += len(records)
            if handed >= MAX_RECORDS or not batches:  # as evmon's source yields
                handed = 0
                await asyncio.sleep(0)
    finally:
        await consumer.stop()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.consumers.floor_kafka")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("count", type=int)
    a = p.parse_args()
    try:
        asyncio.run(run(a.bootstrap, a.topic, a.count))
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
