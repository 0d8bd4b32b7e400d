"""``q`` is a priority binding (handled as the app reads the key, so a backlog's batches
between the hops of a bubbling key do not delay it): it still types into text fields,
and quits from everywhere else as before. Broker-free (Pilot)."""

from __future__ import annotations

from evmon.model import Event
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.screens.help import HelpScreen
from tests.waiting import async_wait_for


def app() -> EvmonApp:
    return EvmonApp(EventStore(100, clock=lambda: 0.0), blink=False)


async def test_q_typed_into_the_filter_is_text_and_quits_from_the_list() -> None:
    dash = app()
    async with dash.run_test(size=(120, 36)) as pilot:
        dash.feed([Event("nats", "quotes.eu", b"{}", 0.0)])
        await pilot.press("slash", *"quotes.q")
        assert dash.filter_bar.text == "quotes.q"
        assert dash.is_running and dash.return_code is None
        await pilot.press("escape")
        assert dash.event_list.has_focus
        await pilot.press("q")
        await async_wait_for(lambda: not dash.is_running, message="the app ended")
    assert dash.return_code == 0


async def test_q_quits_from_the_help_screen() -> None:
    dash = app()
    async with dash.run_test(size=(120, 36)) as pilot:
        await pilot.press("question_mark")
        await async_wait_for(lambda: isinstance(dash.screen, HelpScreen), message="help")
        await pilot.press("q")
        await async_wait_for(lambda: not dash.is_running, message="the app ended")
    assert dash.return_code == 0
