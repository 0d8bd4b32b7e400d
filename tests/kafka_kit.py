"""Kafka set-up shared by the tests: topics, records in a known split, group offsets, and
record batches unpacked into runs as evmon reads them (broker-free)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.admin import DeleteGroupsRequest


async def create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def produce_split(bootstrap: str, topic: str, split: dict[int, int]) -> None:
    """``split[p]`` records to partition ``p``, valued ``"p-i"``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, count in split.items():
            for i in range(count):
                await producer.send(topic, f"{partition}-{i}".encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def commit_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit for ``group`` without joining it: assign() and commit explicit offsets."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = {TopicPartition(topic, p): o for p, o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def delete_groups(bootstrap: str, groups: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for group in groups:
            node = await admin.find_coordinator(group)
            await admin._client.send(node, DeleteGroupsRequest([group]))
    finally:
        await admin.close()


async def topic_with(bootstrap: str, topic: str, partition: int, n: int) -> None:
    """A 3-partition topic with ``n`` records ``m0..m{n-1}`` (offsets 0..n-1) on ``partition``."""
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"m{i}".encode(), partition=partition)
    finally:
        await producer.stop()


async def commit_one(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    """Commit ``offset`` on one partition for ``group`` without joining it."""
    await commit_offsets(bootstrap, group, tp.topic, {tp.partition: offset})


def runs_of(raw: bytes, topic: str = "t", partition: int = 0) -> list[Any]:
    """Record batches (bytes) unpacked by evmon's patch: the runs ``KafkaSource`` gets."""
    from aiokafka.consumer import fetcher
    from aiokafka.record.memory_records import MemoryRecords

    from evmon.sources.kafka.records import AS_RUNS

    return list(
        fetcher.PartitionRecords(
            TopicPartition(topic, partition),
            MemoryRecords(raw),
            [],
            0,
            None,
            AS_RUNS,
            True,
            fetcher.READ_UNCOMMITTED,
        )
    )
