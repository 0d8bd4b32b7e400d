"""The event acted on is the event on screen (issue 12, section 2).

While the list follows a live flood, opening the detail (``enter``) or pressing ``r``, ``s``,
``x`` or ``space`` pins the event(s): the list stops following and says so, the detail keeps
the opened event while hundreds more arrive and the bounded store evicts it, and the
re-publish that reaches the broker is that event (found by its provenance header).

The flood is a separate process publishing into a real JetStream stream, so every event has
an exact identity (stream#sequence) and keeps arriving for the whole test. In the tests of
the detail the store is small, and they also wait until the opened event is evicted; it is
not too small, because a loaded machine delivers the flood in bursts of a few hundred, and
the newest event must outlive the frame it was drawn in (``BIG`` where no eviction is meant).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.msg import Msg
from textual.app import App
from textual.widgets import Input, Static

from evmon.actions import PROVENANCE_HEADER
from evmon.config import NatsSettings
from evmon.model import Event
from evmon.selection import Start
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import nats_spec
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.export import ExportModal
from evmon.tui.screens.republish import RepublishModal
from evmon.tui.screens.skip import SkipModal
from tests.tui_actions_kit import connected
from tests.waiting import async_wait_for

SIZE = (140, 40)
#: A small store: the opened event is evicted soon after the 200 more the tests wait for.
CAPACITY = 300
BIG = 10_000
MORE = 200
RATE = 200  # messages per second from the flood process

FLOOD = """
import asyncio, sys, time
import nats

async def main(url, subject, rate):
    nc = await nats.connect(url)
    start, sent = time.monotonic(), 0
    while True:
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            await nc.publish(subject, b'{"n": %d}' % sent)
            sent += 1
        await asyncio.sleep(0.005)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit log and default export files under tmp_path."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


@asynccontextmanager
async def flood(url: str, subject: str) -> AsyncIterator[None]:
    """A publisher process sending ``{"n": i}`` at ``RATE``/s until the block ends."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOD, url, subject, str(RATE)
    )
    try:
        yield
    finally:
        proc.kill()
        await proc.wait()


async def add_stream(url: str, name: str, subjects: list[str]) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=name, subjects=subjects)
    finally:
        await nc.close()


def names(unique: str) -> tuple[str, str, str]:
    """Stream, flooded subject and re-publish target; the stream name is short so that the
    detail pane's "stream S seq N" line never wraps."""
    return f"PIN_{unique[-8:]}", f"{unique}.flood", f"{unique}.replayed"


def stream_app(url: str, stream: str, subject: str, capacity: int = CAPACITY) -> EvmonApp:
    spec = nats_spec(NatsSettings(urls=(url,)), subjects=[subject], streams=[stream], start=Start())
    return EvmonApp(EventStore(capacity), [spec], blink=False)


async def screen_is(app: App[Any], kind: type[object]) -> Any:
    return await async_wait_for(
        lambda: app.screen if isinstance(app.screen, kind) else None,
        message=f"{kind.__name__} on screen",
    )


async def arrived(app: EvmonApp, n: int) -> None:
    """Wait until ``n`` more events reached the dashboard than now."""
    target = app.store.total + n
    await async_wait_for(lambda: app.store.total >= target, timeout=30, message=f"{n} more events")


async def listed(app: EvmonApp, stream: str) -> None:
    """Wait until the list draws events (the store gets them first, the list on its timer)."""
    await async_wait_for(lambda: row_seqs(app, stream), message="events listed")


async def evicted(app: EvmonApp, seq: int) -> None:
    """Wait until the store no longer holds stream sequence ``seq``."""
    await async_wait_for(
        lambda: all(ev.offset != seq for ev in app.filtered_events()),
        timeout=30,
        message=f"sequence {seq} evicted from the store",
    )


def detail_seq(app: EvmonApp, stream: str) -> int | None:
    """The stream sequence the detail pane shows ("source  nats  stream S seq N")."""
    found = re.search(rf"stream\s+{stream}\s+seq\s+(\d+)", app.detail.text())
    return int(found.group(1)) if found else None


