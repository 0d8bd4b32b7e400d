"""The bounded event store between the sources and the UI.

Sources append at broker speed; the UI reads on a timer. So ``append`` does the least
possible (one slot write, one counter bump), and everything the UI wants that costs more
(rates, batches of new events) is computed when it asks, at its own pace.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import cast

from evmon.model import Event

__all__ = ["DEFAULT_CAPACITY", "Changes", "EventStore", "Footprint", "SubjectKey"]

DEFAULT_CAPACITY = 100_000

#: (source, subject or topic, Kafka partition or None): one line of the subject tree.
SubjectKey = tuple[str, str, int | None]

#: Rates are averaged over about this many seconds of samples taken at most once a second.
RATE_WINDOW = 5.0
_SAMPLE_EVERY = 1.0
#: Distinct (source, subject, partition) keys counted one by one. Past this, an event on a
#: new key is counted under its parent subject (see ``EventStore._fold``): subjects that
#: carry ids (``orders.<uuid>``) must not grow memory and the subject tree's work forever.
SUBJECT_LIMIT = 10_000
#: Parent subjects (first tokens) that folding may add on top of ``SUBJECT_LIMIT``; past
#: both, new subjects are counted under their source alone.
FOLD_LIMIT = 1_000
#: ``_pending`` is folded into the totals once it holds this many keys, even if no reader
#: asks: a store nobody reads must not grow, and no single fold may hold up the event loop
#: (about 2 µs a key once new subjects fold into parents, so about a millisecond: a fold that
#: lands between a key and its echo frame must not be what the user waits for).
_DRAIN_AT = 512


@dataclass(frozen=True, slots=True)
class Footprint:
    """What a store holds besides its events, for checking its memory bounds (the tests,
    the memory bench): each number is bounded whatever the traffic."""

    slots: int  # the ring's length: ``capacity``, allocated once
    slots_bytes: int  # ``sys.getsizeof`` of the ring's list: constant once allocated
    held: int  # slots that reference an event (0 after ``clear()``)
    pending_keys: int  # keys counted since the last fold (< 2,048: folded on its own)
    counted_keys: int  # keys with a total (max_subjects + FOLD_LIMIT + 2 at most)
    samples: int  # rate samples (one a second, RATE_WINDOW + 1 at most)
    sample_keys: int  # keys over all samples: only those that changed in each second
    window_keys: int  # keys with events in the rate window's samples (<= counted_keys)


@dataclass(frozen=True, slots=True)
class Changes:
    """What moved since the previous ``EventStore.changes()``: the subject tree applies it
    in time that grows with the subjects that had traffic, not with every subject seen.

    A key's rate is ``window[key] / elapsed``; a key missing from ``window`` kept the number
    it had when it was last given (0 once it was given as 0).
    """

    #: The new total of every key counted since the previous call.
    counts: dict[SubjectKey, int]
    #: Events in the rate window of every key whose number may have changed (0: none left).
    window: dict[SubjectKey, int]
    #: Seconds the rate window spans now (0.0 before a second sample: no rates yet).
    elapsed: float


class EventStore:
    """A ring buffer of the newest ``capacity`` events with per-subject counts and rates.

    Every event gets a sequence number (0, 1, 2, ...) that never repeats, even across
    ``clear()``, so readers can poll with ``since(next_seq)`` and never see an event twice.
    The slot of sequence ``s`` is ``s % capacity`` in a list allocated once: memory stays
    flat once full, and random access for the list view is O(1).

    Counts are per subject since start (or the last ``clear()``), not per retained event:
    eviction would otherwise cost a second dict update on every append. ``append`` counts
    into ``_pending`` only; readers fold that into the totals (bounded by ``SUBJECT_LIMIT``)
    and into per-second samples of what changed, so what a reader costs grows with the
    subjects active in the last seconds, never with every subject ever seen.

    Single writer: call it from the event loop that runs the sources (or hold a lock).
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_subjects: int = SUBJECT_LIMIT,
    ) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._buf: list[Event | None] = [None] * capacity
        self._total = 0
        self._first = 0
        self._cleared = 0
        self._dropped = 0
        self._max_subjects = max_subjects
        #: Events per key appended since the last ``_drain`` (the one dict append touches).
        self._pending: dict[SubjectKey, int] = {}
        #: Totals per key up to the last drain: at most max_subjects + FOLD_LIMIT + 2 keys.
        self._counts: dict[SubjectKey, int] = {}
        self._folds = 0
        #: Drained since the newest sample, and keys drained since ``changes()`` last ran.
        self._fresh: dict[SubjectKey, int] = {}
        #: (A dict for its order: the tree creates nodes for new subjects in arrival order.)
        self._unread: dict[SubjectKey, None] = {}
        self._clock = clock
        #: (monotonic time, counts added since the previous sample, total): oldest first,
        #: one per second at most.
        self._samples: deque[tuple[float, dict[SubjectKey, int], int]] = deque(
            maxlen=int(RATE_WINDOW / _SAMPLE_EVERY) + 1
        )
        #: Events per key in the samples newer than the one rates are measured from (the
        #: window's base, at ``_win_base``), kept up to date as samples come and leave, so
        #: a rate costs a lookup and not a sum over the samples; keys whose number moved
        #: since ``changes()`` last ran.
        self._win: dict[SubjectKey, int] = {}
        self._win_base = float("-inf")
        self._win_moved: set[SubjectKey] = set()
        #: (monotonic time, total) once a second for ``total_rate``, which must not fold
        #: the per-subject counts (the status line asks several times a second).
        self._totals: deque[tuple[float, int]] = deque(maxlen=int(RATE_WINDOW / _SAMPLE_EVERY) + 1)

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
        counts = self._pending
        counts[key] = counts.get(key, 0) + 1
        if len(counts) >= _DRAIN_AT:
            self._drain()

    def extend(self, events: Iterable[Event], /) -> None:
        # append() inlined with locals: sources hand over whole fetch batches.
        buf, cap, counts = self._buf, self._capacity, self._pending
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
        if len(counts) >= _DRAIN_AT:
            self._drain()

    def add_dropped(self, n: int, /) -> None:
        """Count events a source lost before they reached the store (slow consumer)."""
        self._dropped += n

    def clear(self) -> None:
        """Forget all events and statistics; sequence numbers keep counting."""
        self._buf[:] = [None] * self._capacity
        self._cleared += self._total - self._first
        self._first = self._total
        self._pending, self._counts, self._fresh, self._win = {}, {}, {}, {}
        self._unread, self._win_moved = {}, set()
        self._win_base = float("-inf")
        self._folds = 0
        self._samples.clear()
        self._totals.clear()

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

    def footprint(self) -> Footprint:
        buf = self._buf
        return Footprint(
            slots=len(buf),
            slots_bytes=sys.getsizeof(buf),
            held=sum(slot is not None for slot in buf),
            pending_keys=len(self._pending),
            counted_keys=len(self._counts),
            samples=len(self._samples),
            sample_keys=sum(len(sample[1]) for sample in self._samples),
            window_keys=len(self._win),
        )

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
        """Events per (source, subject, partition) since start or the last clear(); past
        ``max_subjects`` keys, new subjects are counted under a parent (``_fold``)."""
        self._drain()
        return dict(self._counts)

    def _drain(self) -> None:
        """Add what ``append`` counted to the totals, the newest sample and the unread keys."""
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        counts, fresh, unread = self._counts, self._fresh, self._unread
        room = self._max_subjects - len(counts) + self._folds
        counted, fresh_of = counts.get, fresh.get
        for key, n in pending.items():
            total = counted(key)
            if total is None:
                if room > 0:
                    room -= 1
                    total = 0
                else:
                    key = self._fold(key)
                    total = counted(key, 0)
            counts[key] = total + n
            fresh[key] = fresh_of(key, 0) + n
            unread[key] = None

    def _fold(self, key: SubjectKey) -> SubjectKey:
        """Where a new key is counted once the table is full: its nearest parent subject
        that has a key (``orders.eu.<id>`` -> ``orders.eu``), else its first token (up to
        ``FOLD_LIMIT`` of those), else its source's key ``(source, "", None)``."""
        source, subject, _ = key
        counts = self._counts
        parent = subject
        while (cut := parent.rfind(".")) > 0:
            parent = parent[:cut]
            folded = (source, parent, None)
            if folded in counts:
                return folded
        if parent != subject and self._folds < FOLD_LIMIT:
            self._folds += 1
            return (source, parent, None)
        folded = (source, "", None)
        if folded not in counts:
            self._folds += 1
        return folded

    def _base(self, now: float | None) -> tuple[int, float]:
        """The index of the sample that rates are measured from (taking a new sample if
        one is due, and moving the window's counts with it), and now."""
        if now is None:
            now = self._clock()
        self._drain()
        self._sample_total(now)
        samples = self._samples
        if not samples or now - samples[-1][0] >= _SAMPLE_EVERY:
            if len(samples) == samples.maxlen and samples[0][0] > self._win_base:
                self._shift(samples[0][1], -1)  # never, by the sampling: kept exact anyway
            samples.append((now, self._fresh, self._total))
            self._shift(self._fresh, 1, moved=False)  # from fresh to a sample: the same sum
            self._fresh = {}
        # Prefer the newest sample that still spans the window; older ones would smooth a
        # burst that ended long ago into the current rate.
        at = 0
        for i, sample in enumerate(samples):
            if now - sample[0] >= RATE_WINDOW:
                at = i
            else:
                break
        base, old = samples[at][0], self._win_base
        if base != old:  # samples between the two bases leave the window (or come back)
            sign = -1 if base > old else 1
            low, high = min(base, old), max(base, old)
            for then, added, _ in samples:
                if low < then <= high:
                    self._shift(added, sign)
            self._win_base = base
        return at, now

    def _sample_total(self, now: float) -> deque[tuple[float, int]]:
        """The totals' samples, with one for now if one is due (``_base`` takes them too,
        so a rate baseline taken with ``rates()`` serves ``total_rate`` as well)."""
        totals = self._totals
        if not totals or now - totals[-1][0] >= _SAMPLE_EVERY:
            totals.append((now, self._total))
        return totals

    def _shift(self, added: dict[SubjectKey, int], sign: int, *, moved: bool = True) -> None:
        """Add (or take away) one sample's counts to (from) the window's."""
        win = self._win
        for key, n in added.items():
            left = win.get(key, 0) + sign * n
            if left:
                win[key] = left
            else:
                del win[key]
        if moved:
            self._win_moved.update(added)

    def rates(self, now: float | None = None) -> dict[SubjectKey, float]:
        """Messages per second of every counted key over about the last five seconds.

        Samples are taken here, not in append(), so append stays O(1); right after the
        first call the rates are 0.0. The subject tree uses ``changes()``, which costs
        only as much as the keys whose counts moved.
        """
        at, now = self._base(now)
        elapsed = now - self._samples[at][0]
        rates = dict.fromkeys(self._counts, 0.0)
        if elapsed > 0:
            win, fresh = self._win, self._fresh
            for key in win.keys() | fresh.keys():
                rates[key] = (win.get(key, 0) + fresh.get(key, 0)) / elapsed
        return rates

    def changes(self, now: float | None = None) -> Changes:
        """The keys counted since the previous call and those whose events in the rate
        window changed (``Changes``); the first call gives every key counted so far."""
        at, now = self._base(now)
        counts, win, fresh = self._counts, self._win, self._fresh
        unread = self._unread
        totals = {key: counts[key] for key in unread}
        self._unread = {}
        moved = self._win_moved
        moved.update(unread)  # counted since the last call: in the window, one way or another
        window = {key: win.get(key, 0) + fresh.get(key, 0) for key in moved}
        self._win_moved = set()
        return Changes(totals, window, now - self._samples[at][0])

    def total_rate(self, now: float | None = None) -> float:
        """Messages per second over about the last five seconds, all subjects together."""
        if now is None:
            now = self._clock()
        totals = self._sample_total(now)
        then, old_total = totals[0]
        for sample in totals:  # the newest that spans the window, as in _base
            if now - sample[0] >= RATE_WINDOW:
                then, old_total = sample
            else:
                break
        elapsed = now - then
        return (self._total - old_total) / elapsed if elapsed > 0 else 0.0
