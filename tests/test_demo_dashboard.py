"""The demo dashboard end to end (issue 7): the demo system runs in-process, the app is the
one ``evmon demo`` runs (``dashboard_app(**dashboard_kwargs(demo))``), and Pilot drives it
to skip the poison message and re-publish a DLQ event. Every effect is checked on the
server with nats-py; every wait polls a condition (``tests.waiting``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from rich.table import Table
from textual.app import App
from textual.widgets import Input

from evmon.commands.demo import dashboard_kwargs
from evmon.demo import DemoSystem, demo_system
from evmon.tui.app import EvmonApp
from evmon.tui.dashboard import dashboard_app
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.lag import LagScreen
from evmon.tui.screens.republish import RepublishModal
from evmon.tui.widgets.hint import HintPanel
from evmon.tui.widgets.lag_tables import SEP
from tests.waiting import async_wait_for

SIZE = (140, 40)
TARGET = "payments.card.failed"


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
async def demo() -> AsyncIterator[DemoSystem]:
    async with demo_system(seed=7) as system:
        yield system


@pytest.fixture
async def nc(demo: DemoSystem) -> AsyncIterator[Client]:
    client = await nats.connect(demo.nats_url)
    yield client
    await client.close()


async def screen_is(app: App[Any], kind: type[object]) -> Any:
    return await async_wait_for(
        lambda: app.screen if isinstance(app.screen, kind) else None,
        timeout=15,
        message=f"{kind.__name__} on screen",
    )


async def demo_moved_on(js: Any, seq: int) -> bool:
    info = await js.consumer_info("USERS", "users-mailer")
    delivered = info.delivered.stream_seq if info.delivered else 0
    return bool(delivered > seq and not info.num_redelivered)


async def test_demo_dashboard_skips_the_poison_and_replays_a_dlq_event(
    demo: DemoSystem, nc: Client
) -> None:
    poison = demo.poison
    assert poison is not None and (poison.stream, poison.consumer) == ("USERS", "users-mailer")
    js = nc.jetstream()
    app = dashboard_app(**dashboard_kwargs(demo), lag_interval=0.3, blink=False)
    assert isinstance(app, EvmonApp)
    async with app.run_test(size=SIZE) as pilot:
        # The four streams are read from their first message: the DLQ's stored failures too.
        await async_wait_for(
            lambda: {ev.stream for ev in app.filtered_events()} >= set(demo.streams),
            timeout=20,
            message="events of all four streams in the list",
        )
        assert app.query_one(HintPanel).display

        # ---- skip the poison message from the lag screen
        await pilot.press("l")
        lag = await screen_is(app, LagScreen)
        table = lag.jetstream_table
        key = f"USERS{SEP}users-mailer"
        await async_wait_for(
            lambda: key in table.row_keys(), timeout=15, message="the users-mailer row"
        )
        table.focus()
        table.move_cursor(row=table.get_row_index(key))
        await pilot.pause()
        await pilot.press("s")
        confirm = await screen_is(app, ConfirmModal)
        assert "users-mailer" in confirm.title_text and "USERS" in confirm.title_text
        await pilot.press("y")

        async def past_the_poison() -> bool:
            info = await js.consumer_info("USERS", "users-mailer")
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            delivered = info.delivered.stream_seq if info.delivered else 0
            return floor >= poison.seq and delivered >= poison.seq and not info.num_redelivered

        await async_wait_for(
            past_the_poison, timeout=20, message="users-mailer's ack floor past the poison"
        )
        # Not redelivered any more: the mailer moved on to later users and nothing is
        # pending redelivery (it was redelivered every second before the skip).
        await async_wait_for(
            lambda: demo_moved_on(js, poison.seq), timeout=20, message="users-mailer moved on"
        )
        await async_wait_for(lambda: app.screen is lag, message="back on the lag screen")

        # ---- back to the live view; re-publish a DLQ event to payments.card.failed
        await pilot.press("escape")
        await async_wait_for(lambda: app.screen is app.main_screen, message="the live view")
        await pilot.press("slash", *"dlq.>", "enter")
        await async_wait_for(
            lambda: app.index.filter is not None and len(app.index) > 0,
            message="DLQ events listed",
        )
        await pilot.press("p")  # pause, so the highlighted event stays put
        event = app.highlighted_event()
        assert event is not None and event.stream == "DLQ" and event.subject.startswith("dlq.")
        before = (await js.stream_info("PAYMENTS")).state.last_seq

        await pilot.press("r")
        modal = await screen_is(app, RepublishModal)
        modal.query_one("#republish-target", Input).value = TARGET
        await pilot.press("enter")
        confirm = await screen_is(app, ConfirmModal)
        assert TARGET in confirm.title_text
        await pilot.press("y")

        async def replayed() -> bool:
            last = (await js.stream_info("PAYMENTS")).state.last_seq
            for seq in range(before + 1, last + 1):
                msg = await js.get_msg("PAYMENTS", seq, direct=True)
                headers = msg.headers or {}
                if msg.subject == TARGET and "evmon-replayed-from" in headers:
                    return msg.data == event.payload
            return False

        await async_wait_for(replayed, timeout=20, message="the replayed message on PAYMENTS")
        await app.close_sources()


def hint_keys(app: App[Any]) -> list[str]:
    """The keys column of the first-run hint, as drawn."""
    table = app.query_one(HintPanel).content
    assert isinstance(table, Table)
    return [str(cell) for cell in table.columns[0].cells]


async def test_the_hint_has_kafka_steps_only_with_kafka(kafka_bootstrap: str, unique: str) -> None:
    async with demo_system(seed=3) as plain:
        app = dashboard_app(**dashboard_kwargs(plain), blink=False)
        async with app.run_test(size=SIZE):
            keys = hint_keys(app)
            await app.close_sources()
    assert not any("fraud-check" in k or "shop." in k for k in keys), keys

    async with demo_system(seed=3, kafka=kafka_bootstrap, kafka_prefix=f"{unique}-") as demo:
        app = dashboard_app(**dashboard_kwargs(demo), blink=False)
        async with app.run_test(size=SIZE):
            with_kafka = hint_keys(app)
            await app.close_sources()
    assert with_kafka == [
        *keys[:-1],
        "l, pick fraud-check, s",
        "/ shop.payments ⏎ then r",
        keys[-1],
    ]
