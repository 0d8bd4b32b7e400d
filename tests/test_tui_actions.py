"""The dashboard's re-publish (r), skip (s) and export (x) modals, driven by Pilot against
real brokers: what arrives on the broker is compared byte for byte, cancels and refusals are
checked to send or move nothing, and every action leaves one audit line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import nats
import nats.js.api
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from textual.app import App
from textual.notifications import SeverityLevel
from textual.pilot import Pilot
from textual.widgets import Input, Label, RadioButton, Static, TextArea

import evmon.tui.app
from evmon.actions import PROVENANCE_HEADER, AuditLog, default_audit_path, identity
from evmon.codec import decode_record
from evmon.config import KafkaSettings, NatsSettings
from evmon.model import Event
from evmon.selection import Start
from evmon.sources.kafka.group_lag import kafka_lag_snapshot
from evmon.sources.nats.tail import NatsSource
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec, kafka_spec, nats_spec
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.export import ExportModal
from evmon.tui.screens.republish import ProgressModal, RepublishModal
from evmon.tui.screens.skip import CORE_NATS_NOTE, SkipModal
from tests.brokers import ExternalKafka, KafkaBroker
from tests.helpers import ListSink
from tests.kafka_kit import commit_one, topic_with
from tests.waiting import async_wait_for

SIZE = (140, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit log under tmp_path, and the default export folder (XDG data) too."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def audit() -> list[dict[str, Any]]:
    return AuditLog(default_audit_path()).entries()


class RecordingApp(EvmonApp):
    """The dashboard, keeping every notification for the assertions."""

    CSS_PATH = str(Path(evmon.tui.app.__file__).with_name("app.tcss"))  # not tests/app.tcss

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.notes: list[tuple[str, str, SeverityLevel]] = []

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        self.notes.append((title, message, severity))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def errors(self) -> list[str]:
        return [message for _, message, severity in self.notes if severity == "error"]


def make_app(
    *,
    nats_url: str | None = None,
    kafka: str | None = None,
    subjects: Sequence[str] = (),
    streams: Sequence[str] = (),
    topics: Sequence[str] = (),
    start: Start | None = None,
    **kw: Any,
) -> RecordingApp:
    specs: list[SourceSpec] = []
    if nats_url is not None:
        settings = NatsSettings(urls=(nats_url,))
        specs.append(
            nats_spec(settings, subjects=subjects, streams=streams, start=start or Start())
        )
    if kafka is not None:
        settings_k = KafkaSettings(bootstrap=kafka)
        specs.append(kafka_spec(settings_k, topics=topics, start=start or Start()))
    return RecordingApp(EventStore(10_000), specs, blink=False, **kw)


async def connected(app: EvmonApp) -> None:
    await async_wait_for(
        lambda: all(view.state == "connected" for view in app.connections),
        timeout=30,
        message="every source connected",
    )


async def screen_is(app: App[Any], kind: type[object]) -> Any:
    return await async_wait_for(
        lambda: app.screen if isinstance(app.screen, kind) else None,
        message=f"{kind.__name__} on screen",
    )


async def main_screen(app: EvmonApp) -> None:
    await async_wait_for(lambda: app.screen is app.main_screen, message="back on the dashboard")


async def note(app: RecordingApp, needle: str, severity: SeverityLevel | None = None) -> str:
    """Wait for a notification containing ``needle`` (of that severity) and return it."""

    def found() -> str | None:
        for _, message, sev in app.notes:
            if needle in message and (severity is None or sev == severity):
                return message
        return None

    message = await async_wait_for(found, timeout=30, message=f"a notification with {needle!r}")
    assert message is not None
    return message


async def nats_sink(url: str, subjects: Sequence[str]) -> tuple[NatsSource, ListSink]:
    """A core subscriber keeping exact headers (nats-py's dict API would fold repeats)."""
    sink = ListSink()
    src = NatsSource(NatsSettings(urls=(url,)), sink, subjects=subjects)
    await src.start()
    return src, sink


async def round_trip(url: str) -> None:
    """A PING/PONG to the server: anything published before this has been routed."""
    nc = await nats.connect(url)
    try:
        await nc.flush()
    finally:
        await nc.close()


async def js_count(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


async def add_stream(url: str, name: str, subjects: list[str], **config: Any) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=name, subjects=subjects, **config)
    finally:
        await nc.close()


async def mark(pilot: Pilot[int], app: EvmonApp, rows: Sequence[int]) -> None:
    """Mark the events at these list rows (0 = oldest)."""
    for row in rows:
        await pilot.press("home", *["down"] * row, "space")
    assert len(app.event_list.marks) == len(rows)


# --------------------------------------------------------------------------- re-publish


JS_ORIGINALS: list[tuple[str, bytes, dict[str, str]]] = [
    ("a", b'{"id": 1, "note": "caf\xc3\xa9"}', {"Trace": "t1", "X-Name": "żółw"}),
    ("b", b"second, plain text", {}),
    ("c", bytes(range(256)), {"Bin": "yes"}),
]


async def test_republish_two_marked_jetstream_events_to_a_target(
    nats_url: str, unique: str
) -> None:
    stream, dst = f"{unique}-src", f"{unique}.dst"
    await add_stream(nats_url, stream, [f"{unique}.src.>"])
    app = make_app(nats_url=nats_url, subjects=[f"{unique}.src.>"], streams=[stream])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            for name, payload, headers in JS_ORIGINALS:
                await js.publish(f"{unique}.src.{name}", payload, headers=headers or None)
        finally:
            await nc.close()
        await async_wait_for(lambda: len(app.index) == 3, timeout=30, message="3 events")
        await pilot.pause()
        await mark(pilot, app, [0, 2])
        chosen = app.marked_events()
        assert [ev.offset for ev in chosen] == [1, 3] and chosen[0].stream == stream

        src, sink = await nats_sink(nats_url, [dst])
        service = await nats.connect(nats_url)  # a plain subscriber: evmon's own do not count
        try:
            await service.subscribe(dst)
            await service.flush()
            await pilot.press("r")
            modal = await screen_is(app, RepublishModal)
            target = modal.query_one("#republish-target", Input)
            assert target.value == "" and target.placeholder == "(original subjects)"
            assert not modal.query(TextArea)  # editing is for a single event
            target.value = dst
            await pilot.press("enter")
            confirm = await screen_is(app, ConfirmModal)
            assert confirm.title_text == f"Re-publish 2 events to {dst}?"
            await pilot.press("y")
            summary = await note(app, "sent 2 events")
            assert summary == (
                f"sent 2 events to {dst}: 2 delivered to the server, which has 1 subscriber"
            )
            await main_screen(app)
            await round_trip(nats_url)
            await async_wait_for(lambda: len(sink.events) == 2, message="2 re-published")
        finally:
            await service.close()
            await src.close()
        for got, orig in zip(sink.events, chosen, strict=True):
            assert got.subject == dst
            assert got.payload == orig.payload
            assert got.headers == (*orig.headers, (PROVENANCE_HEADER, identity(orig).encode()))
        assert identity(chosen[1]) == f"nats:{unique}.src.c:3"
        assert not app.errors()

    entries = audit()
    assert [(e["action"], e["outcome"], e["target"]) for e in entries] == [("replay", "ok", dst)]
    assert entries[0]["events"] == [identity(ev) for ev in chosen]


async def test_republish_an_edited_kafka_record(kafka_bootstrap: str, unique: str) -> None:
    topic, dst = f"{unique}-t", f"{unique}-dst"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 2, 1) for t in (topic, dst)])
    finally:
        await admin.close()
    app = make_app(kafka=kafka_bootstrap, topics=[topic])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                topic,
                b'{"amount":12,"currency":"EUR"}',
                key=b"\x00key\xff",
                partition=1,
                headers=[("Trace", b"t1"), ("Trace", b"t2")],
            )
        finally:
            await producer.stop()
        await async_wait_for(lambda: len(app.index) == 1, timeout=30, message="the record")
        await pilot.pause()
        original = app.marked_events()[0]  # nothing marked: the highlighted one

        await pilot.press("r")
        modal = await screen_is(app, RepublishModal)
        target = modal.query_one("#republish-target", Input)
        assert target.value == topic  # default: the original
        payload = modal.query_one("#republish-payload", TextArea)
        assert payload.text == '{\n  "amount": 12,\n  "currency": "EUR"\n}'  # pretty for editing
        assert modal.query_one("#republish-headers", TextArea).text == "Trace: t1\nTrace: t2"
        payload.load_text('{"amount": 13, "currency": "EUR", "note": "żółw"}')
        modal.query_one("#republish-headers", TextArea).load_text("Trace: t1\nX-Fixed: by hand\n")
        target.value = dst
        modal.query_one("#republish-count", Input).value = "2"
        target.focus()
        await pilot.press("enter")
        confirm = await screen_is(app, ConfirmModal)
        assert confirm.title_text == (
            f"Re-publish 1 edited event, 2 copies of each (2 messages), to {dst}?"
        )
        await pilot.press("y")
        await note(app, f"sent 2 events to {dst}: 2 stored")
        await main_screen(app)

    consumer = AIOKafkaConsumer(
        dst, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        got = [await asyncio.wait_for(consumer.getone(), 30) for _ in range(2)]
        extra = await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()
    assert not any(extra.values())
    for record in got:
        assert record.value == '{"amount": 13, "currency": "EUR", "note": "żółw"}'.encode()
        assert record.key == b"\x00key\xff"
        assert list(record.headers) == [
            ("Trace", b"t1"),
            ("X-Fixed", b"by hand"),
            (PROVENANCE_HEADER, identity(original).encode()),
        ]
    assert identity(original) == f"kafka:{topic}:1:0"
    entries = audit()
    assert [(e["action"], e["outcome"]) for e in entries] == [("replay", "ok")]
    assert entries[0]["events"] == [identity(original)] * 2
    assert (entries[0]["edited"], entries[0]["copies"], entries[0]["stored"]) == (True, 2, 2)
    assert len(entries[0]["sha256"]) == 64


async def test_cancel_at_the_modal_or_the_confirmation_sends_nothing(
    nats_url: str, unique: str
) -> None:
    stream, dst = f"{unique}-dst", f"{unique}.dst"
    await add_stream(nats_url, stream, [dst])
    app = make_app(nats_url=nats_url, subjects=[f"{unique}.none"])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        app.feed([Event("nats", f"{unique}.src", b"payload", time.time(), (("H", b"v"),))])

        await pilot.press("r")
        modal = await screen_is(app, RepublishModal)
        modal.query_one("#republish-target", Input).value = dst
        await pilot.press("escape")
        await main_screen(app)

        await pilot.press("r")
        modal = await screen_is(app, RepublishModal)
        modal.query_one("#republish-target", Input).value = dst
        await pilot.press("enter")
        await screen_is(app, ConfirmModal)
        await pilot.press("n")
        await note(app, "Nothing was sent.")
        await main_screen(app)
        assert await js_count(nats_url, stream) == 0

        # the same steps, confirmed, do reach the stream (the count above is not vacuous)
        await pilot.press("r")
        modal = await screen_is(app, RepublishModal)
        modal.query_one("#republish-target", Input).value = dst
        await pilot.press("enter")
        await screen_is(app, ConfirmModal)
        await pilot.press("y")
        await note(app, f"sent 1 event to {dst}: 1 stored")
        assert await js_count(nats_url, stream) == 1
    assert [e["outcome"] for e in audit()] == ["ok"]  # cancels before sending are not actions


async def test_invalid_target_is_fixed_in_the_modal_and_a_refused_publish_is_an_error(
    nats_url: str, unique: str
) -> None:
    # a stream that takes one message and refuses the next: the second publish fails
    stream, dst = f"{unique}-full", f"{unique}.full"
    await add_stream(nats_url, stream, [dst], max_msgs=1, discard=nats.js.api.DiscardPolicy.NEW)
    app = make_app(nats_url=nats_url, subjects=[f"{unique}.none"])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        now = time.time()
        app.feed([Event("nats", f"{unique}.src.{i}", b"m%d" % i, now) for i in range(2)])
        await mark(pilot, app, [0, 1])

        await pilot.press("r")
        modal = await screen_is(app, RepublishModal)
        modal.query_one("#republish-target", Input).value = "a..b"
        await pilot.press("enter")
        error = modal.query_one("#republish-error", Static)
        await async_wait_for(lambda: "a..b" in str(error.render()), message="inline error")
        assert app.screen is modal  # still open, to be fixed

        modal.query_one("#republish-target", Input).value = dst
        await pilot.press("enter")
        await screen_is(app, ConfirmModal)
        await pilot.press("y")
        message = await note(app, "failed", severity="error")
        assert message.startswith(f"re-publish of nats:{unique}.src.1 to {dst} failed: ")
        assert message.endswith(
            "; 1 of 2 events were acknowledged before it, the rest were not sent"
        )
        assert "\n" not in message and "Traceback" not in message
        await main_screen(app)
        # the dashboard keeps running
        assert app.is_running
        follow = app.event_list.follow
        await pilot.press("p")
        assert app.event_list.follow is not follow
        assert await js_count(nats_url, stream) == 1
    assert [(e["action"], e["outcome"]) for e in audit()] == [("replay", "failed")]


async def test_progress_is_shown_while_publishing(nats_url: str, unique: str) -> None:
    app = make_app(nats_url=nats_url, subjects=[f"{unique}.none"])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        app.feed([Event("nats", f"{unique}.src", b"x", time.time())])
        seen: list[str] = []
        original = ProgressModal.advance

        def spy(self: ProgressModal, done: int, total: int) -> None:
            original(self, done, total)
            seen.append(f"{done}/{total}")

        ProgressModal.advance = spy  # type: ignore[method-assign]
        try:
            await pilot.press("r")
            modal = await screen_is(app, RepublishModal)
            modal.query_one("#republish-count", Input).value = "3"
            await pilot.press("enter")
            await screen_is(app, ConfirmModal)
            await pilot.press("y")
            await note(app, "sent 3 events")
        finally:
            ProgressModal.advance = original  # type: ignore[method-assign]
        assert seen == ["1/3", "2/3", "3/3"]
        await main_screen(app)


async def test_republish_copies_count_duplicates_and_msg_id_new_stores_them(
    nats_url: str, unique: str
) -> None:
    """Copies of an event with a Nats-Msg-Id: kept, the stream stores one and says the rest
    were duplicates (warned before, counted after); with "new" every copy is stored."""
    stream, dst = f"{unique}-dst", f"{unique}.dst"
    await add_stream(nats_url, stream, [dst])
    app = make_app(nats_url=nats_url, subjects=[f"{unique}.none"])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        headers = (("Nats-Msg-Id", b"order-7"),)
        app.feed([Event("nats", f"{unique}.src", b"payload", time.time(), headers)])

        async def republish(copies: int, msg_id: str) -> ConfirmModal:
            await pilot.press("r")
            modal = await screen_is(app, RepublishModal)
            modal.query_one("#republish-target", Input).value = dst
            modal.query_one("#republish-count", Input).value = str(copies)
            modal.query_one(f"#msg-id-{msg_id}", RadioButton).value = True
            await pilot.pause()
            modal.query_one("#republish-target", Input).focus()
            await pilot.press("enter")
            return await screen_is(app, ConfirmModal)

        confirm = await republish(3, "keep")
        assert confirm.body.splitlines()[0] == (
            f"warning: 3 events carry Nats-Msg-Id and {dst} is stored by stream {stream} "
            "with a 2 min duplicate window: an id it already holds is dropped as a duplicate, "
            "not stored (--msg-id new gives fresh ids, --msg-id drop none)"
        )
        await pilot.press("y")
        summary = await note(app, "sent 3 events", severity="warning")
        assert summary == (
            f"sent 3 events to {dst}: 1 stored, 2 dropped as duplicates by stream {stream} "
            "(Nats-Msg-Id within the duplicate window)"
        )
        assert await js_count(nats_url, stream) == 1
        await main_screen(app)

        app.notes.clear()
        await republish(3, "new")
        await pilot.press("y")
        assert await note(app, "sent 3 events") == f"sent 3 events to {dst}: 3 stored"
        assert await js_count(nats_url, stream) == 4
    entries = audit()
    assert [(e["outcome"], e["msg_id"], e["stored"], e["copies"]) for e in entries] == [
        ("partial", "keep", 1, 3),
        ("ok", "new", 3, 3),
    ]
    assert entries[0]["duplicates"] == {stream: 2}


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


# --------------------------------------------------------------------------- export


def sample_events(unique: str) -> list[Event]:
    now = 1_700_000_000.5
    return [
        Event("nats", f"{unique}.a", b'{"id": 1}', now, (("H", b"1"), ("H", b"2"))),
        Event("kafka", f"{unique}-t", None, now + 1, (), b"\x00k", None, 2, 41),
        Event("nats", f"{unique}.b", bytes(range(256)), now + 2, (("X", b"\xff\xfe"),)),
        Event("nats", f"{unique}.a", "żółw".encode(), now + 3, (), None, "ST", None, 7),
    ]


async def test_export_filtered_then_marked_events_read_back_identical(
    tmp_path: Path, unique: str
) -> None:
    events = sample_events(unique)
    app = make_app(read_only=True)  # export changes no broker: allowed in read-only mode
    async with app.run_test(size=SIZE) as pilot:
        app.feed(events)
        app.filter_bar.set_text(f"{unique}.a")
        await async_wait_for(lambda: len(app.index) == 2, message="filter applied")

        await pilot.press("x")
        modal = await screen_is(app, ExportModal)
        assert "2 events (matching the filter)" in str(
            modal.query_one("#export-count", Static).render()
        )
        path_input = modal.query_one("#export-path", Input)
        default = Path(path_input.value)
        assert default.parent == tmp_path / "data" / "evmon" / "exports"
        assert default.name.startswith("evmon-export-")
        await pilot.press("enter")
        await note(app, f"exported 2 events to {default}")
        await main_screen(app)
        lines = (await asyncio.to_thread(default.read_bytes)).splitlines()
        assert [decode_record(line) for line in lines] == [events[0], events[3]]

        app.filter_bar.set_text("")
        await async_wait_for(lambda: len(app.index) == 4, message="filter cleared")
        await mark(pilot, app, [1, 2])
        await pilot.press("x")
        modal = await screen_is(app, ExportModal)
        marked = tmp_path / "marked.jsonl"
        modal.query_one("#export-path", Input).value = str(marked)
        await pilot.press("enter")
        await note(app, f"exported 2 events to {marked}")
        assert [
            decode_record(line)
            for line in (await asyncio.to_thread(marked.read_bytes)).splitlines()
        ] == events[1:3]

        # an existing file is not overwritten: the modal says so and stays open
        await pilot.press("x")
        modal = await screen_is(app, ExportModal)
        modal.query_one("#export-path", Input).value = str(marked)
        await pilot.press("enter")
        error = modal.query_one("#export-error", Static)
        await async_wait_for(lambda: "already exists" in str(error.render()), message="error")
        await pilot.press("escape")
        await main_screen(app)
    entries = audit()
    assert [(e["action"], e["outcome"]) for e in entries] == [("export", "ok"), ("export", "ok")]
    assert entries[1]["events"] == [identity(ev) for ev in events[1:3]]
    assert entries[1]["target"] == str(marked.resolve())


# --------------------------------------------------------------------------- read-only


async def test_read_only_refuses_republish_and_skip_with_the_reason(
    nats_url: str, unique: str
) -> None:
    subject = f"{unique}.src"
    app = make_app(nats_url=nats_url, subjects=[f"{unique}.none"], read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        app.feed([Event("nats", subject, b"x", time.time(), (), None, "ST", None, 5)])
        src, sink = await nats_sink(nats_url, [f"{unique}.>"])
        try:
            await pilot.press("r")
            await note(app, "read-only mode: re-publish is disabled", severity="warning")
            await pilot.press("s")
            await note(app, "read-only mode: skip is disabled", severity="warning")
            await pilot.pause()
            assert app.screen is app.main_screen

            # the footer shows them greyed out; help and the palette say why
            bindings = {k: b.enabled for k, b in app.screen.active_bindings.items()}
            assert bindings["r"] is False and bindings["s"] is False and bindings["x"] is True
            rows = dict(
                (desc, keys) for _, section in app.help_sections() for keys, desc in section
            )
            assert rows["Re-publish (read-only: disabled)"] == "r"
            assert rows["Skip (read-only: disabled)"] == "s"
            palette = {action: help_text for _, help_text, action in app.palette_commands()}
            assert palette["republish"] == "disabled: read-only mode: re-publish is disabled"
            assert palette["export"] == "Export (x)"

            # invoked from the palette: refused with the reason, no modal
            app.notes.clear()
            await pilot.press("ctrl+p", *"re-publish", "enter")
            await note(app, "read-only mode: re-publish is disabled", severity="warning")
            await main_screen(app)

            await round_trip(nats_url)
            assert sink.events == []
        finally:
            await src.close()
    assert audit() == []
