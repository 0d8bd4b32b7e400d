"""A budgeted ``EventIndex.poll`` (the dashboard's tick): a backlog is taken over several
polls, and every event still reaches the lens and the rows, exactly as one poll would.

``budget=0`` makes each poll take the fewest events (``POLL_MIN``), whatever the clock
says, so these tests never depend on time.
"""

from __future__ import annotations

from evmon.event_index import POLL_MIN, EventIndex
from evmon.filter import parse_filter
from evmon.lenses import Lens
from evmon.model import Event
from evmon.store import EventStore

GOOD = b'{"id": 1, "email": "a@b"}'
RENAMED = b'{"id": 2, "mail": "a@b"}'


def flood(n: int) -> list[Event]:
    """Ids repeat every 97 events (so most are duplicates); every 13th one drifted."""
    return [
        Event(
            "nats",
            f"users.{i % 3}",
            RENAMED if i % 13 == 0 else GOOD,
            0.0,
            headers=(("Nats-Msg-Id", str(i % 97).encode()),),
        )
        for i in range(n)
    ]


def dashboard_index(capacity: int, expr: str) -> tuple[EventStore, Lens, EventIndex]:
    store = EventStore(capacity)
    lens = Lens(keep=capacity, drift_per_poll=None)  # drift judged on every event: exact
    return store, lens, EventIndex(store, parse_filter(expr, lens=lens), lens=lens)


def rows(index: EventIndex) -> list[int]:
    return list(index.seqs())


def test_a_backlog_is_taken_in_slices_with_the_rows_and_verdicts_of_one_poll() -> None:
    events = flood(20_000)
    store, lens, index = dashboard_index(100_000, "dup drift")
    ref_store, ref_lens, ref_index = dashboard_index(100_000, "dup drift")
    store.extend(events)
    ref_store.extend(events)
    ref_index.poll()

    polls = 0
    while index.behind:
        change = index.poll(budget=0.0)
        assert lens.next_seq - index.next_seq == 0  # the rows never pass the judged events
        assert change.added <= POLL_MIN
        polls += 1
    assert polls == 20_000 // POLL_MIN
    assert rows(index) == rows(ref_index) and len(index) > 0
    assert (lens.judged, lens.dups, lens.drifts) == (
        ref_lens.judged,
        ref_lens.dups,
        ref_lens.drifts,
    )
    assert [lens.badge(e) for e in events] == [ref_lens.badge(e) for e in events]


def test_an_unbudgeted_poll_still_takes_everything_at_once() -> None:
    store, lens, index = dashboard_index(100_000, "dup")
    store.extend(flood(5 * POLL_MIN))
    index.poll()
    assert not index.behind and lens.judged == 5 * POLL_MIN


def test_a_stream_faster_than_the_slices_loses_no_event_to_eviction() -> None:
    """Past half the store's capacity the bound is dropped: the lens catches up before the
    store can evict what it has not judged."""
    capacity = 4 * POLL_MIN
    store, lens, index = dashboard_index(capacity, "dup")
    sent = 0
    for _ in range(40):
        batch = flood(3 * POLL_MIN // 2)  # more a round than one slice takes
        store.extend(batch)
        sent += len(batch)
        assert lens.next_seq >= store.first_seq  # nothing evicted before it was judged
        index.poll(budget=0.0)
    index.poll()
    assert lens.judged == sent == store.total
    assert index.next_seq == store.total


def test_a_generous_budget_takes_the_whole_backlog() -> None:
    store, lens, index = dashboard_index(100_000, "dup")
    store.extend(flood(10 * POLL_MIN))
    index.poll(budget=10.0)
    assert not index.behind and lens.judged == 10 * POLL_MIN


def test_without_a_lens_the_budget_bounds_the_filtering_alone() -> None:
    store = EventStore(100_000)
    index = EventIndex(store, parse_filter("users.1"))
    store.extend(flood(3 * POLL_MIN))
    assert index.poll(budget=0.0).added == sum(1 for i in range(POLL_MIN) if i % 3 == 1)
    assert index.behind
    while index.behind:
        index.poll(budget=0.0)
    assert len(index) == POLL_MIN
