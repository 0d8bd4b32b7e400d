"""Subjects that carry ids (``orders.<uuid>``) must not grow what evmon keeps per subject,
nor the work the subject tree does while nothing arrives. Checked by sizes and by how
many keys and nodes an update looks at, never by timing."""

from __future__ import annotations

import itertools

from evmon.model import Event
from evmon.store import FOLD_LIMIT, EventStore
from evmon.tui.app import EvmonApp


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def nats(subject: str) -> Event:
    return Event("nats", subject, b"{}", 0.0)


def test_counts_past_the_limit_fold_into_the_parent_subject() -> None:
    store = EventStore(1000, max_subjects=100)
    store.extend([nats(f"orders.{i}") for i in range(100)])
    store.extend([nats(f"orders.{i}") for i in range(100, 30_000)])
    store.extend([nats("orders.7")])  # a known key still counts on its own
    counts = store.subject_counts()
    assert len(counts) == 101
    assert counts[("nats", "orders.7", None)] == 2
    assert counts[("nats", "orders", None)] == 29_900
    assert sum(counts.values()) == store.total == 30_001


def test_fold_uses_the_nearest_counted_parent_then_the_source() -> None:
    store = EventStore(1000, max_subjects=3)
    store.extend([nats("a.b.1"), nats("a.b.2"), nats("x")])
    store.extend([nats("a.b.c.9")])  # a.b.c, a.b, a: none counted -> the first token
    store.extend([nats("a.b.c.10"), nats("y"), nats("z.1")])
    counts = store.subject_counts()
    assert counts == {
        ("nats", "a.b.1", None): 1,
        ("nats", "a.b.2", None): 1,
        ("nats", "x", None): 1,
        ("nats", "a", None): 2,  # a.b.c.9 and a.b.c.10
        ("nats", "", None): 1,  # y: no parent at all, counted under the source
        ("nats", "z", None): 1,
    }


def test_first_token_folds_are_bounded_too() -> None:
    store = EventStore(100, max_subjects=10)
    store.extend([nats(f"k{i}.x") for i in range(10)])
    store.extend([nats(f"id{i}.x") for i in range(3 * FOLD_LIMIT)])  # every parent is new
    counts = store.subject_counts()
    assert len(counts) == 10 + FOLD_LIMIT + 1
    assert counts[("nats", "", None)] == 2 * FOLD_LIMIT
    assert sum(counts.values()) == store.total


def test_a_store_nobody_reads_stays_bounded() -> None:
    store = EventStore(100, max_subjects=1000)
    for i in range(120_000):
        store.append(nats(f"s.{i}"))
    assert store.footprint().pending_keys < 2_048
    assert store.footprint().counted_keys <= 1000 + 1
    assert sum(store.subject_counts().values()) == 120_000


def test_rate_samples_hold_only_what_changed() -> None:
    clock = Clock()
    store = EventStore(1000, clock=clock, max_subjects=100_000)
    store.extend([nats(f"old.{i}") for i in range(50_000)])
    store.rates()
    for _ in range(10):  # then one subject is busy for ten seconds
        clock.now += 1
        store.extend([nats("busy")] * 20)
        assert store.rates()[("nats", "busy", None)] == 20.0
    footprint = store.footprint()
    assert footprint.sample_keys == footprint.samples
    assert footprint.window_keys == 1
    busy = ("nats", "busy", None)
    old = [("nats", f"old.{i}", None) for i in range(50_000)]
    changes = store.changes()  # the first call reports every key counted so far...
    assert changes.counts == {busy: 200} | dict.fromkeys(old, 1)
    assert changes.window == {busy: 100} | dict.fromkeys(old, 0)  # (old: out of the window)
    assert changes.elapsed == 5.0  # busy: 100 / 5.0 = 20/s
    # ...then only what moved
    clock.now += 1
    store.extend([nats("busy")] * 20)
    changes = store.changes()
    assert (changes.counts, changes.window) == ({busy: 220}, {busy: 100})
    clock.now += 6  # quiet for longer than the rate window: the window empties, once
    changes = store.changes()
    assert (changes.counts, changes.window) == ({}, {busy: 0})
    changes = store.changes()
    assert (changes.counts, changes.window) == ({}, {})
    assert store.footprint().window_keys == 0


async def test_an_idle_tree_looks_at_nothing() -> None:
    clock = Clock()
    store = EventStore(10_000, clock=clock)
    app = EvmonApp(store, blink=False)
    async with app.run_test(size=(120, 36)):
        tree = app.subject_tree
        app.feed([nats(f"orders.{i}") for i in range(100_000)])
        assert tree.node_count <= tree.max_nodes
        assert tree.key_count <= 10_000 + 2  # the store's bound, not 100,000
        assert len(store.subject_counts()) <= 10_000 + 2
        root = tree.node_for("nats")
        orders = tree.node_for("nats", "orders")
        assert root is not None and orders is not None
        assert root.data is not None and orders.data is not None
        assert root.data.count == orders.data.count == 100_000

        def tick() -> int:  # one second later, the tree's refresh (TREE_EVERY ticks)
            clock.now += 1
            return tree.update_counts(store.changes())

        touched = [tick() for _ in range(10)]  # quiet for longer than the rate window
        assert touched[0] > 0  # the rates drop to 0/s...
        assert touched[-4:] == [0, 0, 0, 0]  # ...then an update looks at nothing at all
        assert orders.data.shown == (100_000, "0/s")

        app.feed([nats("orders.1")] * 5)  # one busy subject: only its chain is looked at
        assert tick() == 3
        assert orders.data.shown[0] == 100_005
        touched = [tick() for _ in range(8)]
        assert touched[:4] == [3, 3, 3, 3] and touched[-2:] == [0, 0]
        assert orders.data.shown == (100_005, "0/s")
        await app.close_sources()


async def test_the_ticks_apply_new_subjects_in_bounded_slices() -> None:
    store = EventStore(10_000)
    app = EvmonApp(store, blink=False)
    async with app.run_test(size=(120, 36)):
        tree = app.subject_tree
        store.extend([nats(f"orders.{i}") for i in range(5_000)])
        tree.take(store.changes())  # what a tick's fetch does, then one slice per tick
        nodes, slices = [tree.node_count], 0
        while (looked := tree.apply(1_000)) is None:
            nodes.append(tree.node_count)
            slices += 1
            assert slices < 100
        assert max(b - a for a, b in itertools.pairwise(nodes)) <= (
            tree.NODES_PER_SLICE + 2  # a key's walk may make its parents too
        )
        assert tree.node_count == tree.max_nodes and looked == tree.max_nodes
        root, orders = tree.node_for("nats"), tree.node_for("nats", "orders")
        assert root is not None and orders is not None
        assert root.data is not None and orders.data is not None
        assert root.data.shown[0] == orders.data.shown[0] == 5_000  # exact once applied
        store.extend([nats("orders.7")] * 3)
        tree.take(store.changes())
        assert tree.apply(1_000) is not None  # one known subject: applied in one slice
        assert orders.data.shown[0] == 5_003
        await app.close_sources()
