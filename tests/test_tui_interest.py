"""The dashboard's interest screen (``i``) against a real nats-server, driven by Pilot.

The services of test_interest_brokers (a wrong-case mailer, a billing queue group of two,
a publisher nobody hears) run while the screen refreshes; the test waits on its
``InterestRoundDone`` messages, never on a sleep. The table comes from the monitoring
endpoint, or (``DashboardOptions.nats_system``, ``evmon connect --nats-system-*``) from the
system account of a server configured like test_interest_brokers' one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import nats
import pytest
from textual.message import Message

from evmon.cli import build_parser
from evmon.config import NatsSettings
from evmon.interest import InterestReport
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import nats_spec
from evmon.tui.messages import InterestRoundDone
from evmon.tui.screens.interest import NEEDS_SOURCE, InterestScreen
from tests.brokers import NatsServer
from tests.test_interest_brokers import SYS_CONFIG, shop
from tests.waiting import async_wait_for

SUBJECTS = ("user.>", "User.>", "orders.>", "payments.>")


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as s:
        yield s


@pytest.fixture(scope="module")
def with_system_account() -> Iterator[NatsServer]:
    with NatsServer(config=SYS_CONFIG, jetstream=False) as s:
        yield s


def _app(
    server: NatsServer,
    monitor: str | None,
    *,
    user: str | None = None,
    system: NatsSettings | None = None,
) -> EvmonApp:
    password = f"{user}-secret" if user else None
    settings = NatsSettings(urls=(server.url,), user=user, password=password)
    spec = nats_spec(settings, subjects=list(SUBJECTS))
    return EvmonApp(
        EventStore(10_000),
        [spec],
        subjects=SUBJECTS,
        nats_monitor=monitor,
        nats_system=system,
        blink=False,
    )


def _complete(rounds: list[InterestRoundDone]) -> Callable[[], InterestReport | None]:
    """The last round whose window saw all three published subjects."""

    def complete() -> InterestReport | None:
        for r in reversed(rounds):
            rows = {x.subject for x in (r.report.rows if r.report else ())}
            if {"user.created", "payments.failed", "orders.created"} <= rows:
                return r.report
        return None

    return complete


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

                report = await async_wait_for(
                    _complete(rounds), timeout=30, message="a full window"
                )
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
        assert str(screen.query_one("#interest-note").render()) == NEEDS_SOURCE


async def test_the_screen_reads_the_system_account(with_system_account: NatsServer) -> None:
    """No monitoring endpoint: the table comes from the system account, and the rows are the
    server's own answer to $SYS.REQ.SERVER.PING.SUBSZ."""
    server = with_system_account
    system = NatsSettings(urls=(server.url,), user="sys", password="sys-secret")
    app = _app(server, None, user="app", system=system)
    rounds: list[InterestRoundDone] = []

    def hook(message: Message) -> None:
        if isinstance(message, InterestRoundDone):
            rounds.append(message)

    async with shop([server.url], user="app") as s:

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
                note = str(screen.query_one("#interest-note").render())
                assert note == ""
                report = await async_wait_for(
                    _complete(rounds), timeout=30, message="a full window"
                )
                # the server's own answer, while the services still listen
                sys_nc = await nats.connect(server.url, user="sys", password="sys-secret")
                try:
                    answer = await sys_nc.request(
                        "$SYS.REQ.SERVER.PING.SUBSZ",
                        json.dumps({"subscriptions": True, "account": "APP"}).encode(),
                        timeout=5,
                    )
                finally:
                    await sys_nc.close()
        finally:
            pub.cancel()
    subs = json.loads(answer.data)["data"]["subscriptions_list"]
    by = {r.subject: r for r in report.rows}
    assert by["payments.failed"].issue == "no-subscriber"
    assert not [x for x in subs if x["subject"] == "payments.failed"]  # the server agrees
    assert by["payments.failed"].subscribers == 0 and not by["payments.failed"].queues
    assert by["user.created"].near == ("User.Created",)
    billing = [x for x in subs if x.get("qgroup") == "billing"]
    assert {x["subject"] for x in billing} == {"orders.created"}
    assert by["orders.created"].queues == {"billing": len(billing)} == {"billing": 2}
    assert by["orders.created"].issue is None
    assert all(not r.subject.startswith("$SYS") for r in report.rows)


def test_connect_takes_the_interest_commands_system_flags() -> None:
    """One definition for both parsers; connect checks them before Textual, like interest."""
    parser = build_parser()
    for command in ("interest", "connect"):
        args = parser.parse_args(
            [command, "--nats", "nats://127.0.0.1:4222", "--nats-system-creds", "sys.creds"]
        )
        assert args.nats_system_creds == "sys.creds"
        assert args.nats_system_context is None and args.nats_system_user is None
    env = {k: v for k, v in os.environ.items() if k != "EVMON_NATS_SYSTEM_PASSWORD"}
    argv = ["connect", "--nats", "nats://127.0.0.1:4222", "--nats-system-user", "sys"]
    proc = subprocess.run(
        [sys.executable, "-m", "evmon", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "evmon: error: --nats-system-user 'sys' needs $EVMON_NATS_SYSTEM_PASSWORD"
    ]
