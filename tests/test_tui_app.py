"""The dashboard driven by Pilot over events fed straight into the store (no brokers):
the behaviours that need exact data. `test_tui_brokers.py` runs the same app on real ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.widget import Widget

from evmon.config import KafkaSettings, NatsSettings
from evmon.event_index import POLL_MIN
from evmon.model import Event
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec, kafka_spec, nats_spec
from evmon.tui.messages import EventHighlighted, LagRoundDone, RefilterDone, SourceOpened
from evmon.tui.screens import dashboard as dashboard_module
from evmon.tui.screens.help import HelpScreen
from evmon.tui.screens.payload import PayloadScreen
from evmon.tui.widgets.detail import DETAIL_BYTES
from evmon.tui.widgets.footer import KeyFooter
from evmon.tui.widgets.text_view import TextView
from tests.waiting import async_wait_for

T0 = 1_741_944_413.0


def nats(subject: str, payload: bytes = b"{}", i: int = 0, **kw: object) -> Event:
    return Event("nats", subject, payload, T0 + i, **kw)  # type: ignore[arg-type]


def kafka(topic: str, payload: bytes, partition: int = 0, offset: int = 0, **kw: object) -> Event:
    return Event("kafka", topic, payload, T0, partition=partition, offset=offset, **kw)  # type: ignore[arg-type]


def refiltered(posted: list[Message], expr: str | None = None) -> RefilterDone | None:
    """The ``RefilterDone`` the dashboard posted once a re-filter (of ``expr``, if given) saw
    every event; a filter applied while typing may finish before the whole one is typed."""
    return next((m for m in posted if isinstance(m, RefilterDone) and expr in (None, m.expr)), None)


def shown_subjects(app: EvmonApp) -> list[str]:
    return [e.subject for e in app.visible_events()]


@pytest.fixture
async def app() -> AsyncIterator[EvmonApp]:
    yield EvmonApp(EventStore(1000, clock=lambda: 0.0), blink=False)


async def test_typing_a_filter_shows_only_matches_and_counts(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        subjects = ["orders.eu.created", "orders.eu.paid", "orders.us.created", "users.new"]
        app.feed([nats(s) for s in subjects])
        await pilot.press("slash", *"orders.*.created", "enter")
        await async_wait_for(lambda: app.index.filter is not None, message="filter applied")
        assert shown_subjects(app) == ["orders.eu.created", "orders.us.created"]
        assert app.event_list.border_subtitle == "matching 2 of 4"
        assert app.event_list.has_focus  # enter goes back to the list
        await app.close_sources()


async def test_filter_applies_debounced_while_typing(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats("orders.eu.created"), nats("users.new")])
        await pilot.press("slash", *"!orders.>")
        assert app.index.filter is None  # not yet: debounced
        await async_wait_for(lambda: app.index.filter is not None, message="debounced filter")
        assert shown_subjects(app) == ["users.new"]


async def test_a_bad_term_is_shown_inline_and_the_last_good_filter_stays(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats("orders.eu.created"), nats("users.new")])
        await pilot.press("slash", *"users.>", "enter")
        assert shown_subjects(app) == ["users.new"]
        await pilot.press("slash", "space", *"bogus:1", "enter")
        bar = app.filter_bar
        assert bar.error is not None and bar.error.position == len("users.> ")
        error_text = str(bar.query_one("#filter-error").render())
        assert "column 9" in error_text and "unknown prefix 'bogus:'" in error_text
        assert "^" in error_text and "still applied: users.>" in error_text
        assert shown_subjects(app) == ["users.new"]  # the last good filter stays
        assert bar.input.has_focus  # stays in the bar to be fixed
        await pilot.press("ctrl+u", *"orders.>", "enter")
        assert bar.error is None and shown_subjects(app) == ["orders.eu.created"]


async def test_new_events_are_filtered_incrementally(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("slash", *"json:status=paid", "enter")
        app.feed([nats("a", b'{"status":"paid"}'), nats("b", b'{"status":"open"}')])
        app.feed([kafka("c", b'{"status":"paid"}')])
        assert shown_subjects(app) == ["a", "c"]
        assert app.event_list.border_subtitle == "matching 2 of 3"


async def test_selecting_tree_nodes_filters(app: EvmonApp) -> None:
    async with app.run_test(size=(140, 36)) as pilot:
        subjects = ["orders.eu.created", "orders.eu.paid", "orders.us.created"]
        app.feed([nats(s) for s in subjects])
        app.feed([kafka("orders.events", b"{}", 0), kafka("orders.events", b"{}", 1)])
        tree = app.subject_tree
        node = tree.node_for("nats", "orders.eu")
        assert node is not None
        tree.select_node(node)
        await pilot.pause()
        assert app.filter_bar.text == "source:nats orders.eu.>"
        assert shown_subjects(app) == ["orders.eu.created", "orders.eu.paid"]
        part = tree.node_for("kafka", "orders.events", 1)
        assert part is not None
        tree.select_node(part)
        await pilot.pause()
        assert app.filter_bar.text == "source:kafka orders.events partition:1"
        assert [(e.subject, e.partition) for e in app.visible_events()] == [("orders.events", 1)]


async def test_tree_shows_counts_and_updates_in_place(app: EvmonApp) -> None:
    async with app.run_test(size=(140, 36)) as pilot:
        app.feed([nats("orders.eu.created"), nats("orders.eu.created")])
        tree = app.subject_tree
        node = tree.node_for("nats", "orders.eu.created")
        assert node is not None and node.data is not None and node.data.shown[0] == 2
        app.feed([nats("orders.eu.created")])
        assert tree.node_for("nats", "orders.eu.created") is node  # not rebuilt
        assert node.data.shown[0] == 3
        root = tree.node_for("nats")
        assert root is not None and root.data is not None and root.data.shown[0] == 3
        await pilot.pause()


async def test_pause_counts_new_events_and_end_resumes(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats(f"s.{i}", i=i) for i in range(50)])
        assert app.event_list.follow
        assert shown_subjects(app)[-1] == "s.49"
        await pilot.press("p")
        assert not app.event_list.follow
        top = shown_subjects(app)
        app.feed([nats(f"t.{i}", i=i) for i in range(7)])
        assert shown_subjects(app) == top  # the view stays put
        assert app.event_list.new_rows == 7
        assert "paused +7 new" in str(app.event_list.border_subtitle)
        assert "+7 new" in app.status_bar.render().plain
        await pilot.press("end")
        assert app.event_list.follow and app.event_list.new_rows == 0
        assert shown_subjects(app)[-1] == "t.6"
        await pilot.press("up")  # moving the cursor up pauses too
        assert not app.event_list.follow
        await pilot.press("p")
        assert app.event_list.follow


async def test_scrolling_up_pauses(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats(f"s.{i}", i=i) for i in range(200)])
        await pilot.pause()
        assert app.event_list.follow
        app.event_list.scroll_up(animate=False)  # what the mouse wheel does
        await pilot.pause()
        assert not app.event_list.follow
        assert app.event_list.new_rows == 0


async def test_marks_are_shown_and_counted(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats(f"s.{i}", i=i) for i in range(5)])
        await pilot.press("space", "up", "space")
        assert len(app.event_list.marks) == 2
        assert [e.subject for e in app.marked_events()] == ["s.3", "s.4"]
        rows = app.event_list.visible_texts()
        assert rows[-1].startswith("●") and rows[-2].startswith("●")
        assert not rows[0].startswith("●")
        await async_wait_for(
            lambda: "2 marked" in app.status_bar.render().plain, message="the tick shows it"
        )
        await pilot.press("space")
        assert len(app.event_list.marks) == 1


async def test_detail_pane_json_text_binary(app: EvmonApp) -> None:
    async with app.run_test(size=(140, 40)) as pilot:
        app.feed(
            [
                kafka(
                    "orders.events",
                    b'{"order":{"id":7,"items":[1,2]},"status":"paid"}',
                    partition=2,
                    offset=41,
                    key=b"cust-9",
                    headers=(("trace", b"t-1"), ("trace", b"t-2")),
                ),
                nats("audit.login", b"user alice signed in\nfrom 10.0.0.1"),
                nats("raw.bytes", bytes(range(0, 40))),
            ]
        )
        await pilot.press("enter")
        assert app.detail_visible
        detail = app.detail
        text = detail.text()
        assert "raw.bytes" in text and "binary" in text
        assert "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f" in text
        await pilot.press("up")
        text = detail.text()
        assert "user alice signed in\nfrom 10.0.0.1" in text and "text" in text
        await pilot.press("up")
        text = detail.text()
        assert '"order": {' in text and '"status": "paid"' in text
        assert "partition 2 offset 41" in text and "cust-9" in text
        assert text.index("trace: t-1") < text.index("trace: t-2")
        await pilot.press("enter")
        assert not app.detail_visible


async def test_a_1mib_payload_renders_truncated_and_opens_in_full(app: EvmonApp) -> None:
    big = orjson.dumps({"rows": [{"n": i, "pad": "x" * 40} for i in range(18_000)]})
    assert len(big) > 1024 * 1024
    async with app.run_test(size=(140, 40)) as pilot:
        app.feed([nats("big.one", big)])
        await pilot.press("enter")
        assert app.detail.truncated
        # The pane formats a bounded head of the payload (what keeps it as fast as a small
        # one), whatever the payload's size: its text is that head (and line breaks), not
        # the megabyte.
        text = app.detail.text()
        assert f"truncated: showing 1 lines of a {len(big):,}-byte payload" in text
        assert "Press f for the full payload" in text
        assert DETAIL_BYTES < len(text) < DETAIL_BYTES * 1.1 < len(big) / 10
        await pilot.press("f")
        screen = app.screen
        assert isinstance(screen, PayloadScreen)
        await async_wait_for(lambda: screen.line_count > 0, message="full payload formatted")
        view = screen.query_one(TextView)
        assert screen.line_count == len(view.lines) > 18_000 * 4
        assert view.lines[-1] == "}"
        await pilot.press("end")
        await pilot.press("escape")
        assert not isinstance(app.screen, PayloadScreen)


async def test_help_lists_every_binding(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        lines = screen.binding_texts()
        for needle in ("/ Filter", "enter Detail", "space Mark", "p Pause", "? Help", "q Quit"):
            assert any(line.startswith(needle) for line in lines), needle
        assert any("Command palette" in line for line in lines)
        assert "end G Newest event, follow" in lines
        assert "↑ k Up" in lines
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_has_every_app_action(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)):
        actions = {action for _, _, action in app.palette_commands()}
        bindings = [*app.dashboard.BINDINGS, *app.BINDINGS]
        bound = {b.action for b in bindings if not isinstance(b, tuple)}  # type: ignore[union-attr]
        assert bound <= actions
        assert {"clear_filter", "clear_marks", "resume"} <= actions
        for action in actions:  # each runs where its action is: the dashboard or the app
            assert hasattr(app.action_namespace(action), f"action_{action}"), action


async def test_palette_runs_a_command(app: EvmonApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats("a")])
        await pilot.press("ctrl+p", *"pause", "enter")
        await async_wait_for(lambda: not app.event_list.follow, message="paused via palette")


class FakeSource:
    def __init__(self, closed: list[str]) -> None:
        self.closed = closed
        self.started = False

    async def start(self, wait: float | None = 10.0) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed.append("closed")


async def test_q_quits_and_closes_the_sources() -> None:
    closed: list[str] = []
    made: list[FakeSource] = []

    def make(sink: object, on_status: object) -> FakeSource:
        made.append(FakeSource(closed))
        return made[-1]

    spec = SourceSpec("nats", "fake://", make)
    app = EvmonApp(EventStore(10), [spec], blink=False)
    posted: list[Message] = []
    async with app.run_test(size=(100, 30), message_hook=posted.append) as pilot:
        opened = await async_wait_for(
            lambda: next((m for m in posted if isinstance(m, SourceOpened)), None),
            message="SourceOpened posted",
        )
        assert (opened.index, opened.name) == (0, "nats fake://")
        assert made and made[0].started and 0 in app.sources
        await pilot.press("q")
        await async_wait_for(lambda: closed == ["closed"], message="source closed")
    assert app.return_code == 0


async def test_narrow_screen_hides_the_tree_and_detail_replaces_the_list(app: EvmonApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        app.feed([nats("orders.eu.created", b'{"a":1}')])
        assert not app.subject_tree.display
        assert app.event_list.visible_texts()[0].split()[:3] == [
            "09:26:53.000",
            "nats",
            "orders.eu.created",
        ]
        await pilot.press("enter")
        assert app.detail.display and not app.event_list.display
        assert app.detail.has_focus
        await pilot.press("enter")
        assert app.event_list.display and app.event_list.has_focus
        await pilot.press("t")
        assert app.subject_tree.display


async def test_a_large_store_shows_the_newest_matches_at_once_then_the_rest() -> None:
    app = EvmonApp(EventStore(100_000, clock=lambda: 0.0), blink=False)
    events = [
        nats(f"orders.{'eu' if i % 2 else 'us'}.created", b'{"n":%d}' % i, i)
        for i in range(100_000)
    ]
    expected = [i for i in range(100_000) if i % 2 and "9" in str(i)]
    posted: list[Message] = []
    async with app.run_test(size=(120, 36), message_hook=posted.append) as pilot:
        app.feed(events)
        assert len(app.index) == 100_000
        await pilot.press("slash", *'orders.eu.> "9"', "enter")
        # the list follows the tail: its screen of newest matches is there at once
        assert app.index.filter is not None and app.index.filter.expr == 'orders.eu.> "9"'
        shown = list(app.index.seqs())
        assert len(shown) >= app.event_list.rows_visible
        assert shown == expected[-len(shown) :]
        await pilot.press("p")  # keys are handled while the older events are filtered
        assert not app.event_list.follow
        done = await async_wait_for(
            lambda: refiltered(posted, 'orders.eu.> "9"'), message="RefilterDone posted"
        )
        assert (done.expr, done.matched) == ('orders.eu.> "9"', len(expected))
        assert not app.dashboard.filtering
        assert "filtering…" not in app.event_list.border_subtitle
        await pilot.pause()
        assert list(app.index.seqs()) == expected
        assert app.event_list.border_subtitle == f"matching {len(expected):,} of 100,000 · paused"


async def test_the_footer_follows_the_focus_with_a_repaint_of_its_line(app: EvmonApp) -> None:
    """The keys change with the focus; a change repaints the footer's one line (no widget is
    mounted, nothing asks for a layout), an update showing the same keys changes nothing,
    a click on a key presses it, and a narrow screen gets the compact line without the
    palette's key."""
    async with app.run_test(size=(120, 36)) as pilot:
        footer = app.footer
        layouts: list[bool] = []
        refresh = footer.refresh

        def counted(*regions: Any, **kwargs: Any) -> Any:
            layouts.append(bool(kwargs.get("layout") or kwargs.get("recompose")))
            return refresh(*regions, **kwargs)

        footer.refresh = counted  # type: ignore[method-assign]

        def line() -> str:
            return footer.render_line(0).text

        await pilot.pause()
        before = footer.changes
        assert line().startswith(" / Filter  ⏎ Detail  p Pause  r Re-publish")
        assert line().rstrip().endswith("▏^p palette") and len(line()) == 120
        app.screen.bindings_updated_signal.publish(app.screen)  # the same keys
        await pilot.pause()
        assert footer.changes == before
        await pilot.press("slash")
        await async_wait_for(lambda: "Leave filter" in line(), message="filter keys")
        assert "Detail" not in line() and footer.changes == before + 1
        await pilot.press("escape")
        await async_wait_for(lambda: "Detail" in line(), message="list keys again")
        assert footer.changes == before + 2
        assert layouts and not any(layouts) and not footer.children

        assert app.event_list.follow
        start = line().index(" p Pause")
        await pilot.click(KeyFooter, offset=(start + 1, 0))
        await async_wait_for(lambda: not app.event_list.follow, message="paused by a click")

        await pilot.resize_terminal(80, 24)
        await async_wait_for(lambda: footer.compact, message="compact footer")
        await pilot.pause()
        assert line().startswith("/ Filter ⏎ Detail p Pause") and "q Quit" in line()
        assert "palette" not in line() and len(line()) <= 80


