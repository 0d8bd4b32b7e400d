"""The bounded event store between the sources and the UI.

Sources append at broker speed; the UI reads on a timer. So ``append`` does the least
possible (one slot write, one counter bump), and everything the UI wants that costs more
(rates, batches of new events) is computed when it asks, at its own pace.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import cast

from evmon.model import Event

__all__ = ["DEFAULT_CAPACITY", "EventStore", "SubjectKey"]

DEFAULT_CAPACITY = 100_000

#: (source, subject or topic, Kafka partition or None): one line of the subject tree.
SubjectKey = tuple[str, str, int | None]

#: Rates are averaged over about this many seconds of samples taken at most once a second.
RATE_WINDOW = 5.0
_SAMPLE_EVERY = 1.0


class EventStore:
    """A ring buffer of the newest ``capacity`` events with per-subject counts and rates.

    Every event gets a sequence number (0, 1, 2, ...) that never repeats, even across
    ``clear()``, so readers can poll with ``since(next_seq)`` and never see an event twice.
    The slot of sequence ``s`` is ``s % capacity`` in a list allocated once: memory stays
    flat once full, and random access for the list view is O(1).

    Counts are per subject since start (or the last ``clear()``), not per retained event:
    eviction would otherwise cost a second dict update on every append.

    Single writer: call it from the event loop that runs the sources (or hold a lock).
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._buf: list[Event | None] = [None] * capacity
        self._total = 0
        self._first = 0
        self._cleared = 0
        self._dropped = 0
        self._counts: dict[SubjectKey, int] = {}
        self._clock = clock
        #: (monotonic time, counts copy, total): oldest first, one per second at most.
        self._samples: deque[tuple[float, dict[SubjectKey, int], int]] = deque(
            maxlen=int(RATE_WINDOW / _SAMPLE_EVERY) + 1
        )

    # ------------------------------------------------------------------- writing

    def append(self, ev: Event, /) -> None:
        total = self._total
        cap = self._capacity
        self._buf[total % cap] = ev
        total += 1
        self._total = total
        if total - self._first > cap:
            self._first = total - cap
        key = (ev.source, ev.subject, ev.partition)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1

    def extend(self, events: Iterable[Event], /) -> None:
        # append() inlined with locals: sources hand over whole fetch batches.
        buf, cap, counts = self._buf, self._capacity, self._counts
        total = self._total
        get = counts.get
        for ev in events:
            buf[total % cap] = ev
            total += 1
            key = (ev.source, ev.subject, ev.partition)
            counts[key] = get(key, 0) + 1
        self._total = total
        if total - self._first > cap:
            self._first = total - cap

    def add_dropped(self, n: int, /) -> None:
        """Count events a source lost before they reached the store (slow consumer)."""
        self._dropped += n

    def clear(self) -> None:
        """Forget all events and statistics; sequence numbers keep counting."""
        self._buf[:] = [None] * self._capacity
        self._cleared += self._total - self._first
        self._first = self._total
        self._counts = {}
        self._samples.clear()

    # ------------------------------------------------------------------- reading

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def total(self) -> int:
        """Events ever appended; also the sequence number the next event will get."""
        return self._total

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest retained event (== total when empty)."""
        return self._first

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def evicted(self) -> int:
        """Events pushed out by newer ones (not counting those removed by clear())."""
        return self._first - self._cleared

    def __len__(self) -> int:
        return self._total - self._first

    def __getitem__(self, index: int) -> Event:
        """The retained event at ``index`` (0 = oldest, -1 = newest)."""
        size = self._total - self._first
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("event index out of range")
        return cast(Event, self._buf[(self._first + index) % self._capacity])

    def __iter__(self) -> Iterator[Event]:
        return iter(self.since(self._first)[0])

    def get(self, seq: int) -> Event | None:
        """The event with sequence number ``seq``, or None once evicted (or not yet seen)."""
        if self._first <= seq < self._total:
            return self._buf[seq % self._capacity]
        return None

    def since(self, seq: int, limit: int | None = None) -> tuple[list[Event], int]:
        """Events with sequence >= ``seq`` (oldest first) and the sequence to ask for next.

        A reader that fell more than ``capacity`` behind gets what is still retained;
        ``first_seq - seq`` (when positive) is how many it missed.
        """
        start = max(seq, self._first)
        end = self._total
        if limit is not None:
            end = min(end, start + max(limit, 0))
        count = end - start
        if count <= 0:
            return [], start
        cap = self._capacity
        i = start % cap
        if i + count <= cap:
            batch = self._buf[i : i + count]
        else:
            batch = self._buf[i:] + self._buf[: i + count - cap]
        return cast(list[Event], batch), end

    # ------------------------------------------------------------------- statistics

    def subject_counts(self) -> dict[SubjectKey, int]:
        """Events per (source, subject, partition) since start or the last clear()."""
        return dict(self._counts)

    def _base(self, now: float | None) -> tuple[float, dict[SubjectKey, int], int, float]:
        """The oldest sample to measure rates from, taking a new sample if one is due."""
        if now is None:
            now = self._clock()
        samples = self._samples
        if not samples or now - samples[-1][0] >= _SAMPLE_EVERY:
            samples.append((now, dict(self._counts), self._total))
        # Prefer the newest sample that still spans the window; older ones would smooth a
        # burst that ended long ago into the current rate.
        base = samples[0]
        for sample in samples:
            if now - sample[0] >= RATE_WINDOW:
                base = sample
            else:
                break
        return base[0], base[1], base[2], now

    def rates(self, now: float | None = None) -> dict[SubjectKey, float]:
        """Messages per second per subject over about the last five seconds.

        Samples are taken here, not in append(), so this costs O(subjects) per call and
        append stays O(1); right after the first call the rates are 0.0.
        """
        then, old, _, now = self._base(now)
        elapsed = now - then
        if elapsed <= 0:
            return dict.fromkeys(self._counts, 0.0)
        get = old.get
        return {key: (n - get(key, 0)) / elapsed for key, n in self._counts.items()}

    def total_rate(self, now: float | None = None) -> float:
        """Messages per second over about the last five seconds, all subjects together."""
        then, _, old_total, now = self._base(now)
        elapsed = now - then
        return (self._total - old_total) / elapsed if elapsed > 0 else 0.0
