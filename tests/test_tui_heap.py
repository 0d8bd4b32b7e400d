"""HeapKeeper: long-lived objects frozen out of the collector's full passes, thawed again."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from evmon.heap import HeapKeeper
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from tests.waiting import async_wait_for


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_freezes_every_second_and_thaws_every_minute() -> None:
    clock = Clock()
    keeper = HeapKeeper(freeze_every=1.0, thaw_every=60.0, clock=clock)
    keeper.tick()
    assert gc.get_freeze_count() == 0  # not started
    keeper.start()
    clock.now = 0.5
    keeper.tick()
    assert gc.get_freeze_count() == 0
    clock.now = 1.0
    keeper.tick()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    kept = [[i] for i in range(1_000)]  # tracked objects made after the freeze
    clock.now = 2.0
    keeper.tick()
    assert gc.get_freeze_count() >= frozen + len(kept)
    clock.now = 60.0
    keeper.tick()
    assert gc.get_freeze_count() == 0  # thawed: the next full pass sees everything
    clock.now = 61.0
    keeper.tick()
    assert gc.get_freeze_count() > 0
    keeper.stop()
    assert gc.get_freeze_count() == 0 and not keeper.active


async def test_the_dashboard_leaves_nothing_frozen() -> None:
    app = EvmonApp(EventStore(100), blink=False)
    app.heap.freeze_every = 0.0
    async with app.run_test():
        assert app.heap.active
        await async_wait_for(gc.get_freeze_count, message="a tick froze the heap")
    assert gc.get_freeze_count() == 0
