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

A lens part costs work on every event (an identity, a JSON parse), so each can be off:
``tail`` switches a part on when its filter names the term (``matcher``) or ``--dedupe-key``
is given; the dashboard has both on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from evmon.lenses.dedupe import PROVENANCE_HEADER, Identity, SeenIdentities, parse_dedupe_key
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
    ) -> None:
        self.identity = parse_dedupe_key(None) if identity is None else identity
        self.dedupe = dedupe
        self.drift = drift
        self.keep = keep
        self.seen = SeenIdentities() if seen is None else seen  # (empty ones are falsy)
        self.habits = ShapeHabits() if habits is None else habits
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

    @property
    def active(self) -> bool:
        return self.dedupe or self.drift

    @property
    def verdicts_kept(self) -> int:
        """Verdicts held now (flagged events among the last ``keep`` judged): the bound
        the memory tests check."""
        return len(self._verdicts)

    # ----------------------------------------------------------------- judging

    def observe(self, ev: Event) -> Verdict | None:
        """Judge ``ev`` (once: call this when it is first seen, in arrival order)."""
        key = (ev.source, ev.subject)
        dup: DupKind | None = None
        if self.dedupe:
            if ev.header(PROVENANCE_HEADER) is not None:
                dup = "replay"  # evmon's own copy: its identity is not remembered
                _count(self.replays, key, self._touched)
            else:
                ident = self.identity(ev)
                if ident is not None and self.seen.check(key, ident):
                    dup = "dup"
                    _count(self.dups, key, self._touched)
        drift = None
        if self.drift:
            shape = shape_of(ev.payload)
            if shape is not None:
                drift = self.habits.judge(key, shape)
                if drift is not None:
                    _count(self.drifts, key, self._touched)
        n = self.judged = self.judged + 1
        order = self._order
        while order and order[0][0] <= n - self.keep:
            _, gone = order.popleft()
            self._verdicts.pop(gone, None)
        if dup is None and drift is None:
            return None
        verdict = Verdict(dup, drift)
        self._verdicts[id(ev)] = (ev, verdict)
        order.append((n, id(ev)))
        return verdict

    def observe_many(self, events: Iterable[Event]) -> None:
        observe = self.observe
        for ev in events:
            observe(ev)

    def catch_up(self, store: EventStore) -> int:
        """Judge the store's events since the last call (the dashboard's ingest point: every
        event list calls it before it filters, and each event is judged once). Events the
        store evicted before they were judged are skipped. The number judged."""
        events, end = store.since(self.next_seq)
        self.observe_many(events)
        self.next_seq = end
        return len(events)

    # ----------------------------------------------------------------- reading

    def verdict(self, ev: Event) -> Verdict | None:
        """The verdict stored for ``ev`` (None: judged clean, or not judged)."""
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

            def drifts(ev: Event) -> bool:
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
