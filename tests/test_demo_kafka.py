"""`evmon demo --kafka`: topics, a producer and three consumer groups on a real broker.

Names get the test's unique prefix, so the test can share a broker with anything else.
Group state is read with Kafka's own tool (ConsumerGroupCommand), not with evmon's code.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from evmon.demo import KAFKA_POISON_PAYMENT_ID, demo_system
from evmon.demo.kafka import POISON_PARTITION, is_poison
from tests.brokers import ExternalKafka, KafkaBroker
from tests.waiting import async_wait_for

Rows = list[dict[str, int | str | None]]


async def test_demo_kafka_topics_and_groups(
    kafka_broker: KafkaBroker | ExternalKafka, kafka_bootstrap: str, unique: str
) -> None:
    async with demo_system(seed=6, kafka=kafka_bootstrap, kafka_prefix=f"{unique}-") as demo:
        kd = demo.kafka_demo
        assert kd is not None and demo.kafka is not None
        orders, payments = demo.kafka_topics
        billing, analytics, fraud, _audit = demo.kafka_groups
        assert (orders, payments) == (f"{unique}-shop.orders", f"{unique}-shop.payments")
        assert demo.kafka_poison is not None
        assert demo.kafka_poison.partition == POISON_PARTITION

        async def describe(group: str) -> Rows:
            return await asyncio.to_thread(kafka_broker.describe_group, group)

        # fraud-check stopped at the poison record and left its group
        await async_wait_for(kd.fraud_check_stopped.wait, timeout=60, message="fraud-check stop")
        rows = await describe(fraud)
        assert rows and all(r["CONSUMER-ID"] is None for r in rows), rows
        p0 = next(r for r in rows if r["PARTITION"] == POISON_PARTITION)
        assert p0["CURRENT-OFFSET"] == demo.kafka_poison.offset

        reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
        await reader.start()
        try:
            assert await _partitions(kafka_bootstrap, orders, payments) == {
                orders: {0, 1, 2},
                payments: {0, 1, 2},
            }
            tp = TopicPartition(payments, POISON_PARTITION)
            reader.assign([tp])
            reader.seek(tp, int(p0["CURRENT-OFFSET"] or 0))
            record = await asyncio.wait_for(reader.getone(), 30)
            assert is_poison(record.value)
            assert KAFKA_POISON_PAYMENT_ID.encode() in (record.value or b"")
        finally:
            await reader.stop()

        # billing keeps up; analytics has members and a growing lag
        async def members_and_lag(group: str) -> Rows | None:
            rows = await describe(group)
            ok = rows and all(r["CONSUMER-ID"] and r["CURRENT-OFFSET"] is not None for r in rows)
            return rows if ok else None

        await async_wait_for(lambda: members_and_lag(billing), timeout=60, message="billing")
        first = await async_wait_for(
            lambda: members_and_lag(analytics), timeout=60, message="analytics committed"
        )

        async def lag_grew() -> Rows | None:
            rows = await members_and_lag(analytics)
            return rows if rows and _lag(rows) > _lag(first) + 3 else None

        await async_wait_for(lag_grew, timeout=60, message="analytics lag to grow")


async def _partitions(bootstrap: str, *topics: str) -> dict[str, set[int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {t["topic"]: {p["partition"] for p in t["partitions"]} for t in described}


def _lag(rows: Rows) -> int:
    return sum(int(r["LAG"] or 0) for r in rows)
