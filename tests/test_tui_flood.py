"""Under a flood of 20,000 msgs/s the dashboard answers keys and its memory stays bounded.

The publisher is a separate process (so it does not share the app's event loop or GIL);
the app has a small buffer so eviction runs all the time.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator

import pytest

from evmon.config import NatsSettings
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import nats_spec
from evmon.tui.screens.help import HelpScreen
from tests.brokers import NatsServer
from tests.waiting import async_wait_for

RATE = 20_000
SECONDS = 4.0
BUFFER = 20_000

PUBLISHER = """
import asyncio, sys, time
import nats

async def main(url, rate, seconds):
    nc = await nats.connect(url)
    payload = b'{"order_id": "ord-1", "status": "paid", "total": 42.5, "pad": "' + b"x" * 80 + b'"}'
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate)
        while sent < due:
            await nc.publish(f"flood.{'eu' if sent % 2 else 'us'}.created", payload)
            sent += 1
        await asyncio.sleep(0.005)
    await nc.flush()
    await nc.close()
    print(sent, flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


@pytest.fixture
def server() -> Iterator[NatsServer]:
    s = NatsServer()
    s.start()
    yield s
    s.cleanup()


async def test_flood_keeps_keys_responsive_and_memory_bounded(server: NatsServer) -> None:
    spec = nats_spec(NatsSettings(urls=(server.url,)), subjects=["flood.>"])
    app = EvmonApp(EventStore(BUFFER), [spec], blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_for(
            lambda: app.connections[0].state == "connected", timeout=20, message="connected"
        )
        publisher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PUBLISHER,
            server.url,
            str(RATE),
            str(SECONDS),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            await async_wait_for(lambda: app.store.total > 10_000, message="flood arriving")
            events = app.event_list
            steps: list[tuple[str, Callable[[], bool]]] = [
                ("p", lambda: not events.follow),
                ("p", lambda: events.follow),
                ("up", lambda: not events.follow),
                ("end", lambda: events.follow),
                ("slash", lambda: app.filter_bar.input.has_focus),
                ("escape", lambda: events.has_focus),
                ("question_mark", lambda: isinstance(app.screen, HelpScreen)),
                ("escape", lambda: not isinstance(app.screen, HelpScreen)),
            ]
            #: per key, when it had taken effect: (events accounted for, publisher running)
            effect: list[tuple[int, bool]] = []
            for key, done in steps:
                press = asyncio.create_task(pilot.press(key))
                await async_wait_for(done, timeout=30, interval=0.005, message=f"{key} handled")
                effect.append((app.store.total + app.store.dropped, publisher.returncode is None))
                await press  # the pilot waits for an idle app: under the flood, its end
                assert len(app.store) <= BUFFER
                assert len(app.index) <= BUFFER
            received_while_keys = app.store.total
            assert publisher.stdout is not None
            out = await asyncio.wait_for(publisher.stdout.read(), 30)
            await publisher.wait()
            sent = int(out.strip())
        finally:
            if publisher.returncode is None:
                publisher.kill()
                await publisher.wait()
        assert sent >= RATE * SECONDS * 0.9
        # Every key took effect, and the first one during the flood, not after it: the
        # publisher was still sending, or evmon had not yet received all it sent. A UI (or a
        # blocked event loop, which also runs the broker client) that handles keys only once
        # the flood is drained fails this by order, whatever the machine's speed. (The
        # pilot's press returns once the app is idle, which a flood delays to its end.)
        accounted, running = effect[0]
        assert running or accounted < sent, (effect, sent)
        assert received_while_keys > 10_000
        # everything published arrived (or was counted as dropped), and the store is bounded
        await async_wait_for(
            lambda: app.store.total + app.store.dropped >= sent, timeout=30, message="all in"
        )
        assert len(app.store) == BUFFER and app.store.evicted >= sent - BUFFER - app.store.dropped
        await async_wait_for(lambda: len(app.index) == BUFFER, message="index caught up")
        assert app.index.seq_at(0) >= app.store.first_seq
        # the list still draws the newest events
        assert app.visible_events()[-1].subject.startswith("flood.")
        await app.close_sources()
