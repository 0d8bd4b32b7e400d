"""The dashboard against hostile publishers, on a real nats-server, driven by Pilot.

Subjects that are Rich markup (``evil.[/x]``, ``a.[link=...]``), start with ``!`` or carry
control characters are published through the raw protocol (nats-server accepts them). The
dashboard must stay up, show them literally (no style, no OSC 8 hyperlink, no escape
sequence reaching the terminal) and filter to them exactly. Also here: keys read in the
same batch as ``/`` belong to the filter, and URL credentials never reach the status bar.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator, Sequence

import nats
import pytest
from rich.console import Console
from textual import events

from evmon.config import NatsSettings
from evmon.selection import parse_start
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import nats_spec
from evmon.tui.screens.lag import LagScreen
from evmon.tui.screens.payload import PayloadScreen
from tests.brokers import NatsServer
from tests.tui_actions_kit import connected
from tests.waiting import async_wait_for

SIZE = (160, 40)
PASSWORD = "Sup3rS3cretPw42"
TOKEN = "t0kenS3cretXyz77"

#: (subject, what the tree's node for its last token shows)
HOSTILE = [
    ("evil.[/x]", "[/x]"),
    ("a.[red]b", "[red]b"),
    ("a.[link=http://evil/]LINKME[/link]", "[link=http://evil/]LINKME[/link]"),
    ("!neg.x", "x"),
    ("esc.\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
]


@pytest.fixture(scope="module")
def own_nats() -> Iterator[NatsServer]:
    server = NatsServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def users_nats() -> Iterator[NatsServer]:
    server = NatsServer(
        config=f'authorization {{\n  users = [{{user: alice, password: "{PASSWORD}"}}]\n}}\n',
        jetstream=False,
    )
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def token_nats() -> Iterator[NatsServer]:
    server = NatsServer(config=f'authorization {{\n  token: "{TOKEN}"\n}}\n', jetstream=False)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


async def raw_publish(url: str, messages: Sequence[tuple[str, bytes]]) -> None:
    """PUB frames written by hand: nats-py refuses some of these subjects, the server not."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    await reader.readline()  # INFO
    frames = b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n'
    for subject, payload in messages:
        frames += b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload), payload)
    writer.write(frames + b"PING\r\n")
    await writer.drain()
    line = await reader.readline()
    assert line.startswith(b"PONG"), line
    writer.close()
    await writer.wait_closed()


def terminal_output(app: EvmonApp) -> str:
    """What the terminal would be sent for the whole screen (escape sequences included)."""
    width, height = app.size
    out = io.StringIO()
    console = Console(
        width=width, height=height, file=out, force_terminal=True, color_system="truecolor"
    )
    console.print(app.screen._compositor.render_update(full=True))
    return out.getvalue()


