"""EventIndex: the store seen through the filter, updated incrementally (no Textual)."""

from __future__ import annotations

import threading

from evmon.filter import parse_filter
from evmon.model import Event
from evmon.store import EventStore
from evmon.tui.index import EventIndex


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
    snap = index.snapshot()
    seqs = EventIndex.refilter(snap, flt)
    store.extend([ev("orders.us.created", 300), ev("other", 301)])  # arrive meanwhile
    index.install(flt, snap, seqs)
    assert len(index) == 100
    index.poll()
    assert len(index) == 101
    assert subjects(index)[-1] == "orders.us.created"
    # back to no filter: every retained event again
    index.set_filter_now(None)
    assert len(index) == 302


def test_refilter_is_cancellable_and_thread_safe() -> None:
    store = EventStore(50_000)
    store.extend([ev("a" if i % 2 else "b", i) for i in range(50_000)])
    index = EventIndex(store)
    index.poll()
    snap = index.snapshot()
    assert EventIndex.refilter(snap, parse_filter("a"), lambda: True) is None
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(EventIndex.refilter(snap, parse_filter("a"))))
    t.start()
    t.join()
    assert len(result[0]) == 25_000  # type: ignore[arg-type]


def test_row_of_finds_the_nearest_row() -> None:
    store = EventStore(100)
    index = EventIndex(store, parse_filter("x"))
    store.extend([ev("x"), ev("y"), ev("x"), ev("y")])
    index.poll()
    assert index.row_of(2) == 1
    assert index.row_of(1) == 1  # not shown: the next row
    assert index.contains(2) and not index.contains(1)
