"""The list of events the dashboard shows: the store seen through the current filter.

``EventIndex`` is plain Python (no Textual) so its bookkeeping is tested on its own. It maps
row numbers to store sequence numbers and is updated in three ways:

- ``poll()`` on the UI timer takes the events that arrived since the last poll, filters
  only those, and drops rows whose events the store has evicted;
- ``snapshot()`` + ``refilter()`` + ``install()`` re-filter every retained event when the
  filter changes: the snapshot is taken on the UI thread, ``refilter`` may run in a thread
  (it touches nothing but its arguments), ``install`` swaps the result in on the UI thread;
- ``set_filter_now()`` does all three at once for small stores.

Without a filter the rows are the store itself (no per-event bookkeeping at all): row ``r``
is sequence ``first + r``.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from evmon.filter import Filter
from evmon.model import Event
from evmon.store import EventStore

__all__ = ["EventIndex", "PollResult", "Snapshot"]

#: Re-filtering checks for cancellation this often (events).
REFILTER_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class PollResult:
    """What a poll changed: rows appended at the bottom and rows evicted from the top."""

    added: int = 0
    evicted: int = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.evicted)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The retained events at one moment, to re-filter away from the UI thread."""

    first: int
    end: int
    events: list[Event] = field(repr=False)  # Textual reprs worker arguments


class EventIndex:
    """Rows of the event list: store sequence numbers that pass the filter, oldest first."""

    def __init__(self, store: EventStore, flt: Filter | None = None) -> None:
        self.store = store
        self.filter: Filter | None = None if flt is None or flt.is_empty else flt
        #: Matching sequence numbers, or None when there is no filter (rows = the store).
        self._seqs: array[int] | None = None
        #: Without a filter: the sequence number of row 0.
        self._first = store.first_seq
        #: The next store sequence number to look at.
        self.next_seq = store.first_seq
        if self.filter is not None:
            self._seqs = array("q")

    # ----------------------------------------------------------------- reading

    def __len__(self) -> int:
        if self._seqs is None:
            return self.next_seq - self._first
        return len(self._seqs)

    @property
    def scanned(self) -> int:
        """Retained events this index has looked at (the M of "matching N of M")."""
        return max(0, self.next_seq - self.store.first_seq)

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

    def poll(self, limit: int | None = None) -> PollResult:
        """Take new events from the store (filtering only those); drop evicted rows."""
        store = self.store
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
        return PollResult(added, evicted)

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

    def snapshot(self) -> Snapshot:
        """The retained events up to what this index has seen, for ``refilter``."""
        first = self.store.first_seq
        events, end = self.store.since(first, max(self.next_seq - first, 0))
        return Snapshot(end - len(events), end, events)

    @staticmethod
    def refilter(
        snap: Snapshot,
        flt: Filter | None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> array[int] | None:
        """Sequence numbers of ``snap`` that match ``flt`` (None when cancelled).

        Touches nothing but its arguments, so it may run in a thread worker.
        """
        out: array[int] = array("q")
        if flt is None or flt.is_empty:
            out.extend(range(snap.first, snap.end))
            return out
        pred = flt.predicate
        events = snap.events
        base = snap.first
        for lo in range(0, len(events), REFILTER_CHUNK):
            if cancelled():
                return None
            chunk = events[lo : lo + REFILTER_CHUNK]
            out.extend([base + lo + i for i, ev in enumerate(chunk) if pred(ev)])
        return out

    def install(self, flt: Filter | None, snap: Snapshot, seqs: array[int] | None) -> None:
        """Show ``flt``'s rows: ``seqs`` from ``refilter(snap, flt)``; later events are
        caught up by the next ``poll``."""
        self.filter = None if flt is None or flt.is_empty else flt
        if self.filter is None:
            self._seqs = None
            self._first = max(snap.first, self.store.first_seq)
        else:
            self._seqs = seqs if seqs is not None else array("q")
            self._evict(self.store.first_seq)
        self.next_seq = snap.end
        if self._seqs is None and self._first > self.next_seq:
            self._first = self.next_seq

    def set_filter_now(self, flt: Filter | None) -> None:
        """Re-filter every retained event on the spot (for small stores and tests)."""
        snap = self.snapshot()
        self.install(flt, snap, self.refilter(snap, flt))
