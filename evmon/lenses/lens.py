"""``Lens``: the duplicate and drift lenses over a live stream, judged once per event.

    lens = Lens(parse_dedupe_key(args.dedupe_key))
    flt = parse_filter("orders.> dup", lens=lens)      # the filter terms read the verdicts
    lens.observe(ev)            # on ingest: tail before filtering, the dashboard on poll
    lens.verdict(ev)            # Verdict(dup="dup", drift="missing: email") or None
    lens.summary()              # "nats orders.created 2, kafka payments 1"

Evaluation order: an event is judged once, when it is first seen, in arrival order
(``tail`` just before its filter runs on it; the dashboard when its event list first takes
it from the store, ``catch_up``), and the verdict is stored. So re-filtering the retained
events (a new filter in the filter bar) gives the same answers as the first time: the first
copy of an identity is never ``dup`` and every later copy is, and ``drift`` is judged
against the habit learned from the events before it. Verdicts are kept for the last
``keep`` events judged (the store's capacity in the dashboard); an older event reads as
neither (it has left the store by then).

At high rates the dashboard samples drift: a ``catch_up`` judges duplicates on every event
but drift on at most ``DRIFT_PER_POLL`` events as they arrive (about 15,000 a second at
the dashboard's tick); of a larger batch it judges every k-th (spread over the batch, so
each busy subject keeps learning its habit) and leaves the others to be judged when first
asked about: painted (``badge``), shown in the detail (``verdict``) or tested by a
``drift`` term. Such an event is judged against the habit as it is then (which has also
learned from events after it) and counted then; from then on its verdict is fixed like
any other, so the answers stay stable. The tree's drift counts are of the events judged:
exact below that rate, a sample's above it. ``deferred`` counts the events left for later,
``pending`` those still unjudged (bounded by the store plus one ``GENERATION``).

A lens part costs work on every event (an identity, a JSON parse), so each can be off:
``tail`` switches a part on when its filter names the term (``matcher``) or ``--dedupe-key``
is given, and judges every event it reads; the dashboard has both on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from evmon.lenses.dedupe import (
    PROVENANCE_HEADER,
    Identity,
    SeenIdentities,
    last_header,
    parse_dedupe_key,
)
from evmon.lenses.drift import ShapeHabits, shape_of
from evmon.model import Event

if TYPE_CHECKING:
    from evmon.store import EventStore

__all__ = ["LENS_TERMS", "Lens", "Verdict"]

#: The filter terms a lens answers.
LENS_TERMS = frozenset({"dup", "drift"})
#: Verdicts kept: the last this many events judged (the default store capacity).
KEEP = 100_000
#: Subjects whose duplicates and drifts are counted one by one; later ones are counted
#: under their source (``(source, "")``), like the store folds subjects past its limit.
COUNTED_SUBJECTS = 10_000
#: Events a ``catch_up`` judges for drift as they arrive (about 15,000 a second at the
#: dashboard's tick); of a larger batch a spread sample is, the rest on demand.
DRIFT_PER_POLL = 1000
#: Events left for an on-demand drift verdict are remembered in groups of about this many.
GENERATION = 8192

SubjectKey = tuple[str, str]
DupKind = Literal["dup", "replay"]


class Verdict:
    """What the lenses found on one event: ``dup`` is ``"dup"`` (its identity was seen on
    the subject before), ``"replay"`` (re-published by evmon: the provenance header) or
    None; ``drift`` says how its shape differs from the subject's habit, or is None."""

    __slots__ = ("drift", "dup")

    def __init__(self, dup: DupKind | None, drift: str | None) -> None:
        self.dup = dup
        self.drift = drift

    def __repr__(self) -> str:
        return f"Verdict(dup={self.dup!r}, drift={self.drift!r})"


def _count(counts: dict[SubjectKey, int], key: SubjectKey, touched: set[SubjectKey]) -> None:
    if key not in counts and len(counts) >= COUNTED_SUBJECTS:
        key = (key[0], "")
    counts[key] = counts.get(key, 0) + 1
    touched.add(key)


class _Generation:
    """Events a poll left for an on-demand drift verdict: id(event) -> store sequence (the
    sequence proves the id is still the event's: ``store.get(seq) is ev``)."""

    __slots__ = ("end", "ids")

    def __init__(self) -> None:
        self.end = 0  # past the newest sequence held: dropped once the store evicted it
        self.ids: dict[int, int] = {}