def row_seqs(app: EvmonApp, stream: str) -> list[int]:
    """The stream sequences of the rows drawn in the list, top to bottom."""
    pattern = re.compile(rf"{stream}#(\d+)\b")
    return [int(m.group(1)) for row in app.event_list.visible_texts() if (m := pattern.search(row))]


def shown(widget: Static) -> str:
    return str(widget.render())


async def test_republish_under_a_flood_sends_the_opened_event_after_200_more(
    nats_url: str, unique: str
) -> None:
    stream, subject, dst = names(unique)
    await add_stream(nats_url, stream, [subject])
    app = stream_app(nats_url, stream, subject)
    received: list[Msg] = []

    async def keep(msg: Msg) -> None:
        received.append(msg)

    nc = await nats.connect(nats_url)
    try:
        await nc.subscribe(dst, cb=keep)
        await nc.flush()
        async with app.run_test(size=SIZE) as pilot, flood(nats_url, subject):
            await connected(app)
            await arrived(app, 20)
            await listed(app, stream)
            assert app.event_list.follow
            await pilot.press("enter")
            seq = await async_wait_for(lambda: detail_seq(app, stream), message="the detail")
            assert seq is not None
            opened = app.detail.text()
            assert not app.event_list.follow
            assert "pinned: following paused" in str(app.event_list.border_subtitle)
            assert "end/p resumes" in str(app.event_list.border_subtitle)

            await arrived(app, MORE)
            assert app.detail.text() == opened  # the same event, payload and all
            await evicted(app, seq)
            assert app.detail.text() == opened

            await pilot.press("r")
            modal = await screen_is(app, RepublishModal)
            named = shown(modal.query_one("#republish-events", Static))
            assert named == f"nats  {subject}  {stream}#{seq}"
            await arrived(app, 50)  # still flooding while the modal is open
            modal.query_one("#republish-target", Input).value = dst
            await pilot.press("enter")
            confirm = await screen_is(app, ConfirmModal)
            assert dst in confirm.title_text
            await pilot.press("y")
            await async_wait_for(lambda: received, timeout=30, message="the re-published copy")
            await async_wait_for(
                lambda: app.screen is app.main_screen, message="back on the dashboard"
            )
            assert detail_seq(app, stream) == seq
        await nc.flush()  # anything else published to dst has reached us by now
    finally:
        await nc.close()
    [copy] = received
    assert copy.headers == {PROVENANCE_HEADER: f"nats:{subject}:{seq}"}
    n = orjson.loads(copy.data)["n"]
    assert f'"n": {n}' in opened  # the payload of the opened event


async def test_r_takes_the_newest_event_when_pressed_not_when_submitted(
    nats_url: str, unique: str
) -> None:
    stream, subject, dst = names(unique)
    await add_stream(nats_url, stream, [subject])
    app = stream_app(nats_url, stream, subject, BIG)
    received: list[Msg] = []

    async def keep(msg: Msg) -> None:
        received.append(msg)

    nc = await nats.connect(nats_url)
    try:
        await nc.subscribe(dst, cb=keep)
        await nc.flush()
        async with app.run_test(size=SIZE) as pilot, flood(nats_url, subject):
            await connected(app)
            await arrived(app, 20)
            await listed(app, stream)
            assert app.event_list.follow
            await pilot.press("r")  # no detail, nothing marked: the event under the cursor
            modal = await screen_is(app, RepublishModal)
            assert not app.event_list.follow
            named = shown(modal.query_one("#republish-events", Static))
            found = re.fullmatch(rf"nats  {re.escape(subject)}  {stream}#(\d+)", named)
            assert found is not None, named
            seq = int(found.group(1))
            await arrived(app, MORE)
            modal.query_one("#republish-target", Input).value = dst
            await pilot.press("enter")
            await screen_is(app, ConfirmModal)
            await pilot.press("y")
            await async_wait_for(lambda: received, timeout=30, message="the re-published copy")
            await async_wait_for(
                lambda: app.screen is app.main_screen, message="back on the dashboard"
            )
        await nc.flush()
    finally:
        await nc.close()
    [copy] = received
    assert copy.headers == {PROVENANCE_HEADER: f"nats:{subject}:{seq}"}


