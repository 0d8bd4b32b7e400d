"""The list of events the dashboard shows: the store seen through the current filter.

``EventIndex`` is plain Python (no Textual) so its bookkeeping is tested on its own. It maps
row numbers to store sequence numbers and is updated in three ways:

- ``poll()`` on the UI timer takes the events that arrived since the last poll, filters
  only those, and drops rows whose events the store has evicted; the timer gives it a
  slice of a frame (``budget``) a few times a tick, between loop turns, so a backlog is
  taken over several ticks and a key never waits long for a tick in progress;
- ``refilter()`` + ``install()`` re-filter every retained event when the filter changes: a
  ``Refilter`` scans the store newest first, a time-bounded slice at a time, on the event
  loop between keys and frames. Installed before it is done, the index shows the rows found
  so far (the newest: what a view following the tail shows) and each later slice adds
  older rows above them, reported by the next ``poll()`` as ``prepended``;
- ``set_filter_now()`` does it all at once (small stores, tests).

Without a filter the rows are the store itself (no per-event bookkeeping at all): row ``r``
is sequence ``first + r``.

With a ``Lens`` (``evmon.lenses``), ``poll()`` first has it judge the events that arrived
(``Lens.catch_up``: each once, in arrival order; drift on a sample of a large poll, the rest
when first asked about), so the ``dup`` and ``drift`` terms read verdicts made once and a
re-filter gives the answers the first filtering gave.
"""

from __future__ import annotations

import bisect
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evmon.filter import Filter
from evmon.model import Event
from evmon.store import EventStore

if TYPE_CHECKING:
    from evmon.lenses import Lens

__all__ = ["EventIndex", "PollResult", "Refilter"]

#: A re-filter slice looks at the clock after this many events.
REFILTER_CHUNK = 500
#: A budgeted poll (``poll(budget=...)``): the seconds per event assumed before any was
#: measured, the fewest events it takes, and the fewest that make a measurement.
FIRST_COST = 2e-6
POLL_MIN = 250
COST_SAMPLE = 250


@dataclass(frozen=True, slots=True)
class PollResult:
    """What a poll changed: rows appended at the bottom, rows evicted from the top, and
    older rows a re-filter in progress found (inserted at the top, before the evictions)."""

    added: int = 0
    evicted: int = 0
    prepended: int = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.evicted or self.prepended)


class Refilter:
    """One re-filter of the retained events for ``filter``, newest first.

    It covers the events below ``end`` (what the index had seen when it started); events
    ``[floor, end)`` are scanned and ``seqs`` holds their matches, oldest first. It reads the
    store directly, so it must run where the store is written (the event loop), and it stops
    at the store's oldest event: events evicted while it runs are never looked at.
    """

    __slots__ = ("end", "filter", "floor", "new_rows", "seqs", "store")

    def __init__(self, store: EventStore, flt: Filter | None, end: int) -> None:
        self.store = store
        self.filter = None if flt is None or flt.is_empty else flt
        self.end = end
        self.floor = end if self.filter is not None else min(end, store.first_seq)
        self.seqs: array[int] = array("q")
        #: Matches found since the index last reported them (``poll``'s ``prepended``).
        self.new_rows = 0

    @property
    def done(self) -> bool:
        return self.filter is None or self.floor <= self.store.first_seq

    def step(self, budget: float, want: int | None = None) -> int:
        """Scan older events for about ``budget`` seconds, or until ``want`` matches were
        found; the number of matches found (added at the front of ``seqs``)."""
        if self.filter is None:
            return 0
        pred = self.filter.predicate
        store = self.store
        first = store.first_seq
        floor = max(self.floor, first)
        deadline = time.perf_counter() + budget
        found: list[list[int]] = []  # newest slice first
        n = 0
        while floor > first:
            lo = max(first, floor - REFILTER_CHUNK)
            events, _ = store.since(lo, floor - lo)
            hits = [lo + i for i, ev in enumerate(events) if pred(ev)]
            if hits:
                found.append(hits)
                n += len(hits)
            floor = lo
            if (want is not None and n >= want) or time.perf_counter() >= deadline:
                break
        self.floor = floor
        if n:
            older: array[int] = array("q")
            for hits in reversed(found):
                older.extend(hits)
            self.seqs[0:0] = older
            self.new_rows += n
        return n

    def run(self) -> None:
        """Scan everything left, now."""
        while not self.done:
            self.step(float("inf"))


