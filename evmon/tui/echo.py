"""``EchoGate``: the dashboard's background work steps aside for a key's echo.

Under a flood the event loop runs the dashboard's own work back to back: the tick's
slices of judging and filtering new events, a re-filter's slices, the sources handing
over what they read. A key's handling and the frame that shows it are small handles
queued among them, so the echo waited behind 20-30 ms of other work (the handle trace in
bench/README.md, "the misses, worked"). The gate lets the work that can wait (the tick,
the re-filter) wait for the echo: from a key until the frame after its handling is
painted, each of them pauses at its next slice boundary; never longer than ``MAX_WAIT``,
so a key whose echo never comes (a key nothing handles) cannot stall the dashboard, and
typing at any speed leaves the work at least the gaps between keys. The sources never
ask: what they read is handed over as before.

    gate.pressed()       # a key arrived (EvmonApp.on_event); its frame is on its way
    gate.painted(token)  # the frame after its handling (call_after_refresh)
    await gate.wait()    # a slice boundary of work that can wait
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["MAX_WAIT", "EchoGate"]

#: The longest a slice boundary waits for an echo (seconds): three frames at 60 a second.
MAX_WAIT = 0.05


class EchoGate:
    """Open unless a key's echo is on its way (at most ``max_wait`` after the key)."""

    def __init__(
        self, max_wait: float = MAX_WAIT, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.max_wait = max_wait
        self._clock = clock
        #: Keys seen (the last one's number is its token) and slice boundaries that waited.
        self.keys = 0
        self.waits = 0
        self._pending = 0  # the token of the key whose echo is awaited; 0: none
        self._since = 0.0
        self._open: asyncio.Event | None = None

    def pressed(self) -> int:
        """A key arrived: close the gate until ``painted`` with the token returned."""
        self.keys += 1
        self._pending, self._since = self.keys, self._clock()
        if self._open is not None:
            self._open.clear()
        return self.keys

    def painted(self, token: int) -> None:
        """The frame after key ``token``'s handling was painted (an older key's frame
        leaves the gate closed for the newer one)."""
        if token == self._pending:
            self._release()

    @property
    def closed(self) -> bool:
        return self._pending != 0 and self._clock() - self._since < self.max_wait

    async def wait(self) -> None:
        """Return at once when open; else when the echo is painted or ``max_wait`` after
        the key, whichever is first."""
        if not self._pending:
            return
        left = self.max_wait - (self._clock() - self._since)
        if left > 0:
            self.waits += 1
            if self._open is None:
                self._open = asyncio.Event()
            try:
                await asyncio.wait_for(self._open.wait(), left)
                return
            except TimeoutError:
                pass
        self._release()

    def _release(self) -> None:
        self._pending = 0
        if self._open is not None:
            self._open.set()
