"""``EchoGate`` (evmon/tui/echo.py): the dashboard's tick and re-filter wait at their slice
boundaries from a key until the frame after its handling is painted, never longer than
``max_wait``. The clock is the test's: nothing here depends on how fast the machine is."""

from __future__ import annotations

import asyncio

import pytest

from evmon.model import Event
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.echo import EchoGate
from tests.waiting import async_wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_an_open_gate_never_waits() -> None:
    gate = EchoGate()
    await gate.wait()
    assert not gate.closed and gate.waits == 0


async def test_a_key_holds_the_work_until_its_frame_and_not_an_older_one() -> None:
    gate = EchoGate(max_wait=3600.0, clock=Clock())
    first = gate.pressed()
    second = gate.pressed()
    waiter = asyncio.create_task(gate.wait())
    await async_wait_for(lambda: gate.waits == 1, message="the work waits")
    gate.painted(first)  # the older key's frame: the newer key's echo is still on its way
    await asyncio.sleep(0)
    assert gate.closed and not waiter.done()
    gate.painted(second)
    await asyncio.wait_for(waiter, 10)
    assert not gate.closed and gate.keys == 2


async def test_a_key_whose_frame_never_comes_holds_nothing_past_max_wait() -> None:
    clock = Clock()
    gate = EchoGate(max_wait=0.05, clock=clock)
    gate.pressed()
    assert gate.closed
    clock.now = 0.06
    assert not gate.closed
    await asyncio.wait_for(gate.wait(), 10)  # past max_wait: returns at once, and opens
    assert gate.waits == 0 and not gate.closed


def nats(i: int) -> Event:
    return Event("nats", f"s.{i % 7}", b"{}", float(i))


async def test_a_tick_waits_for_the_echo_of_a_key_then_takes_the_backlog() -> None:
    app = EvmonApp(EventStore(10_000, clock=lambda: 0.0), blink=False)
    async with app.run_test(size=(120, 36)):
        screen = app.dashboard
        screen.stop()  # this test ticks by hand
        gate = screen.echo
        gate.max_wait = 3600.0
        token = gate.pressed()
        app.store.extend([nats(i) for i in range(500)])
        tick = asyncio.create_task(screen._tick())
        await async_wait_for(lambda: gate.waits == 1, message="the tick waits")
        assert app.index.next_seq == 0 and not tick.done()
        gate.painted(token)
        await asyncio.wait_for(tick, 10)
        assert app.index.next_seq == 500


@pytest.mark.parametrize("keys", [("slash", "o", "r"), ("down", "up")])
async def test_keys_close_the_gate_and_their_frames_open_it(keys: tuple[str, ...]) -> None:
    """Only a painted frame can open it here (``max_wait`` is an hour): typed characters
    in the filter and keys the event list handles alike."""
    app = EvmonApp(EventStore(1000, clock=lambda: 0.0), blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        app.feed([nats(i) for i in range(50)])
        gate = app.dashboard.echo
        gate.max_wait = 3600.0
        for n, key in enumerate(keys, 1):
            await pilot.press(key)
            assert gate.keys == n
            await async_wait_for(lambda: not gate.closed, message=f"{key} painted")
