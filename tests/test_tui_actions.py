"""The dashboard's re-publish (r) modal and read-only mode, driven by Pilot against real
brokers: what arrives on the broker is compared byte for byte, cancels and refusals are
checked to send or move nothing, and every action leaves one audit line. Skip (s) and
export (x) are in ``test_tui_actions_skip.py`` and ``test_tui_actions_export.py``.
"""

from __future__ import annotations

import asyncio
import time

import nats
import nats.js.api
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from textual.widgets import Input, RadioButton, Static, TextArea

from evmon.actions import PROVENANCE_HEADER, identity
from evmon.model import Event
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.republish import ProgressModal, RepublishModal
from tests.tui_actions_kit import (
    SIZE,
    _isolated,  # noqa: F401 - autouse: the audit log and the exports under tmp_path
    add_stream,
    audit,
    connected,
    js_count,
    main_screen,
    make_app,
    mark,
    nats_sink,
    note,
    round_trip,
    screen_is,
)
from tests.waiting import async_wait_for

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
