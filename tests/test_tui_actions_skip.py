"""The dashboard's skip (s) modal, driven by Pilot against real brokers: a Kafka group's
committed offset moves past the stuck record, a JetStream consumer's poison message is
terminated, refusals move nothing, and every action leaves one audit line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import nats.js.api
from aiokafka import AIOKafkaConsumer, TopicPartition
from textual.pilot import Pilot
from textual.widgets import Input, Label

from evmon.config import KafkaSettings
from evmon.model import Event
from evmon.selection import Start
from evmon.sources.kafka.group_lag import kafka_lag_snapshot
from evmon.tui.app import EvmonApp
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.skip import CORE_NATS_NOTE, SkipModal
from tests.brokers import ExternalKafka, KafkaBroker
from tests.kafka_kit import commit_one, topic_with
from tests.tui_actions_kit import (
    SIZE,
    _isolated,  # noqa: F401 - autouse: the audit log and the exports under tmp_path
    add_stream,
    audit,
    connected,
    main_screen,
    make_app,
    note,
    screen_is,
)
from tests.waiting import async_wait_for

# --------------------------------------------------------------------------- skip


async def current_offset(broker: KafkaBroker | ExternalKafka, group: str, partition: int) -> Any:
    """The group's committed offset on ``partition`` as Kafka's own tool reports it."""
    rows = await asyncio.to_thread(broker.describe_group, group)
    return next(r["CURRENT-OFFSET"] for r in rows if r["PARTITION"] == partition)


@contextlib.asynccontextmanager
async def live_member(bootstrap: str, group: str, topic: str) -> AsyncIterator[None]:
    """A consumer of ``group`` subscribed and polling until the block ends."""
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

        async def members() -> int | None:
            rows = await kafka_lag_snapshot(KafkaSettings(bootstrap), [group])
            return rows[0].members if rows else None

        await async_wait_for(members, timeout=30, message="member visible")
        yield
    finally:
        stop.set()
        await task
        await consumer.stop()


async def highlight_offset(pilot: Pilot[int], app: EvmonApp, offset: int) -> Event:
    await pilot.press("home", *["down"] * offset)
    ev = app.highlighted_event()
    assert ev is not None and ev.offset == offset
    return ev


async def test_kafka_skip_commits_the_next_offset(
    kafka_broker: KafkaBroker | ExternalKafka, kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await topic_with(kafka_bootstrap, topic, 1, 6)
    await commit_one(kafka_bootstrap, group, TopicPartition(topic, 1), 2)  # stuck at offset 2
    app = make_app(kafka=kafka_bootstrap, topics=[topic], start=Start("first"), groups=[group])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        await async_wait_for(lambda: len(app.index) == 6, timeout=30, message="6 records")
        await pilot.pause()
        ev = await highlight_offset(pilot, app, 2)
        assert ev.partition == 1

        await pilot.press("s")
        modal = await screen_is(app, SkipModal)
        assert modal.query_one("#skip-name", Input).value == group  # the one group known
        await pilot.press("enter")
        confirm = await screen_is(app, ConfirmModal)
        assert confirm.title_text == (
            f"Commit offset 3 for group {group} on {topic}[1] (skips offset 2; "
            "committed 2 (log 0-6))?"
        )
        body = confirm.body.splitlines()  # the record at the committed offset first
        assert body[:2] == [f"group {group} on {topic}[1] is stuck on offset 2:", "  key: none"]
        assert body[2].startswith("  2 bytes, timestamp ")
        assert body[3:] == [
            "  payload: m2",
            "before: committed 2 (log 0-6)",
            "after:  committed 3",
        ]
        await pilot.press("y")
        summary = await note(app, "skipped offset 2")
        assert summary.splitlines() == [
            f"group {group} on {topic}[1]: skipped offset 2",
            "  before: committed 2 (log 0-6)",
            "  after:  committed 3 (log 0-6)",
        ]
        await main_screen(app)
    assert await current_offset(kafka_broker, group, 1) == 3
    entries = audit()
    assert [(e["action"], e["outcome"]) for e in entries] == [("skip", "ok")]
    assert entries[0]["events"] == [f"kafka:{topic}:1:2"]


async def test_kafka_skip_on_an_active_group_is_refused_and_moves_nothing(
    kafka_broker: KafkaBroker | ExternalKafka, kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await topic_with(kafka_bootstrap, topic, 0, 3)
    await commit_one(kafka_bootstrap, group, TopicPartition(topic, 0), 1)
    app = make_app(kafka=kafka_bootstrap, topics=[topic], start=Start("first"))
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        await async_wait_for(lambda: len(app.index) == 3, timeout=30, message="3 records")
        await pilot.pause()
        await highlight_offset(pilot, app, 1)
        async with live_member(kafka_bootstrap, group, topic):
            await pilot.press("s")
            modal = await screen_is(app, SkipModal)
            modal.query_one("#skip-name", Input).value = group
            await pilot.press("enter")
            message = await note(app, "active", severity="error")
            assert message == f"group {group} has 1 active member; stop it first"
            await main_screen(app)
            assert await current_offset(kafka_broker, group, 0) == 1
    assert audit() == []  # refused before anything was attempted


async def test_jetstream_skip_terminates_the_consumers_poison_message(
    nats_url: str, unique: str
) -> None:
    stream, consumer, subject = unique.replace("-", "_").upper(), "worker", f"{unique}.work"
    await add_stream(nats_url, stream, [subject])
    app = make_app(nats_url=nats_url, subjects=[subject], streams=[stream], start=Start("first"))
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        for body in (b"poison", b"good-1"):
            await js.publish(subject, body)
        await js.add_consumer(
            stream,
            nats.js.api.ConsumerConfig(
                durable_name=consumer, ack_policy=nats.js.api.AckPolicy.EXPLICIT, ack_wait=30
            ),
        )
        sub = await js.pull_subscribe_bind(durable=consumer, stream=stream)
        [msg] = await sub.fetch(1, timeout=5)
        await nc.request(msg.reply, b"-NAK", timeout=5)  # the application fails on it

        async with app.run_test(size=SIZE) as pilot:
            await connected(app)
            await async_wait_for(lambda: len(app.index) == 2, timeout=30, message="2 messages")
            await pilot.pause()
            await pilot.press("home")
            ev = app.highlighted_event()
            assert ev is not None and (ev.stream, ev.offset, ev.payload) == (stream, 1, b"poison")

            await pilot.press("s")
            modal = await screen_is(app, SkipModal)
            shown = "\n".join(str(label.render()) for label in modal.query(Label))
            assert f"{stream}#1 ({subject})" in shown  # names the highlighted message
            modal.query_one("#skip-name", Input).value = consumer
            await pilot.press("enter")
            confirm = await screen_is(app, ConfirmModal)
            # the message evmon found and holds: the one the consumer is stuck on
            assert confirm.title_text == (
                f"Terminate {stream}#1 ({subject}, delivered 2 times) for consumer {consumer}?"
            )
            body = confirm.body.splitlines()
            assert body[:2] == [
                f"consumer {consumer} on stream {stream} is stuck on {stream}#1:",
                f"  subject: {subject}",
            ]
            assert body[2].startswith("  delivered 2 times, 6 bytes, stored ")
            assert body[3:] == [
                "  payload: poison",
                "before: ack floor 0, delivered 1, 1 pending, 1 awaiting ack, 0 redelivered",
            ]
            await pilot.press("y")
            summary = await note(app, "terminated stream sequence 1")
            assert summary.splitlines()[0] == (
                f"consumer {consumer} on stream {stream}: terminated stream sequence 1 "
                f"({subject}, delivered 2 times)"
            )
            await main_screen(app)

        [msg] = await sub.fetch(1, timeout=5)  # the poison never comes back
        assert (msg.data, msg.metadata.sequence.stream) == (b"good-1", 2)
    finally:
        await nc.close()
    entries = audit()
    assert [(e["action"], e["outcome"]) for e in entries] == [("skip", "ok")]
    assert entries[0]["events"] == [f"nats:{subject}:1"]


async def test_skip_on_core_nats_says_what_skip_applies_to() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.feed([Event("nats", "core.subject", b"x", time.time())])
        await pilot.press("s")
        await note(app, CORE_NATS_NOTE, severity="warning")
        assert app.screen is app.main_screen
