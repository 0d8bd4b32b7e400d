"""The dashboard's interest screen (``i``) against a real nats-server, driven by Pilot.

The services of test_interest_brokers (a wrong-case mailer, a billing queue group of two,
a publisher nobody hears) run while the screen refreshes; the test waits on its
``InterestRoundDone`` messages, never on a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from textual.message import Message

from evmon.config import NatsSettings
from evmon.interest import InterestReport
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import nats_spec
from evmon.tui.messages import InterestRoundDone
from evmon.tui.screens.interest import NEEDS_MONITOR, InterestScreen
from tests.brokers import NatsServer
from tests.test_interest_brokers import shop
from tests.waiting import async_wait_for

SUBJECTS = ("user.>", "User.>", "orders.>", "payments.>")


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as s:
        yield s


def _app(server: NatsServer, monitor: str | None) -> EvmonApp:
    spec = nats_spec(NatsSettings(urls=(server.url,)), subjects=list(SUBJECTS))
    return EvmonApp(
        EventStore(10_000), [spec], subjects=SUBJECTS, nats_monitor=monitor, blink=False
    )


async def test_the_interest_screen_shows_who_listens(server: NatsServer) -> None:
    app = _app(server, server.monitor_url)
    rounds: list[InterestRoundDone] = []

    def hook(message: Message) -> None:
        if isinstance(message, InterestRoundDone):
            rounds.append(message)

    async with shop([server.url]) as s:

        async def publish() -> None:
            while True:
                await s.publish("user.created", 1)
                await s.publish("orders.created", 1)
                await s.publish("payments.failed", 1)
                await asyncio.sleep(0.05)

        pub = asyncio.create_task(publish())
        try:
            async with app.run_test(size=(140, 40), message_hook=hook) as pilot:
                screen = InterestScreen(interval=0.5)
                app.install_screen(screen, "interest")
                await pilot.press("i")
                assert app.screen is screen

                def complete() -> InterestReport | None:
                    for r in reversed(rounds):
                        rows = {x.subject for x in (r.report.rows if r.report else ())}
                        if {"user.created", "payments.failed", "orders.created"} <= rows:
                            return r.report
                    return None

                report = await async_wait_for(complete, timeout=30, message="a full window")
                by = {r.subject: r for r in report.rows}
                assert by["payments.failed"].issue == "no-subscriber"
                assert by["user.created"].issue == "near-miss"
                assert by["user.created"].near == ("User.Created",)
                assert by["orders.created"].queues == {"billing": 2}
                # no-subscriber rows are drawn highlighted
                table = screen.table
                cell = table.get_cell("payments.failed", table.ordered_columns[4].key)
                assert cell.plain == "no-subscriber" and "red" in str(cell.style)
                assert "billing: 2 members" in str(screen.query_one("#interest-notes").render())
                # the subject tree marks subjects with traffic and nobody listening
                tree = app.dashboard.subject_tree

                def marked() -> bool:
                    node = tree.node_for("nats", "payments.failed")
                    return node is not None and node.data is not None and node.data.unheard

                await async_wait_for(marked, timeout=30, message="the tree marks it")
                healthy = tree.node_for("nats", "orders.created")
                assert healthy is not None and healthy.data is not None
                assert not healthy.data.unheard
                await pilot.press("escape")
                assert app.screen is app.dashboard
        finally:
            pub.cancel()


async def test_without_a_monitor_the_screen_says_what_it_needs(server: NatsServer) -> None:
    app = _app(server, None)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("i")
        screen = app.screen
        assert isinstance(screen, InterestScreen)
        assert str(screen.query_one("#interest-note").render()) == NEEDS_MONITOR