class EventIndex:
    """Rows of the event list: store sequence numbers that pass the filter, oldest first."""

    def __init__(
        self, store: EventStore, flt: Filter | None = None, lens: Lens | None = None
    ) -> None:
        self.store = store
        #: Judges new events before they are filtered (shared by every index of the store).
        self.lens = lens
        self.filter: Filter | None = None if flt is None or flt.is_empty else flt
        #: Matching sequence numbers, or None when there is no filter (rows = the store).
        self._seqs: array[int] | None = None
        #: Without a filter: the sequence number of row 0.
        self._first = store.first_seq
        #: The next store sequence number to look at.
        self.next_seq = store.first_seq
        if self.filter is not None:
            self._seqs = array("q")
        #: The installed re-filter while it may still find older rows.
        self._job: Refilter | None = None
        #: Seconds per event a budgeted poll measured (judging and filtering), or None.
        self._cost: float | None = None

    # ----------------------------------------------------------------- reading

    def __len__(self) -> int:
        if self._seqs is None:
            return self.next_seq - self._first
        return len(self._seqs)

    @property
    def scanned(self) -> int:
        """Retained events this index has looked at (the M of "matching N of M")."""
        first = self.store.first_seq
        if self._job is not None:
            first = max(first, self._job.floor)
        return max(0, self.next_seq - first)

    def seq_at(self, row: int) -> int:
        """The sequence number shown on ``row`` (0 = oldest row)."""
        if self._seqs is None:
            if not 0 <= row < self.next_seq - self._first:
                raise IndexError("row out of range")
            return self._first + row
        return self._seqs[row]

    def event_at(self, row: int) -> Event | None:
        """The event on ``row``, or None when the store evicted it since the last poll."""
        return self.store.get(self.seq_at(row))

    def row_of(self, seq: int) -> int:
        """The row of ``seq``, or of the first row after it when it is not shown."""
        if self._seqs is None:
            return min(max(seq - self._first, 0), len(self))
        return bisect.bisect_left(self._seqs, seq)

    def contains(self, seq: int) -> bool:
        row = self.row_of(seq)
        return row < len(self) and self.seq_at(row) == seq

    def seqs(self, start: int = 0, stop: int | None = None) -> Iterable[int]:
        """Sequence numbers of rows ``start`` to ``stop`` (for export and re-publish)."""
        stop = len(self) if stop is None else min(stop, len(self))
        if self._seqs is None:
            return range(self._first + start, self._first + stop)
        return self._seqs[start:stop]

    # ----------------------------------------------------------------- updating

    def poll(
        self,
        limit: int | None = None,
        budget: float | None = None,
        *,
        round_size: int | None = None,
    ) -> PollResult:
        """Take new events from the store (filtering only those); drop evicted rows.

        ``budget`` (seconds; the dashboard's tick gives a slice of a frame) bounds the work:
        about as many events as judging and filtering got through in that long before are
        taken, the rest at the next poll (``behind`` says some are left). Without it, every
        new event is taken now (``limit``: at most that many rows). ``round_size``: the
        events of the round this poll is a slice of (the lens samples drift per round)."""
        store = self.store
        started = time.perf_counter() if budget is not None else 0.0
        take = None if budget is None else self._affordable(budget)
        if self.lens is not None:
            lens = self.lens
            lens.catch_up(store, take, round_size=round_size)
            # Only judged events are filtered: a ``dup``/``drift`` term reads the verdicts.
            judged = max(0, lens.next_seq - max(self.next_seq, store.first_seq))
            limit = judged if limit is None else min(limit, judged)
        elif take is not None:
            limit = take if limit is None else min(limit, take)
        prepended = 0
        job = self._job
        if job is not None:
            prepended, job.new_rows = job.new_rows, 0
            if job.done:
                self._job = None
        evicted = self._evict(store.first_seq)
        events, end = store.since(self.next_seq, limit)
        added = len(events)
        if events:
            start = end - added
            seqs = self._seqs
            if seqs is None:
                if start > self.next_seq:  # fell behind by more than the store holds
                    self._first = start
            elif self.filter is None:
                seqs.extend(range(start, end))
            else:
                pred = self.filter.predicate
                before = len(seqs)
                seqs.extend([start + i for i, ev in enumerate(events) if pred(ev)])
                added = len(seqs) - before
        self.next_seq = max(end, self.next_seq)
        if self._seqs is None and self._first > self.next_seq:
            self._first = self.next_seq
        if budget is not None and len(events) >= COST_SAMPLE:
            cost = (time.perf_counter() - started) / len(events)
            self._cost = cost if self._cost is None else (self._cost + cost) / 2
        return PollResult(added, evicted, prepended)

    @property
    def backlog(self) -> int:
        """New events the next polls have to judge (the lens's) or filter (the index's)."""
        store = self.store
        start = self.next_seq if self.lens is None else self.lens.next_seq
        return max(0, store.total - max(start, store.first_seq))

    @property
    def behind(self) -> bool:
        """Events the store holds that no poll has taken yet (a budgeted poll left them)."""
        return self.next_seq < self.store.total

    def _affordable(self, budget: float) -> int | None:
        """How many new events a poll of ``budget`` seconds takes: what the measured cost
        per event allows, at least ``POLL_MIN``; all of them (None) once the backlog nears
        the store's capacity, so that no event is evicted unjudged because of the bound."""
        store = self.store
        if self.backlog > store.capacity // 2:
            return None
        cost = FIRST_COST if self._cost is None else self._cost
        return max(POLL_MIN, int(budget / max(cost, 1e-9)))

    def _evict(self, first: int) -> int:
        """Drop rows below sequence ``first``; the number dropped."""
        if self._seqs is None:
            if first <= self._first:
                return 0
            gone = max(min(first, self.next_seq) - self._first, 0)
            self._first = first
            return gone
        seqs = self._seqs
        if not seqs or seqs[0] >= first:
            return 0
        cut = bisect.bisect_left(seqs, first)
        del seqs[:cut]
        return cut

    # ----------------------------------------------------------------- re-filtering

    def refilter(self, flt: Filter | None) -> Refilter:
        """A re-filter of every event seen so far for ``flt``; step it, then ``install``."""
        return Refilter(self.store, flt, self.next_seq)

    @property
    def refiltering(self) -> bool:
        """The installed filter's older rows are still being looked for."""
        return self._job is not None and not self._job.done

    def install(self, job: Refilter) -> None:
        """Show ``job``'s filter from now on, with the rows it found so far. Its later steps
        add older rows (the index shares its ``seqs``) and the next ``poll`` catches up with
        the events that arrived after it started."""
        self.filter = job.filter
        if job.filter is None:
            self._seqs = None
            self._job = None
            self._first = self.store.first_seq
        else:
            self._seqs = job.seqs
            self._job = job
            job.new_rows = 0
            self._evict(self.store.first_seq)
        self.next_seq = job.end
        if self._seqs is None and self._first > self.next_seq:
            self._first = self.next_seq

    def finish(self) -> None:
        """Complete the installed re-filter now (before exporting what the filter shows)."""
        if self._job is not None:
            self._job.run()

    def set_filter_now(self, flt: Filter | None) -> None:
        """Re-filter every retained event on the spot (for small stores and tests)."""
        job = self.refilter(flt)
        job.run()
        self.install(job)
