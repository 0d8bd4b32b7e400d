"""The dashboard, in Pilot, against brokers that misbehave or are hostile (issue 17):

- a nats-server of the test's own frozen by SIGSTOP: the status bar names the server that
  stopped answering pings, and says connected again once it is thawed;
- a pathological ``/(a+)+$/`` filter and payloads that make it backtrack, published to a real
  nats-server: the app keeps answering keys and counts the events it could not decide;
- ``--nats-monitor``: the re-publish asks the monitoring endpoint who subscribes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from evmon.config import NatsSettings
from evmon.model import Event
from evmon.tui.app import EvmonApp
from evmon.tui.dashboard import build_app
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.republish import RepublishModal
from tests.brokers import NatsServer
from tests.test_hostile_cli import _subscribed, raw_publish
from tests.waiting import async_wait_for

pytestmark = pytest.mark.timeout(120)
SIZE = (200, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server for this test alone, so it may be frozen."""
    server = NatsServer(workdir=tmp_path / "nats", jetstream=False)
    try:
        server.start()
        yield server
    finally:
        if server.pid is not None and server.is_running():
            os.kill(server.pid, signal.SIGCONT)
        server.cleanup()


def _bar(app: EvmonApp) -> str:
    return app.status_bar.render().plain


async def _connected(app: EvmonApp) -> None:
    await async_wait_for(
        lambda: all(view.state == "connected" for view in app.connections),
        timeout=30,
        message="every source connected",
    )


async def test_the_status_bar_names_a_frozen_nats_server(own_server: NatsServer) -> None:
    server = own_server
    assert server.pid is not None
    app = build_app(
        nats=NatsSettings(urls=(server.url,), ping_interval=0.5),
        subjects=["frozen.>"],
        blink=False,
    )
    frozen = f"NATS server 127.0.0.1:{server.port} stopped answering pings"
    async with app.run_test(size=SIZE) as pilot:
        await _connected(app)
        assert "stopped answering" not in _bar(app)
        os.kill(server.pid, signal.SIGSTOP)
        try:
            await async_wait_for(
                lambda: frozen in _bar(app), timeout=30, message=f"the status bar: {frozen!r}"
            )
            assert f"● nats {server.url} reconnecting: {frozen}" in _bar(app)
            await pilot.press("question_mark")  # the app still answers keys meanwhile
            await async_wait_for(lambda: app.screen is not app.main_screen, message="help")
            await pilot.press("escape")
        finally:
            os.kill(server.pid, signal.SIGCONT)
        await async_wait_for(
            lambda: "stopped answering" not in _bar(app) and "connected" in _bar(app),
            timeout=30,
            message="connected again once thawed",
        )
        await app.close_sources()


async def test_the_regex_budget_is_counted_in_the_status_bar(
    nats_server: NatsServer, unique: str
) -> None:
    app = build_app(
        nats=NatsSettings(urls=(nats_server.url,)),
        subjects=[f"{unique}.>"],
        initial_filter="/(a+)+$/",
        blink=False,
    )
    async with app.run_test(size=SIZE) as pilot:
        await _connected(app)
        await async_wait_for(
            lambda: _subscribed(nats_server, f"{unique}.>"), timeout=15, message="subscribed"
        )
        hostile = [(f"{unique}.evil".encode(), b"a" * 5_000 + b"!")] * 20
        raw_publish(nats_server.url, [*hostile, (f"{unique}.ok".encode(), b"aaa")])
        await async_wait_for(lambda: app.store.total == 21, timeout=30, message="21 events")
        await async_wait_for(
            lambda: "regex budget exceeded on 20 events" in _bar(app),
            timeout=30,
            message="the status bar counting the undecided events",
        )
        assert len(app.index) == 1  # only the event the term could decide, and matched
        only = app.index.event_at(0)
        assert only is not None and only.subject == f"{unique}.ok"
        # keys are answered: the filter takes the focus and gives it back
        await pilot.press("slash")
        await async_wait_for(lambda: app.focused is app.filter_bar.input, message="filter")
        await pilot.press("escape")
        await async_wait_for(lambda: app.focused is app.event_list, message="list focused")
        await app.close_sources()


async def test_connect_nats_monitor_is_asked_before_a_republish(
    nats_server: NatsServer, unique: str
) -> None:
    """`evmon connect --nats-monitor URL`: the re-publish confirmation says who subscribes
    per that endpoint (not the account's CONNZ), and cancelling sends nothing."""
    monitor, target = nats_server.monitor_url, f"{unique}.nobody"
    app = build_app(
        nats=NatsSettings(urls=(nats_server.url,)),
        subjects=[f"{unique}.none"],
        blink=False,
        nats_monitor=monitor,
    )
    assert app.action_context().nats_monitor == monitor
    async with app.run_test(size=SIZE) as pilot:
        await _connected(app)
        app.feed([Event("nats", f"{unique}.src", b"payload", time.time())])
        await async_wait_for(lambda: len(app.index) == 1, message="the event")
        await pilot.pause()
        await pilot.press("r")
        modal = await async_wait_for(
            lambda: app.screen if isinstance(app.screen, RepublishModal) else None,
            message="the re-publish modal",
        )
        modal.query_one("#republish-target", Input).value = target
        await pilot.press("enter")
        confirm = await async_wait_for(
            lambda: app.screen if isinstance(app.screen, ConfirmModal) else None,
            message="the confirmation",
        )
        assert confirm.title_text == f"Re-publish 1 event to {target}, where nobody subscribes?"
        assert (
            f"warning: nobody subscribes to {target} (per {monitor}): the server will drop "
            "the 1 event published there"
        ) in confirm.body
        await pilot.press("n")
        await async_wait_for(lambda: app.screen is app.main_screen, message="back")
        await app.close_sources()