async def test_new_rows_move_the_scrollbar_without_laying_the_screen_out(app: EvmonApp) -> None:
    """The list takes a new row count without a layout of the screen
    (``EventList._update_virtual_size`` calls Textual's private ``Widget._scroll_update``;
    this test fails if that stops doing the scrollbar's work): the thumb, the scroll end
    and the rows drawn follow, growing and shrinking."""
    async with app.run_test(size=(120, 36)) as pilot:
        events, screen = app.event_list, app.screen
        layouts: list[int] = []
        lay_out = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:
            layouts.append(1)
            lay_out(*args, **kwargs)

        app.feed([nats("orders.eu", b'{"n":%d}' % i, i) for i in range(5)])
        await pilot.pause()
        screen._refresh_layout = counted  # type: ignore[method-assign]
        bar = events.vertical_scrollbar
        for n in (200, 250):
            app.feed([nats("orders.eu", b'{"n":%d}' % i, i) for i in range(len(app.index), n)])
            await pilot.pause()
            assert (events.virtual_size.height, bar.window_virtual_size) == (n + 1, n + 1)
            assert events.scroll_y == events.max_scroll_y == n + 1 - events.container_size.height
            assert events.visible_texts()[-1].endswith(f'{{"n":{n - 1}}}')
        assert layouts == []
        await pilot.press("slash", *"json:n=7", "enter")  # one row
        await async_wait_for(lambda: len(app.index) == 1, message="filtered")
        await pilot.pause()
        assert (events.virtual_size.height, bar.window_virtual_size) == (2, 2)
        assert events.scroll_y == 0 and events.visible_texts()[0].endswith('{"n":7}')


