"""EventIndex: the store seen through the filter, updated incrementally (no Textual)."""

from __future__ import annotations

import random

import pytest

from evmon.event_index import EventIndex
from evmon.filter import parse_filter
from evmon.model import Event
from evmon.store import EventStore


def ev(subject: str, i: int = 0, source: str = "nats") -> Event:
    return Event(source, subject, f"payload {i}".encode(), 1_700_000_000.0 + i)  # type: ignore[arg-type]


def subjects(index: EventIndex) -> list[str]:
    out = []
    for row in range(len(index)):
        e = index.event_at(row)
        assert e is not None
        out.append(e.subject)
    return out


def test_unfiltered_rows_are_the_store_and_only_grow_on_poll() -> None:
    store = EventStore(10)
    index = EventIndex(store)
    store.extend([ev("a"), ev("b")])
    assert len(index) == 0  # nothing until the UI timer polls
    change = index.poll()
    assert (change.added, change.evicted) == (2, 0)
    assert subjects(index) == ["a", "b"]
    assert not index.poll()


def test_filtered_poll_filters_only_new_events() -> None:
    store = EventStore(100)
    index = EventIndex(store, parse_filter("orders.*.created"))
    store.extend([ev("orders.eu.created"), ev("orders.eu.paid"), ev("users.new")])
    assert index.poll().added == 1
    store.append(ev("orders.us.created"))
    assert index.poll().added == 1
    assert subjects(index) == ["orders.eu.created", "orders.us.created"]
    assert index.scanned == 4


def test_eviction_drops_rows_from_the_top() -> None:
    store = EventStore(4)
    index = EventIndex(store, parse_filter("keep"))
    store.extend([ev("keep", 0), ev("drop"), ev("keep", 2), ev("drop")])
    index.poll()
    assert len(index) == 2
    store.extend([ev("drop"), ev("keep", 5), ev("drop")])  # evicts seqs 0..2
    change = index.poll()
    assert (change.added, change.evicted) == (1, 2)
    assert [index.seq_at(r) for r in range(len(index))] == [5]


def test_unfiltered_eviction_and_falling_behind() -> None:
    store = EventStore(3)
    index = EventIndex(store)
    store.extend([ev("a"), ev("b")])
    index.poll()
    store.extend([ev(str(i)) for i in range(10)])  # far more than the store holds
    change = index.poll()
    assert change.evicted == 2
    assert subjects(index) == ["7", "8", "9"]
    assert index.seq_at(0) == store.first_seq


def test_refilter_and_install_then_catch_up() -> None:
    store = EventStore(1000)
    index = EventIndex(store)
    store.extend([ev("orders.eu.created" if i % 3 == 0 else "other", i) for i in range(300)])
    index.poll()
    flt = parse_filter("!other")
    job = index.refilter(flt)
    job.run()
    store.extend([ev("orders.us.created", 300), ev("other", 301)])  # arrive meanwhile
    index.install(job)
    assert len(index) == 100
    index.poll()
    assert len(index) == 101
    assert subjects(index)[-1] == "orders.us.created"
    # back to no filter: every retained event again
    index.set_filter_now(None)
    assert len(index) == 302


def test_a_partial_refilter_shows_the_newest_matches_first() -> None:
    store = EventStore(50_000)
    store.extend([ev("a" if i % 4 == 0 else "b", i) for i in range(50_000)])
    index = EventIndex(store)
    index.poll()
    job = index.refilter(parse_filter("a"))
    found = job.step(float("inf"), want=10)
    assert 10 <= found < 12_500 and not job.done
    index.install(job)
    assert index.refiltering
    # the rows are the newest matches, and every event above job.floor was looked at
    newest = [s for s in range(job.floor, 50_000) if s % 4 == 0]
    assert list(index.seqs()) == newest
    assert index.scanned == 50_000 - job.floor
    prepended = 0
    while not job.done:
        job.step(0.0)  # one chunk at a time
        change = index.poll()
        prepended += change.prepended
        assert list(index.seqs())[-len(newest) :] == newest  # the tail never moves
    prepended += index.poll().prepended
    assert not index.refiltering
    assert prepended == 12_500 - len(newest)
    assert list(index.seqs()) == list(range(0, 50_000, 4))
    assert index.scanned == 50_000


