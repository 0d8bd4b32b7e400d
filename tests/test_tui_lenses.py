"""The duplicate and drift lenses on the dashboard, driven by Pilot over events fed into the
store: the row badges, the filter terms, the detail pane's explanation, the tree's counts."""

from __future__ import annotations

import pytest

from evmon.lenses import PROVENANCE_HEADER
from evmon.model import Event
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.options import DashboardOptions
from tests.waiting import async_wait_for

T0 = 1_741_944_413.0


def nats(
    subject: str, payload: bytes, msg_id: str | None = None, *extra: tuple[str, bytes]
) -> Event:
    headers = (("Nats-Msg-Id", msg_id.encode()),) if msg_id else ()
    return Event("nats", subject, payload, T0, headers=(*headers, *extra))


EVENTS = [
    nats("orders.created", b'{"id": 1, "email": "a@x"}', "o-1"),
    nats("orders.created", b'{"id": 2, "email": "b@x"}', "o-2"),
    nats("orders.created", b'{"id": 1, "email": "a@x"}', "o-1"),  # redelivered
    nats("orders.created", b'{"id": 3, "email": "c@x"}', "o-3"),
    nats("orders.created", b'{"id": 4, "mail": "d@x"}', "o-4"),  # drifted
    nats("orders.created", b'{"id": 2, "email": "b@x"}', "o-2", (PROVENANCE_HEADER, b"x")),
]


@pytest.fixture
def app() -> EvmonApp:
    return EvmonApp(EventStore(1000, clock=lambda: 0.0), blink=False)


async def test_rows_are_badged_and_the_terms_filter(app: EvmonApp) -> None:
    async with app.run_test(size=(140, 36)) as pilot:
        app.feed(EVENTS)
        rows = app.event_list.visible_texts()[-len(EVENTS) :]
        badges = [
            next((b for b in ("dup", "replay", "drift") if f" {b} {{" in r), "") for r in rows
        ]
        assert badges == ["", "", "dup", "", "drift", "replay"]
        await pilot.press("slash", *"dup", "enter")
        await async_wait_for(lambda: app.index.filter is not None, message="filter applied")
        assert [e.payload for e in app.visible_events()] == [EVENTS[2].payload]
        await pilot.press("slash", "ctrl+u", *"drift", "enter")
        await async_wait_for(
            lambda: [e.payload for e in app.visible_events()] == [EVENTS[4].payload],
            message="drift rows",
        )
        await pilot.press("slash", "ctrl+u", *"dupx", "enter")  # a subject, not the term
        await async_wait_for(lambda: app.visible_events() == [], message="no dupx subject")


async def test_the_detail_says_how_and_the_tree_counts(app: EvmonApp) -> None:
    async with app.run_test(size=(140, 36)) as pilot:
        app.feed(EVENTS)
        await pilot.press("up", "enter")  # the drifted event (the replay is the last row)
        assert app.detail_visible
        text = app.detail.text()
        assert "drift" in text and "missing: email; added: mail" in text
        await pilot.press("up", "up")
        text = app.detail.text()
        assert "identity seen before" in text, text
        assert "header:Nats-Msg-Id on NATS" in " ".join(text.split()), text
        node = app.subject_tree.node_for("nats", "orders.created")
        assert node is not None and node.data is not None and node.data.lens == "1 dup 1 drift"
        label = app.subject_tree.render_label(
            node, app.subject_tree.rich_style, app.subject_tree.rich_style
        )
        assert "1 dup 1 drift" in label.plain


async def test_the_dedupe_key_option_reaches_the_lens() -> None:
    options = DashboardOptions(dedupe_key="json:id")
    app = EvmonApp(EventStore(100, clock=lambda: 0.0), options=options, blink=False)
    async with app.run_test(size=(140, 36)):
        app.feed([nats("a", b'{"id": 1}'), nats("a", b'{"id": 1}')])
        assert app.event_list.visible_texts()[-1].count(" dup {") == 1


async def test_a_flood_is_sampled_and_the_painted_rows_are_judged() -> None:
    app = EvmonApp(EventStore(10_000, clock=lambda: 0.0), blink=False)
    # One poll of 3,002 events: more than the lens judges for drift as they arrive
    # (DRIFT_PER_POLL), so every 4th is judged then and the drifted last one when painted.
    flood = [nats("users.created", b'{"id": %d, "email": "e"}' % i) for i in range(3001)]
    drifted = nats("users.created", b'{"id": 9, "mail": "e"}')
    async with app.run_test(size=(140, 36)) as pilot:
        app.feed([*flood, drifted])
        assert app.index.lens is not None and app.index.lens.deferred > 0
        await async_wait_for(
            lambda: app.event_list.visible_texts()[-1].count(" drift {") == 1,
            message="the painted drifted row badged",
        )
        await pilot.press("enter")
        assert "missing: email; added: mail" in app.detail.text()

        def tree_label() -> str:
            node = app.subject_tree.node_for("nats", "users.created")
            return "" if node is None or node.data is None else node.data.lens

        await async_wait_for(lambda: tree_label() == "1 drift", message="the tree counts it")
        await pilot.press("slash", *"drift", "enter")
        await async_wait_for(
            lambda: [e.payload for e in app.visible_events()] == [drifted.payload],
            message="the drift term finds it, and only it",
        )