async def test_moving_the_focus_to_the_filter_rerenders_only_the_cursor_row(
    app: EvmonApp,
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats(f"s.{i}", i=i) for i in range(50)])
        await pilot.pause()
        events = app.event_list
        before = events.rows_rendered
        await pilot.press("slash")
        await pilot.pause()
        assert events.rows_rendered - before == 1  # the cursor row, now drawn as blurred
        assert events.rows_redrawn[-1] == 49
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        assert events.rows_rendered - before > 20  # new colours: every visible row again


async def test_a_paused_list_keeps_its_event_through_a_large_refilter() -> None:
    app = EvmonApp(EventStore(100_000, clock=lambda: 0.0), blink=False)
    events = [nats(f"s.{'a' if i % 2 else 'b'}", b"x", i) for i in range(100_000)]
    posted: list[Message] = []
    async with app.run_test(size=(120, 36), message_hook=posted.append) as pilot:
        app.feed(events)
        await pilot.press("home", *["down"] * 5)  # seq 5, a "s.a" event
        assert app.event_list.cursor_seq == 5 and not app.event_list.follow
        await pilot.press("slash", *"s.a", "enter")
        await async_wait_for(lambda: refiltered(posted), message="RefilterDone posted")
        assert "filtering…" not in app.event_list.border_subtitle
        await pilot.pause()
        assert len(app.index) == 50_000
        assert app.event_list.cursor_seq == 5
        assert app.highlighted_event() is events[5]