class Lens:
    """The lenses' state since start: identities seen, shape habits, verdicts, counts."""

    def __init__(
        self,
        identity: Identity | None = None,
        *,
        dedupe: bool = True,
        drift: bool = True,
        keep: int = KEEP,
        seen: SeenIdentities | None = None,
        habits: ShapeHabits | None = None,
        drift_per_poll: int | None = DRIFT_PER_POLL,
    ) -> None:
        self.identity = parse_dedupe_key(None) if identity is None else identity
        self.dedupe = dedupe
        self.drift = drift
        self.keep = keep
        self.seen = SeenIdentities() if seen is None else seen  # (empty ones are falsy)
        self.habits = ShapeHabits() if habits is None else habits
        #: ``catch_up`` judges at most this many events' drift as they arrive (None: all).
        self.drift_per_poll = drift_per_poll
        #: id(event) -> (event, verdict) for the flagged events among the last ``keep``
        #: judged. The event is held so its id cannot be reused while the entry lives.
        self._verdicts: dict[int, tuple[Event, Verdict]] = {}
        self._order: deque[tuple[int, int]] = deque()  # (judged number, id), oldest first
        self.judged = 0
        #: Per (source, subject): duplicates, replays and drifted events seen.
        self.dups: dict[SubjectKey, int] = {}
        self.replays: dict[SubjectKey, int] = {}
        self.drifts: dict[SubjectKey, int] = {}
        self._touched: set[SubjectKey] = set()
        #: The next store sequence number ``catch_up`` judges.
        self.next_seq = 0
        #: The store ``catch_up`` reads, and its events whose drift is judged on demand.
        self._store: EventStore | None = None
        self._unjudged: deque[_Generation] = deque()  # oldest first; never replaced
        #: Events whose drift was left to be judged on demand (since start).
        self.deferred = 0

    @property
    def active(self) -> bool:
        return self.dedupe or self.drift

    @property
    def verdicts_kept(self) -> int:
        """Verdicts held now (flagged events among the last ``keep`` judged): the bound
        the memory tests check."""
        return len(self._verdicts)

    @property
    def pending(self) -> int:
        """Retained events whose drift is not judged yet (bounded by the store)."""
        return sum(len(gen.ids) for gen in self._unjudged)

    # ----------------------------------------------------------------- judging

    def observe(self, ev: Event) -> Verdict | None:
        """Judge ``ev`` (once: call this when it is first seen, in arrival order)."""
        n = self.judged = self.judged + 1
        dup = self._dup_of(ev) if self.dedupe else None
        drift = self._drift_of(ev) if self.drift else None
        self._prune()
        if dup is None and drift is None:
            return None
        return self._record(n, ev, dup, drift)

    def observe_many(self, events: Iterable[Event]) -> None:
        observe = self.observe
        for ev in events:
            observe(ev)

    def catch_up(
        self, store: EventStore, limit: int | None = None, *, round_size: int | None = None
    ) -> int:
        """Judge the store's events since the last call (the dashboard's ingest point: every
        event list calls it before it filters, and each event is judged once), at most
        ``limit`` of them (the rest at the next call: ``next_seq`` says how far it got).
        Events the store evicted before they were judged are skipped. The number judged.

        Duplicates are judged on every event. Drift too, up to ``drift_per_poll`` events a
        round; of a larger batch every k-th is judged now (spread over the batch, so every
        busy subject keeps learning) and the others when first asked about (``verdict``,
        ``badge``, the ``drift`` term). A round is this call, or ``round_size`` events when
        the caller takes a round in several calls (the dashboard's tick judges its backlog in
        slices between loop turns; the sample stays a tick's, not a slice's)."""
        self._store = store
        events, end = store.since(self.next_seq, limit)
        self.next_seq = end
        unjudged, first = self._unjudged, store.first_seq
        while unjudged and unjudged[0].end <= first:
            unjudged.popleft()
        if not events:
            return 0
        n = len(events)
        base = self.judged
        self.judged = base + n
        dups = self._dups_of(events) if self.dedupe else {}
        drifts: dict[int, str] = {}
        if self.drift:
            cap = self.drift_per_poll
            size = n if round_size is None else max(n, round_size)
            picked: Iterable[int] = range(n)
            if cap is not None and size > cap:
                picked = range(0, n, -(-size // cap))
                self._defer(events, end - n, picked)
            drift_of = self._drift_of
            for i in picked:
                found = drift_of(events[i])
                if found is not None:
                    drifts[i] = found
        for i in sorted(dups.keys() | drifts.keys()) if dups and drifts else (dups or drifts):
            self._record(base + i + 1, events[i], dups.get(i), drifts.get(i))
        self._prune()
        return n

    def _defer(self, events: list[Event], start: int, picked: range) -> None:
        """Remember ``events`` (from sequence ``start``) but those ``picked`` as unjudged."""
        gens = self._unjudged
        if not gens or (gens[-1].ids and len(gens[-1].ids) + len(events) > GENERATION):
            gens.append(_Generation())
        gen = gens[-1]
        ids = gen.ids
        ids.update(zip(map(id, events), range(start, start + len(events)), strict=True))
        for i in picked:
            ids.pop(id(events[i]), None)
        gen.end = start + len(events)
        self.deferred += len(events) - len(picked)

    def _settle(self, ev: Event) -> None:
        """Judge ``ev``'s drift now if a poll left it unjudged (against the habit as it is
        now); from then on its verdict is fixed like any other."""
        key = id(ev)
        for gen in reversed(self._unjudged):
            seq = gen.ids.pop(key, None)
            if seq is not None:
                break
        else:
            return
        store = self._store
        if store is None or store.get(seq) is not ev:
            return  # a stale entry: that id was an evicted event's
        drift = self._drift_of(ev)
        if drift is None:
            return
        entry = self._verdicts.get(key)
        if entry is not None and entry[0] is ev:
            entry[1].drift = drift  # its dup part was judged on arrival
        else:
            self._record(self.judged, ev, None, drift)

    def _dup_of(self, ev: Event) -> DupKind | None:
        headers = ev.headers
        key = (ev.source, ev.subject)
        if headers and last_header(headers, PROVENANCE_HEADER) is not None:
            _count(self.replays, key, self._touched)
            return "replay"  # evmon's own copy: its identity is not remembered
        ident = self.identity.fn(ev)
        if ident is not None and self.seen.check(key, ident):
            _count(self.dups, key, self._touched)
            return "dup"
        return None

    def _dups_of(self, events: list[Event]) -> dict[int, DupKind]:
        """``_dup_of`` over a batch: index -> "dup" or "replay" for the flagged ones."""
        found: dict[int, DupKind] = {}
        fn, check, touched = self.identity.fn, self.seen.check, self._touched
        for i, ev in enumerate(events):
            headers = ev.headers
            if headers and last_header(headers, PROVENANCE_HEADER) is not None:
                found[i] = "replay"
                _count(self.replays, (ev.source, ev.subject), touched)
                continue
            ident = fn(ev)
            if ident is not None:
                key = (ev.source, ev.subject)
                if check(key, ident):
                    found[i] = "dup"
                    _count(self.dups, key, touched)
        return found

    def _drift_of(self, ev: Event) -> str | None:
        shape = shape_of(ev.payload)
        if shape is None:
            return None
        key = (ev.source, ev.subject)
        drift = self.habits.judge(key, shape)
        if drift is not None:
            _count(self.drifts, key, self._touched)
        return drift

    def _record(self, n: int, ev: Event, dup: DupKind | None, drift: str | None) -> Verdict:
        verdict = Verdict(dup, drift)
        self._verdicts[id(ev)] = (ev, verdict)
        self._order.append((n, id(ev)))
        return verdict

    def _prune(self) -> None:
        """Forget the verdicts of events judged more than ``keep`` events ago."""
        order, verdicts, oldest = self._order, self._verdicts, self.judged - self.keep
        while order and order[0][0] <= oldest:
            _, gone = order.popleft()
            verdicts.pop(gone, None)

    # ----------------------------------------------------------------- reading

    def verdict(self, ev: Event) -> Verdict | None:
        """The verdict stored for ``ev`` (None: judged clean, or not judged); a retained
        event whose drift a poll left for later is judged now (``catch_up``)."""
        if self._unjudged:
            self._settle(ev)
        entry = self._verdicts.get(id(ev))
        return entry[1] if entry is not None and entry[0] is ev else None

    def matcher(self, term: str) -> Callable[[Event], bool]:
        """The predicate of filter term ``dup`` or ``drift``; asking switches that part on."""
        verdicts = self._verdicts
        if term == "dup":
            self.dedupe = True

            def is_dup(ev: Event) -> bool:
                entry = verdicts.get(id(ev))
                return entry is not None and entry[0] is ev and entry[1].dup == "dup"

            return is_dup
        if term == "drift":
            self.drift = True
            unjudged, settle = self._unjudged, self._settle

            def drifts(ev: Event) -> bool:
                if unjudged:
                    settle(ev)
                entry = verdicts.get(id(ev))
                return entry is not None and entry[0] is ev and entry[1].drift is not None

            return drifts
        raise ValueError(f"not a lens term: {term!r}")

    def badge(self, ev: Event) -> str:
        """The event list's mark: ``dup ``, ``replay `` or ``drift `` (dup first), or ""."""
        found = self.verdict(ev)
        if found is None:
            return ""
        return f"{found.dup} " if found.dup is not None else "drift "

    def changed_counts(self) -> dict[SubjectKey, tuple[int, int]]:
        """(duplicates, drifted) of the subjects whose counts moved since the last call
        (the subject tree asks once a second and relabels only those)."""
        touched, self._touched = self._touched, set()
        return {key: self.counts(*key) for key in touched}

    def counts(self, source: str, subject: str) -> tuple[int, int]:
        """(duplicates, drifted events) on one subject or topic since start."""
        key = (source, subject)
        return self.dups.get(key, 0), self.drifts.get(key, 0)

    def summary(self, counts: dict[SubjectKey, int] | None = None, limit: int = 8) -> str:
        """``nats orders.created 2, kafka payments 1`` (most first; ``, N more subjects``)."""
        counts = self.dups if counts is None else counts
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        parts = [f"{src} {subj or '(other subjects)'} {n}" for (src, subj), n in ranked[:limit]]
        if len(ranked) > limit:
            parts.append(f"{len(ranked) - limit} more subjects")
        return ", ".join(parts)
