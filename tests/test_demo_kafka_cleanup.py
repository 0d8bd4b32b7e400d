"""`evmon demo --kafka HOST:PORT` on a user's broker: on exit it deletes the topics and groups
it created (``--keep`` keeps them), never what was there before, and says so in one line.

Names get the test's unique prefix (the broker is shared); what exists is read with the
admin API and Kafka's own ConsumerGroupCommand, not with the demo's code.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CoordinatorNotAvailableError, GroupLoadInProgressError

from evmon.demo import demo_system
from evmon.demo.system import DemoSystem
from tests.brokers import ExternalKafka, KafkaBroker
from tests.test_demo import DemoProcess
from tests.waiting import async_wait_for


async def topics_and_groups(bootstrap: str) -> tuple[set[str], set[str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # A broker busy loading its group coordinator answers with a retriable error.
        async def listed() -> tuple[list[Any]]:  # a tuple: truthy even with no group
            return (await admin.list_consumer_groups(),)

        (groups,) = await async_wait_for(
            listed,
            timeout=30,
            ignore=(GroupLoadInProgressError, CoordinatorNotAvailableError),
            message="the broker lists its groups",
        )
        return set(await admin.list_topics()), {g[0] for g in groups}
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()


async def groups_formed(demo: DemoSystem, bootstrap: str) -> None:
    """Until every demo group exists on the broker (fraud-check has stopped at its poison
    record, the other two have members), so there is something to delete."""
    kd = demo.kafka_demo
    assert kd is not None
    await async_wait_for(kd.fraud_check_stopped.wait, timeout=60, message="fraud-check stop")

    async def all_there() -> bool:
        _, groups = await topics_and_groups(bootstrap)
        return set(demo.kafka_groups) <= groups

    await async_wait_for(all_there, timeout=60, message="the four demo groups")


async def test_the_demo_deletes_what_it_created_and_keep_keeps_it(
    kafka_broker: KafkaBroker | ExternalKafka, kafka_bootstrap: str, unique: str
) -> None:
    # 1. --keep: everything stays, and the line says so
    notes: list[str] = []
    async with demo_system(
        seed=7, kafka=kafka_bootstrap, kafka_prefix=f"{unique}-", keep=True, on_note=notes.append
    ) as demo:
        topics, groups = list(demo.kafka_topics), list(demo.kafka_groups)
        assert demo.kafka_demo is not None
        assert demo.kafka_demo.created_topics == tuple(topics)
        assert demo.kafka_demo.created_groups == tuple(groups)
        await groups_formed(demo, kafka_bootstrap)
    assert notes == [
        f"kept the demo's Kafka topics {', '.join(topics)} and groups {', '.join(groups)} "
        f"on {kafka_bootstrap} (--keep)"
    ]
    have_topics, have_groups = await topics_and_groups(kafka_bootstrap)
    assert set(topics) <= have_topics and set(groups) <= have_groups

    # 2. without --keep, on the same names: they existed before this run, so they stay
    notes.clear()
    async with demo_system(
        seed=8, kafka=kafka_bootstrap, kafka_prefix=f"{unique}-", on_note=notes.append
    ) as demo:
        assert demo.kafka_demo is not None
        assert demo.kafka_demo.created_topics == demo.kafka_demo.created_groups == ()
    assert notes == []
    have_topics, have_groups = await topics_and_groups(kafka_bootstrap)
    assert set(topics) <= have_topics and set(groups) <= have_groups
    await delete_topics(kafka_bootstrap, topics)

    # 3. new names, without --keep: the topics and groups it created are gone afterwards
    notes.clear()
    async with demo_system(
        seed=9, kafka=kafka_bootstrap, kafka_prefix=f"{unique}-new-", on_note=notes.append
    ) as demo:
        topics, groups = list(demo.kafka_topics), list(demo.kafka_groups)
        await groups_formed(demo, kafka_bootstrap)
    assert notes == [
        f"deleted the demo's Kafka topics {', '.join(topics)} and groups {', '.join(groups)} "
        f"from {kafka_bootstrap} (--keep keeps them)"
    ]

    async def gone() -> bool:
        have_topics, have_groups = await topics_and_groups(kafka_bootstrap)
        return not (set(topics) & have_topics) and not (set(groups) & have_groups)

    await async_wait_for(gone, timeout=30, message="the demo's topics and groups deleted")
    for group in groups:
        assert await asyncio.to_thread(kafka_broker.describe_group, group) == [], group


async def test_serve_says_on_exit_what_it_did_with_the_topics(kafka_bootstrap: str) -> None:
    """The CLI prints the line on stderr after SIGINT (the demo's own names: skipped if a
    broker given by the environment already has them, since then none are deleted)."""
    topics = {"shop.orders", "shop.payments"}
    groups = {"billing", "analytics", "fraud-check", "order-audit"}
    before_topics, before_groups = await topics_and_groups(kafka_bootstrap)
    if topics & before_topics or groups & before_groups:
        pytest.skip("this broker already has the demo's topics or groups (EVMON_TEST_KAFKA?)")
    demo = DemoProcess("--kafka", kafka_bootstrap)
    try:
        demo.banner(timeout=60)
        assert "deletes the Kafka topics and groups it created" in demo.stdout

        async def formed() -> bool:
            return groups <= (await topics_and_groups(kafka_bootstrap))[1]

        await async_wait_for(formed, timeout=60, message="the four demo groups")
        assert demo.stop(signal.SIGINT, timeout=60) == 0, demo.stderr
    finally:
        demo.kill()
    lines = [line for line in demo.stderr.splitlines() if line.startswith("evmon demo: ")]
    assert lines == [
        "evmon demo: deleted the demo's Kafka topics shop.orders, shop.payments and groups "
        f"billing, analytics, fraud-check, order-audit from {kafka_bootstrap} (--keep keeps them)"
    ], demo.stderr
    after_topics, after_groups = await topics_and_groups(kafka_bootstrap)
    assert not topics & after_topics and not groups & after_groups