async def test_clicking_a_row_pauses_on_it_and_a_double_click_opens_the_detail(
    app: EvmonApp,
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats(f"s.{i}", i=i) for i in range(5)])
        # y=0 is the border, y=1 the header line: y=3 is the second event
        await pilot.click(app.event_list, offset=(10, 3))
        assert not app.event_list.follow
        assert app.highlighted_event() is not None
        assert app.highlighted_event().subject == "s.1"  # type: ignore[union-attr]
        await pilot.click(app.event_list, offset=(10, 4), times=2)
        assert app.detail_visible and app.detail.event is not None
        assert app.detail.event.subject == "s.2"


async def test_tree_leaves_do_not_expand(app: EvmonApp) -> None:
    async with app.run_test(size=(140, 36)):
        app.feed([nats("a.b"), kafka("t", b"x", partition=0)])
        leaf = app.subject_tree.node_for("nats", "a.b")
        parent = app.subject_tree.node_for("nats", "a")
        topic = app.subject_tree.node_for("kafka", "t")
        assert leaf is not None and parent is not None and topic is not None
        assert not leaf.allow_expand and parent.allow_expand and topic.allow_expand


async def test_initial_filter_is_applied_and_a_bad_one_is_shown() -> None:
    app = EvmonApp(EventStore(100), initial_filter="orders.>", blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.feed([nats("orders.eu.created"), nats("users.new")])
        assert shown_subjects(app) == ["orders.eu.created"]
        assert app.filter_bar.text == "orders.>"
    app = EvmonApp(EventStore(100), initial_filter="orders.> bogus:", blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.feed([nats("orders.eu.created"), nats("users.new")])
        assert app.filter_bar.error is not None and app.filter_bar.applied == ""
        assert shown_subjects(app) == ["orders.eu.created", "users.new"]


async def test_a_failing_worker_is_reported_not_silent(app: EvmonApp) -> None:
    seen: list[Message] = []
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:

        def boom() -> None:
            raise RuntimeError("kaput")

        app.run_worker(boom, name="boom", thread=True, exit_on_error=False)
        await async_wait_for(
            lambda: any(isinstance(m, Notify) and "kaput" in m.notification.message for m in seen),
            message="error notification",
        )
        await pilot.pause()


def test_action_context_for_the_later_actions() -> None:
    """r / s / x (later issues) get their connections and the read-only guard from here."""
    nats_settings = NatsSettings(urls=("nats://127.0.0.1:4222",))
    kafka_settings = KafkaSettings(bootstrap="127.0.0.1:9092")
    specs = [nats_spec(nats_settings, subjects=[">"]), kafka_spec(kafka_settings, topics=["t"])]
    app = EvmonApp(EventStore(10), specs, read_only=True)
    ctx = app.action_context()
    assert ctx.nats is nats_settings and ctx.kafka is kafka_settings and ctx.read_only
    assert app.check_action("republish", ()) is None  # greyed out in read-only mode
    assert app.check_action("skip", ()) is None
    assert app.check_action("export", ()) is True  # export changes no broker
    assert app.check_action("toggle_pause", ()) is True
    writable = EvmonApp(EventStore(10), specs)
    assert writable.check_action("republish", ()) is True


async def test_position_and_key_columns_appear_with_events_that_have_them(
    app: EvmonApp,
) -> None:
    async with app.run_test(size=(140, 36)) as pilot:
        app.feed([nats("core.only", b"x")])
        await pilot.pause()
        header = app.event_list.render_line(0).text
        assert "SUBJECT" in header and "POSITION" not in header and "KEY" not in header
        app.feed([nats("in.stream", b"x", stream="ORDERS", offset=7)])
        await pilot.pause()
        header = app.event_list.render_line(0).text
        assert "POSITION" in header and "KEY" not in header
        assert "ORDERS#7" in app.event_list.visible_texts()[-1]
        app.feed([kafka("t", b"x", partition=1, offset=9, key=b"k-1")])
        await pilot.pause()
        header = app.event_list.render_line(0).text
        assert "POSITION" in header and "KEY" in header
        assert "p1@9 k-1" in " ".join(app.event_list.visible_texts()[-1].split())


async def test_a_lag_round_is_posted_and_a_backlog_of_them_collapses() -> None:
    """The lag screen's worker posts ``LagRoundDone`` after each refresh (here with nothing
    to watch: no broker); pending ones collapse to the newest, as do list highlights."""
    app = EvmonApp(EventStore(10), blink=False, lag_interval=0.05)
    posted: list[Message] = []
    async with app.run_test(size=(120, 36), message_hook=posted.append) as pilot:
        await pilot.press("l")

        def rounds() -> list[int]:  # each message is seen by the screen, then the app
            seen = {id(m): m for m in posted if isinstance(m, LagRoundDone)}
            return [m.refreshes for m in seen.values()]

        await async_wait_for(lambda: len(rounds()) >= 2, message="two LagRoundDone posted")
        assert rounds()[:2] == [1, 2]
        await pilot.press("escape")
    assert LagRoundDone(1).can_replace(LagRoundDone(2))
    assert EventHighlighted(1).can_replace(EventHighlighted(2))
    assert EventHighlighted(1).can_replace(EventHighlighted(2, operator=True))
    assert EventHighlighted(1, operator=True).can_replace(EventHighlighted(2, operator=True))
    # a list move never drops the operator's: a pinned detail follows only the operator
    assert not EventHighlighted(1, operator=True).can_replace(EventHighlighted(2))


async def test_a_focus_change_repaints_the_list_in_the_frame_after_the_echo(app: EvmonApp) -> None:
    """``/`` moves the focus to the filter: the first frame shows the filter focused without
    repainting the list (its whole repaint is the costliest part of a screen); the list's
    blurred look (border, cursor row) is painted in a frame right after it, and ``escape``
    does the same the other way round."""
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats(f"orders.{i}", i=i) for i in range(200)])
        await pilot.pause()
        events = app.event_list
        timeline: list[str] = []
        display = app._display
        widget_refresh = Widget.refresh

        def frame(screen: Any, renderable: Any) -> None:
            if renderable is not None:
                focused = "filter" if app.focused is app.filter_bar.input else "list"
                timeline.append(f"frame:{focused}")
            display(screen, renderable)

        def refreshed(widget: Widget, *regions: Any, **kwargs: Any) -> Any:
            if widget is events and not regions:
                timeline.append("list repainted")
            return widget_refresh(widget, *regions, **kwargs)

        app._display = frame  # type: ignore[method-assign]
        Widget.refresh = refreshed  # type: ignore[method-assign,assignment]
        try:
            await pilot.press("slash")
            await async_wait_for(
                lambda: "list repainted" in timeline and timeline[-1] == "frame:filter",
                message="the list repainted after the focus moved",
            )
            assert timeline.index("frame:filter") < timeline.index("list repainted")
            assert not events.has_focus
            timeline.clear()
            await pilot.press("escape")
            await async_wait_for(
                lambda: "list repainted" in timeline and timeline[-1] == "frame:list",
                message="the list repainted after the focus came back",
            )
            assert timeline.index("frame:list") < timeline.index("list repainted")
        finally:
            Widget.refresh = widget_refresh  # type: ignore[method-assign]
            app._display = display  # type: ignore[method-assign]
        await app.close_sources()