def screen_text(app: EvmonApp) -> str:
    """The screen as plain text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def assert_no_sequences_from_publishers(app: EvmonApp) -> None:
    raw = terminal_output(app)
    assert "\x1b]8;" not in raw  # no OSC 8 hyperlink
    assert "\x1b]0;" not in raw  # no title change
    assert "\x07" not in raw


def dashboard(url: str, **kw: object) -> EvmonApp:
    spec = nats_spec(NatsSettings(urls=(url,)), **kw)  # type: ignore[arg-type]
    return EvmonApp(EventStore(10_000), [spec], blink=False)


async def test_hostile_subjects_render_literally_and_filter_exactly(own_nats: NatsServer) -> None:
    app = dashboard(own_nats.url, subjects=[">"])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        await raw_publish(own_nats.url, [(s, b"hello") for s, _ in HOSTILE])
        await async_wait_for(lambda: len(app.index) == len(HOSTILE), message="5 events")
        app.sync()
        await pilot.pause()
        assert app.is_running
        tree = app.subject_tree
        for subject, label in HOSTILE:
            node = tree.node_for("nats", subject)
            assert node is not None, subject
            assert node.label.plain == label
            assert node.label.spans == []  # not styled by its own "markup"
        text = screen_text(app)
        for shown in ("[/x]", "[red]b", "LINKME[/link]", "\\x1b]0;owned\\x07"):
            assert shown in text
        assert_no_sequences_from_publishers(app)
        # The list shows the subjects as they are (escaped), every row on screen.
        drawn = "\n".join(app.event_list.visible_texts())
        assert "a.[link=http://evil/]LINKME[/link]" in drawn
        assert "esc.\\x1b]0;owned\\x07" in drawn

        # "Filter to this node" on !neg.x is that subject, not "everything but neg.x".
        neg = tree.node_for("nats", "!neg.x")
        assert neg is not None
        tree.focus()
        await pilot.pause()
        tree.move_cursor(neg)
        await pilot.press("enter")
        await async_wait_for(lambda: app.index.filter is not None, message="filter applied")
        assert app.filter_bar.text == 'source:nats subject:"!neg.x"'
        assert [e.subject for e in app.visible_events()] == ["!neg.x"]
        # And its parent: every subject below "!neg".
        parent = tree.node_for("nats", "!neg")
        assert parent is not None
        tree.move_cursor(parent)
        await pilot.press("enter")
        await async_wait_for(
            lambda: app.filter_bar.applied == 'source:nats subject:"!neg".>', message="parent"
        )
        assert [e.subject for e in app.visible_events()] == ["!neg.x"]
        # A control character in the subject is written as an escape, never raw.
        esc = tree.node_for("nats", "esc.\x1b]0;owned\x07")
        assert esc is not None
        tree.move_cursor(esc)
        await pilot.press("enter")
        await async_wait_for(lambda: "esc" in app.filter_bar.applied, message="esc filter")
        assert app.filter_bar.text == 'source:nats subject:"esc.\\x1b]0;owned\\x07"'
        assert [e.subject for e in app.visible_events()] == ["esc.\x1b]0;owned\x07"]
        assert_no_sequences_from_publishers(app)

        # The full payload view's title is the subject as text.
        app.filter_bar.set_text('subject:"a.[link=http://evil/]LINKME[/link]"')
        await async_wait_for(lambda: len(app.index) == 1, message="the link subject")
        app.event_list.focus()
        await pilot.pause()
        await pilot.press("f")
        await async_wait_for(lambda: isinstance(app.screen, PayloadScreen), message="payload")
        await pilot.pause()
        assert "payload of a.[link=http://evil/]LINKME[/link]" in screen_text(app)
        assert_no_sequences_from_publishers(app)
        await pilot.press("escape")
        assert app.is_running
        await app.close_sources()


async def test_from_first_on_a_stream_with_a_markup_subject_starts(
    own_nats: NatsServer,
) -> None:
    nc = await nats.connect(own_nats.url)
    try:
        await nc.jetstream().add_stream(name="HOSTILE", subjects=["evil.>", "a.>"])
    finally:
        await nc.close()
    await raw_publish(own_nats.url, [("evil.[/x]", b"stored"), ("a.[red]b", b"stored")])
    app = dashboard(own_nats.url, streams=["HOSTILE"], start=parse_start("first"))
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_for(lambda: len(app.index) == 2, timeout=30, message="2 stored")
        app.sync()
        await pilot.pause()
        assert app.is_running
        assert [e.subject for e in app.visible_events()] == ["evil.[/x]", "a.[red]b"]
        node = app.subject_tree.node_for("nats", "evil.[/x]")
        assert node is not None and node.label.plain == "[/x]"
        assert "[/x]" in screen_text(app)
        assert_no_sequences_from_publishers(app)
        await app.close_sources()


def send_in_one_read(app: EvmonApp, keys: Sequence[str]) -> None:
    """Queue the keys the way a driver does for one read of the terminal: all of them
    before the app handles the first (Pilot's ``press`` waits for idle after each key)."""
    chars = {"slash": "/", "enter": "\r", "escape": "\x1b"}
    assert app._driver is not None
    for key in keys:
        event = events.Key(key, chars.get(key, key))
        event.set_sender(app)
        app._driver.send_message(event)


async def test_keys_read_with_slash_belong_to_the_filter() -> None:
    app = EvmonApp(EventStore(100, clock=lambda: 0.0), blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"quantity")
        assert app.is_running
        assert app.filter_bar.text == "quantity"
        await pilot.press("escape")
        assert app.event_list.has_focus
        app.filter_bar.set_text("")

        send_in_one_read(app, ["slash", *"quantity"])  # q would quit, t toggle the tree...
        await async_wait_for(lambda: app.filter_bar.text == "quantity", message="typed")
        await pilot.pause()
        assert app.is_running
        assert app.subject_tree.display  # `t` was typed, not run

        send_in_one_read(app, ["escape", "slash", *"/lag/", "enter", "slash", "x"])
        await async_wait_for(lambda: app.filter_bar.text == "quantity/lag/x", message="typed")
        await pilot.pause()
        assert app.is_running
        assert not any(isinstance(s, LagScreen) for s in app.screen_stack)  # `l` was typed
        assert app.filter_bar.input.has_focus

        # enter then keys in the same read: the keys are commands again (p pauses).
        app.filter_bar.set_text("")
        send_in_one_read(app, ["escape", "slash", *"abc", "enter", "p"])
        await async_wait_for(lambda: not app.event_list.follow, message="p paused the list")
        assert app.filter_bar.text == "abc"
        assert app.event_list.has_focus

        # In a modal, / is the modal's: the lag screen says it works in the live view.
        await pilot.press("l")
        await async_wait_for(lambda: isinstance(app.screen, LagScreen), message="lag screen")
        await pilot.press("slash")
        assert isinstance(app.screen, LagScreen)
        assert not app.filter_bar.input.has_focus


async def test_credentials_in_the_url_never_reach_the_status_bar(users_nats: NatsServer) -> None:
    url = f"nats://alice:{PASSWORD}@127.0.0.1:{users_nats.port}"
    app = dashboard(url, subjects=[">"])
    async with app.run_test(size=(200, 30)) as pilot:
        await connected(app)
        app.sync()
        await pilot.pause()
        line = app.status_bar.render().plain
        assert f"nats://127.0.0.1:{users_nats.port} connected" in line
        assert PASSWORD not in line and "alice" not in line
        for view in app.connections:
            assert PASSWORD not in view.url + view.detail and "alice" not in view.detail
        assert PASSWORD not in screen_text(app)
        await app.close_sources()


async def test_a_token_in_the_url_never_reaches_the_status_bar(token_nats: NatsServer) -> None:
    app = dashboard(f"nats://{TOKEN}@127.0.0.1:{token_nats.port}", subjects=[">"])
    async with app.run_test(size=(200, 30)) as pilot:
        await connected(app)
        app.sync()
        await pilot.pause()
        line = app.status_bar.render().plain
        assert f"nats://127.0.0.1:{token_nats.port} connected" in line
        assert TOKEN not in line and TOKEN not in screen_text(app)
        await app.close_sources()
