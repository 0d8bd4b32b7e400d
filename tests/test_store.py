"""The bounded event store: ring buffer, sequence numbers, counts and rates."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evmon.model import Event, Source
from evmon.store import DEFAULT_CAPACITY, EventStore, SubjectKey


def make(i: int, subject: str = "orders", partition: int | None = None) -> Event:
    source: Source = "nats" if partition is None else "kafka"
    return Event(source, subject, str(i).encode(), float(i), partition=partition, offset=i)


def numbers(events: list[Event]) -> list[int]:
    return [int(e.payload or b"-1") for e in events]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_defaults() -> None:
    store = EventStore()
    assert store.capacity == DEFAULT_CAPACITY == 100_000
    assert len(store) == 0
    assert (store.total, store.first_seq, store.dropped, store.evicted) == (0, 0, 0, 0)
    assert store.since(0) == ([], 0)
    assert list(store) == []
    with pytest.raises(ValueError):
        EventStore(0)


def test_append_and_index() -> None:
    store = EventStore(10)
    for i in range(3):
        store.append(make(i))
    assert len(store) == 3
    assert numbers([store[0], store[1], store[2]]) == [0, 1, 2]
    assert numbers([store[-1], store[-3]]) == [2, 0]
    for bad in (3, -4, 100):
        with pytest.raises(IndexError):
            store[bad]


def test_ring_wraparound_and_eviction() -> None:
    store = EventStore(5)
    for i in range(12):
        store.append(make(i))
    assert len(store) == 5
    assert store.total == 12
    assert store.first_seq == 7
    assert store.evicted == 7
    assert numbers(list(store)) == [7, 8, 9, 10, 11]
    assert numbers([store[i] for i in range(5)]) == [7, 8, 9, 10, 11]
    assert store[-1] == make(11)
    assert store.get(6) is None
    assert store.get(7) == make(7)
    assert store.get(11) == make(11)
    assert store.get(12) is None
    assert store.get(-1) is None


def test_since() -> None:
    store = EventStore(5)
    for i in range(12):
        store.append(make(i))
    events, nxt = store.since(0)  # fell behind: gets what is retained
    assert numbers(events) == [7, 8, 9, 10, 11]
    assert nxt == 12
    assert store.first_seq - 0 == 7  # how many the reader missed
    assert store.since(nxt) == ([], 12)
    events, nxt = store.since(10)
    assert (numbers(events), nxt) == ([10, 11], 12)
    events, nxt = store.since(8, limit=2)  # slots 3, 4: no wrap
    assert (numbers(events), nxt) == ([8, 9], 10)
    events, nxt = store.since(9, limit=3)  # slots 4, 0, 1: across the wrap
    assert (numbers(events), nxt) == ([9, 10, 11], 12)
    assert store.since(9, limit=0) == ([], 9)
    assert store.since(50) == ([], 50)
    for i in range(12, 15):
        store.append(make(i))
    events, nxt = store.since(12)
    assert (numbers(events), nxt) == ([12, 13, 14], 15)


def test_extend_matches_append() -> None:
    a, b = EventStore(7), EventStore(7)
    evs = [make(i, subject=f"s{i % 3}") for i in range(30)]
    for e in evs:
        a.append(e)
    b.extend(evs[:4])
    b.extend(iter(evs[4:25]))
    b.extend([])
    b.extend(evs[25:])
    assert list(a) == list(b)
    assert (a.total, a.first_seq, a.evicted) == (b.total, b.first_seq, b.evicted)
    assert a.subject_counts() == b.subject_counts()


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=9),
    st.lists(
        st.tuples(st.sampled_from(["append", "extend", "since", "clear"]), st.integers(0, 25)),
        max_size=30,
    ),
)
def test_against_a_list_model(capacity: int, ops: list[tuple[str, int]]) -> None:
    store = EventStore(capacity)
    everything: list[Event] = []  # every event ever appended: index == sequence number
    first = 0
    for op, n in ops:
        if op == "append":
            everything.append(make(len(everything)))
            store.append(everything[-1])
        elif op == "extend":
            batch = [make(len(everything) + i) for i in range(n)]
            everything.extend(batch)
            store.extend(batch)
        elif op == "clear":
            store.clear()
            first = len(everything)
        else:
            events, nxt = store.since(n, limit=n % 4 or None)
            start = max(n, first, len(everything) - capacity)
            end = len(everything) if n % 4 == 0 else min(len(everything), start + n % 4)
            assert events == everything[start:end]
            assert nxt == max(start, end)
        first = max(first, len(everything) - capacity)
        assert store.total == len(everything)
        assert store.first_seq == first
        assert list(store) == everything[first:]
        assert len(store) == len(everything) - first
        for seq in range(len(everything) + 1):
            assert store.get(seq) == (everything[seq] if first <= seq < len(everything) else None)


def test_clear_keeps_sequence_numbers() -> None:
    store = EventStore(4)
    for i in range(6):
        store.append(make(i))
    size = store.footprint().slots
    store.clear()
    assert len(store) == 0
    assert store.total == 6
    assert store.first_seq == 6
    assert store.evicted == 2  # clear() is not eviction
    assert store.subject_counts() == {}
    assert store.since(3) == ([], 6)
    assert store.footprint().slots == size
    assert store.footprint().held == 0  # references released
    store.append(make(6))
    assert store.since(3) == ([make(6)], 7)
    assert store[0] == make(6)


def test_dropped() -> None:
    store = EventStore(3)
    store.add_dropped(5)
    store.add_dropped(2)
    assert store.dropped == 7
    assert len(store) == 0


def test_subject_counts_outlive_eviction() -> None:
    store = EventStore(3)
    store.extend([make(i, "orders", partition=i % 2) for i in range(5)])
    store.append(make(5, "users.1"))
    store.append(make(6, "users.1"))
    assert store.subject_counts() == {
        ("kafka", "orders", 0): 3,
        ("kafka", "orders", 1): 2,
        ("nats", "users.1", None): 2,
    }
    counts = store.subject_counts()
    counts.clear()  # a copy: the caller cannot corrupt the store
    assert len(store.subject_counts()) == 3


def test_rates_with_a_controlled_clock() -> None:
    clock = Clock()
    store = EventStore(1000, clock=clock)
    a, b = ("nats", "a", None), ("nats", "b", None)
    store.extend([make(i, "a") for i in range(10)])
    assert store.rates() == {a: 0.0}  # first sample: nothing to compare with yet
    assert store.total_rate() == 0.0
    for second in range(1, 11):  # 20/s on a for ten seconds, 5/s on b from second 6
        clock.now += 1
        store.extend([make(i, "a") for i in range(20)])
        if second > 5:
            store.extend([make(i, "b") for i in range(5)])
        rates = store.rates()
        assert rates[a] == 20.0
        if second > 5:
            assert rates[b] == pytest.approx(5 * (second - 5) / min(second, 5))
        assert store.total_rate() == pytest.approx(sum(rates.values()))
    # Traffic stops: the rate decays to zero over the five-second window.
    expected = {11: 16.0, 12: 12.0, 13: 8.0, 14: 4.0, 15: 0.0, 16: 0.0}
    for second, rate in expected.items():
        clock.now = 1000.0 + second
        assert store.rates()[a] == rate
        assert store.rates(now=clock.now)[a] == rate
    assert store.total_rate() == 0.0


def test_rates_sample_at_most_once_a_second() -> None:
    clock = Clock()
    store = EventStore(100, clock=clock)
    for _ in range(50):
        store.append(make(0))
        store.rates()
        clock.now += 0.1
    # 5 seconds of calls at 10 Hz: 5 samples, not 50 (and never more than the history).
    assert store.footprint().samples == 5
    for _ in range(100):
        clock.now += 1
        store.rates()
    assert store.footprint().samples == 6
    store.clear()
    assert store.footprint().samples == 0
    assert store.rates() == {}


def test_memory_stays_flat_once_full() -> None:
    capacity = 2000
    store = EventStore(capacity)
    list_size = store.footprint().slots_bytes
    tracemalloc.start()
    try:
        store.extend(
            Event("nats", "orders", bytes(100) + str(i).encode(), 0.0) for i in range(capacity)
        )
        full = tracemalloc.get_traced_memory()[0]
        for i in range(10 * capacity):
            store.append(Event("nats", "orders", bytes(100) + str(i).encode(), 0.0))
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(store) == capacity
    assert store.footprint().slots == capacity
    assert store.footprint().slots_bytes == list_size
    # 20 000 events of ~150 B went through; what stays is the newest 2 000 replacing the
    # old ones, so growth is a few kB of allocator noise, not ~3 MB.
    assert after - full < 64 * 1024
    assert store.evicted == 10 * capacity


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["wait", "add", "changes", "rates", "total_rate"]),
            st.sampled_from([0.3, 1.0, 2.5, 6.0]),  # seconds to wait
            st.integers(0, 3),  # which subject to add to
            st.integers(1, 4),  # how many events
        ),
        max_size=40,
    )
)
def test_changes_add_up_to_the_counts_and_the_rate_window(
    ops: list[tuple[str, float, int, int]],
) -> None:
    """What ``changes()`` reports, applied in turn, is every key's count and its events in
    the rate window: those appended after the sample rates are measured from (the newest
    at least RATE_WINDOW old, else the first), which a sample-taking call takes when the
    last is a second old."""
    clock = Clock()
    store = EventStore(50, clock=clock)
    sample_times: list[float] = []
    events: list[tuple[str, int]] = []  # (subject, samples taken before it was appended)
    counts: dict[SubjectKey, int] = {}
    window: dict[SubjectKey, int] = {}

    def sample() -> int:
        """Take a sample as the store does; the index of the rate window's base."""
        if not sample_times or clock.now - sample_times[-1] >= 1.0:
            sample_times.append(clock.now)
        old = [i for i, t in enumerate(sample_times) if clock.now - t >= 5.0]
        return old[-1] if old else 0

    for op, seconds, which, n in ops:
        if op == "wait":
            clock.now += seconds
        elif op == "add":
            store.extend([make(0, f"s{which}")] * n)
            events += [(f"s{which}", len(sample_times))] * n
        elif op == "total_rate":
            store.total_rate()  # takes no per-subject sample
        else:
            base = sample()
            if op == "rates":
                store.rates()
                continue
            changes = store.changes()
            counts.update(changes.counts)
            window.update(changes.window)
            expected: dict[SubjectKey, int] = {}
            for subject, epoch in events:
                if epoch > base:
                    key = ("nats", subject, None)
                    expected[key] = expected.get(key, 0) + 1
            assert {k: n for k, n in window.items() if n} == expected
            assert changes.elapsed == clock.now - sample_times[base]
            assert counts == store.subject_counts()