async def test_a_tick_takes_a_backlog_in_slices_with_loop_turns_between_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key that arrives during a tick waits for one slice, not for the whole tick: the
    event loop runs other work between the slices (here: a task watching the index)."""
    monkeypatch.setattr(dashboard_module, "SLICE_BUDGET", 0.0)  # each slice takes POLL_MIN
    monkeypatch.setattr(dashboard_module, "TICK_BUDGET", 3600.0)  # never cut by the clock
    app = EvmonApp(EventStore(100_000, clock=lambda: 0.0), blink=False)
    async with app.run_test(size=(120, 36)):
        screen = app.dashboard
        screen.stop()  # this test ticks by hand
        app.store.extend([nats(f"s.{i % 7}", i=i) for i in range(4 * POLL_MIN)])
        seen: list[int] = []
        tick = asyncio.create_task(screen._tick())
        while not tick.done():
            seen.append(app.index.next_seq)
            await asyncio.sleep(0)
        await tick
        assert sorted(set(seen)) == [0, POLL_MIN, 2 * POLL_MIN, 3 * POLL_MIN]
        assert app.index.next_seq == 4 * POLL_MIN and len(app.index) == 4 * POLL_MIN
        assert app.index.lens is not None and app.index.lens.judged == 4 * POLL_MIN