def test_a_refilter_meets_eviction_and_new_events() -> None:
    store = EventStore(10_000)
    store.extend([ev("a" if i % 2 else "b", i) for i in range(10_000)])
    index = EventIndex(store)
    index.poll()
    job = index.refilter(parse_filter("a"))
    job.step(float("inf"), want=100)
    index.install(job)
    # 4,000 more: the oldest 4,000 are evicted before the re-filter reaches them
    store.extend([ev("a" if i % 2 else "b", i) for i in range(10_000, 14_000)])
    change = index.poll()
    assert change.added == 2_000
    job.run()
    index.poll()
    assert list(index.seqs()) == list(range(4_001, 14_000, 2))
    assert index.scanned == 10_000
    assert job.floor >= 4_000  # evicted events were never looked at


def test_a_refilter_that_is_not_installed_leaves_the_rows_alone() -> None:
    store = EventStore(10_000)
    store.extend([ev("a" if i % 2 else "b", i) for i in range(6_000)])
    index = EventIndex(store, parse_filter("b"))
    index.poll()
    job = index.refilter(parse_filter("a"))
    job.step(0.0)
    store.extend([ev("a", 6_000), ev("b", 6_001)])
    assert index.poll().added == 1  # still the old filter, prepending nothing
    assert index.filter is not None and index.filter.expr == "b"
    job.run()
    index.install(job)
    index.poll()  # takes the events that arrived after the re-filter started
    assert list(index.seqs()) == [*range(1, 6_000, 2), 6_000]
    assert not index.refiltering


def test_a_refilter_for_no_filter_needs_no_scan() -> None:
    store = EventStore(100)
    store.extend([ev("a", i) for i in range(10)])
    index = EventIndex(store, parse_filter("b"))
    index.poll()
    job = index.refilter(None)
    assert job.done and job.step(1.0) == 0
    index.install(job)
    assert len(index) == 10 and index.filter is None


@pytest.mark.parametrize("seed", range(20))
def test_refilter_in_slices_equals_filtering_every_event(seed: int) -> None:
    """Random streams, filters, slice sizes, arrivals and evictions: once the re-filter is
    done the rows are exactly the retained events that match, and while it runs they are
    exactly the matches of what it has looked at."""
    rnd = random.Random(seed)
    store = EventStore(rnd.choice([500, 3_000, 8_000]))
    names = ["a.x", "a.y", "b.x", "b.y"]
    store.extend([ev(rnd.choice(names), i) for i in range(rnd.randrange(0, 9_000))])
    index = EventIndex(store, parse_filter(rnd.choice(["a.*", "", "!b.y"])))
    index.poll()
    flt = parse_filter(rnd.choice(["a.>", "*.x", "!a.x", '"payload 1"', "b.y a.x"]))
    job = index.refilter(flt)
    job.step(0.0, want=rnd.choice([None, 1, 50]))
    index.install(job)
    pred = flt.predicate
    for _ in range(rnd.randrange(1, 30)):
        if rnd.random() < 0.5:
            total = store.total
            store.extend([ev(rnd.choice(names), total + i) for i in range(rnd.randrange(0, 700))])
        job.step(0.0)
        index.poll()
        first = max(store.first_seq, job.floor)
        expected = [s for s in range(first, store.total) if pred(store.get(s))]  # type: ignore[arg-type]
        assert list(index.seqs()) == expected
    job.run()
    index.poll()
    retained = range(store.first_seq, store.total)
    assert list(index.seqs()) == [s for s in retained if pred(store.get(s))]  # type: ignore[arg-type]
    assert index.scanned == len(store)


def test_row_of_finds_the_nearest_row() -> None:
    store = EventStore(100)
    index = EventIndex(store, parse_filter("x"))
    store.extend([ev("x"), ev("y"), ev("x"), ev("y")])
    index.poll()
    assert index.row_of(2) == 1
    assert index.row_of(1) == 1  # not shown: the next row
    assert index.contains(2) and not index.contains(1)
