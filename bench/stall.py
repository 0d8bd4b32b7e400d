"""``LoopStall``: how late the event loop answers, from a 5 ms ticker (how long a key would
wait on a UI sharing the loop). The lag benchmarks measure a refresh with it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

__all__ = ["LoopStall"]


class LoopStall:
    """``async with LoopStall() as stall:`` ticks until the block ends; ``longest`` is the
    worst lateness seen, ``take()`` the worst since the previous ``take()``."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.longest = 0.0
        self._since = 0.0
        self._task: asyncio.Task[None] | None = None

    def take(self) -> float:
        """The longest stall since the previous call (0.0 before the ticker ran)."""
        worst, self._since = self._since, 0.0
        return worst

    async def _tick(self) -> None:
        period, clock = self.period, time.perf_counter
        while True:
            t = clock()
            await asyncio.sleep(period)
            late = clock() - t - period
            self.longest = max(self.longest, late)
            self._since = max(self._since, late)

    async def __aenter__(self) -> LoopStall:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