async def test_the_detail_keeps_the_opened_event_and_end_or_p_resumes(
    nats_url: str, unique: str
) -> None:
    stream, subject, _ = names(unique)
    await add_stream(nats_url, stream, [subject])
    app = stream_app(nats_url, stream, subject)
    async with app.run_test(size=SIZE) as pilot, flood(nats_url, subject):
        await connected(app)
        await arrived(app, 20)
        await listed(app, stream)
        events = app.event_list
        await pilot.press("enter")
        seq = await async_wait_for(lambda: detail_seq(app, stream), message="the detail")
        assert seq is not None
        assert events.border_title == "Events · pinned"
        assert app.detail.border_title == "Event · pinned"
        await arrived(app, MORE)
        assert detail_seq(app, stream) == seq
        await evicted(app, seq)
        assert detail_seq(app, stream) == seq
        # the list draws only newer rows
        await async_wait_for(
            lambda: (rows := row_seqs(app, stream)) and min(rows) > seq, message="newer rows"
        )
        await async_wait_for(
            lambda: "+" in str(events.border_subtitle), message="the new rows counted"
        )
        subtitle = str(events.border_subtitle)
        assert re.search(r"pinned: following paused \+[\d,]+ new — end/p resumes$", subtitle)

        # end: following again; the open detail follows the newest event with the list
        await pilot.press("end")
        assert events.follow and "pinned" not in str(events.border_subtitle)
        assert events.border_title == "Events"
        newest = max(row_seqs(app, stream))
        await async_wait_for(
            lambda: max(row_seqs(app, stream)) > newest, message="the list follows again"
        )
        await async_wait_for(
            lambda: (detail_seq(app, stream) or 0) > seq + MORE, message="the detail follows"
        )

        await app.close_sources()


async def test_space_pins_the_marked_event_and_p_resumes(nats_url: str, unique: str) -> None:
    stream, subject, _ = names(unique)
    await add_stream(nats_url, stream, [subject])
    app = stream_app(nats_url, stream, subject, BIG)
    async with app.run_test(size=SIZE) as pilot, flood(nats_url, subject):
        await connected(app)
        await arrived(app, 20)
        await listed(app, stream)
        events = app.event_list
        assert events.follow
        await pilot.press("space")
        assert not events.follow and "pinned" in str(events.border_subtitle)
        [marked] = app.marked_events()
        await arrived(app, 50)
        rows = app.event_list.visible_texts()
        assert any(row.startswith("●") and f"{stream}#{marked.offset} " in row for row in rows)
        await pilot.press("p")
        assert events.follow and "pinned" not in str(events.border_subtitle)
        offset = marked.offset
        assert offset is not None
        await async_wait_for(
            lambda: max(row_seqs(app, stream)) > offset + 50,
            message="following after p",
        )
        await app.close_sources()


HOSTILE = [
    Event("nats", "orders.[bold red]boom[/]", b"{}", time.time(), (), None, "ORD", None, 7),
    Event("kafka", "pay[link=x]", b"x", time.time(), (), b"k\x1b[2J", None, 2, 41),
]


async def test_every_action_modal_names_its_events_as_text_not_markup() -> None:
    app = EvmonApp(EventStore(100), blink=False)
    async with app.run_test(size=SIZE) as pilot:
        app.feed(HOSTILE)
        await pilot.press("space", "up", "space")  # mark both (space pins)
        assert not app.event_list.follow
        lines = [
            "nats  orders.[bold red]boom[/]  ORD#7",
            "kafka  pay[link=x]  p2@41  key k\\x1b[2J",
        ]

        await pilot.press("r")
        modal = await screen_is(app, RepublishModal)
        assert shown(modal.query_one("#republish-events", Static)).splitlines() == lines
        await pilot.press("escape")

        await pilot.press("x")
        export = await screen_is(app, ExportModal)
        assert shown(export.query_one("#export-events", Static)).splitlines() == lines
        await pilot.press("escape")

        await pilot.press("s")  # the highlighted one: the NATS event, a JetStream message
        skip = await screen_is(app, SkipModal)
        assert shown(skip.query_one("#skip-event", Static)) == lines[0]
        await pilot.press("escape")
