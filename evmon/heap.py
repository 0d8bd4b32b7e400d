"""Short garbage-collector pauses while the dashboard retains 100,000 events.

CPython's cyclic collector runs a full pass each time the objects that survived into the
oldest generation grow by a quarter. Under a 20,000 msgs/s flood with 100,000 events
retained that is every ~0.6 s, and each pass walks every retained ``Event`` (they are
GC-tracked, though no event is ever part of a cycle): 75-150 ms during which no key is
echoed and no frame is painted.

``HeapKeeper`` moves what has lived a while into the permanent generation
(``gc.freeze()``), once a second: full passes then only walk the objects of the last
second, 10-20 ms. Frozen objects are still freed by reference counting (an evicted event
goes as before); only a cycle that was frozen while alive and became garbage later waits
for the next thaw. Under the flood those are Textual's rendered ``Strip``s (each a small
cycle with its caches), about 1,000 objects a second. So every ``thaw_every`` seconds
everything is thawed and the next full pass (one long pause) reclaims them: every 30 s
bounds them to a few MB, one long pause instead of fifty.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["HeapKeeper"]


class HeapKeeper:
    """Freezes long-lived objects every ``freeze_every`` s, thaws every ``thaw_every`` s.

    Call ``tick()`` from a timer that runs more often than ``freeze_every``; ``stop()``
    thaws everything (an app under test must not leave the test process frozen).
    """

    def __init__(
        self,
        freeze_every: float = 1.0,
        thaw_every: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freeze_every = freeze_every
        self.thaw_every = thaw_every
        self._clock = clock
        now = clock()
        self._frozen_at = now
        self._thawed_at = now
        self.active = False

    def start(self) -> None:
        self.active = True
        self._frozen_at = self._thawed_at = self._clock()

    def tick(self) -> None:
        if not self.active:
            return
        now = self._clock()
        if now - self._thawed_at >= self.thaw_every:
            gc.unfreeze()
            self._thawed_at = self._frozen_at = now
        elif now - self._frozen_at >= self.freeze_every:
            gc.freeze()
            self._frozen_at = now

    def stop(self) -> None:
        if self.active:
            self.active = False
            gc.unfreeze()
