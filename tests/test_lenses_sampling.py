"""The dashboard's lens at high rates: duplicates judged on every event, drift on a spread
sample of a large poll and on the rest when first asked about, with verdicts that never
change once made; and the cheap shape path (could_be_object, shared shape tuples)."""

from __future__ import annotations

from evmon.event_index import EventIndex
from evmon.filter import parse_filter
from evmon.lenses import Lens, shape_of
from evmon.lenses import drift as drift_mod
from evmon.lenses.drift import could_be_object
from evmon.lenses.lens import GENERATION
from evmon.model import Event
from evmon.store import EventStore

GOOD = b'{"id": 1, "email": "a@b"}'
RENAMED = b'{"id": 2, "mail": "a@b"}'


def nats(payload: bytes, msg_id: str | None = None, subject: str = "users.created") -> Event:
    headers = (("Nats-Msg-Id", msg_id.encode()),) if msg_id is not None else ()
    return Event("nats", subject, payload, 0.0, headers=headers)


def flood(n: int, drifted: set[int]) -> list[Event]:
    """``n`` events with ids i % 10 (so all but the first 10 are duplicates), the ones in
    ``drifted`` renamed."""
    return [nats(RENAMED if i in drifted else GOOD, msg_id=str(i % 10)) for i in range(n)]


def test_a_large_poll_judges_every_duplicate_and_a_spread_sample_for_drift() -> None:
    store = EventStore(1000)
    lens = Lens(drift_per_poll=10)
    events = flood(100, drifted={50, 51})
    store.extend(events)
    assert lens.catch_up(store) == 100
    assert sum(lens.dups.values()) == 90  # duplicates: every event, exactly
    kinds = [getattr(lens.verdict(e), "dup", None) for e in events[:12]]
    assert kinds == [None] * 10 + ["dup", "dup"]
    assert lens.deferred == 90 and lens.pending <= 90  # every 10th judged on arrival
    assert lens.counts("nats", "users.created") == (90, 1)  # 50 was in the sample, 51 not


def test_an_unjudged_event_is_judged_when_asked_and_then_stays_put() -> None:
    store = EventStore(1000)
    lens = Lens(drift_per_poll=10)
    events = flood(100, drifted={51})
    store.extend(events)
    lens.catch_up(store)
    assert lens.counts("nats", "users.created")[1] == 0
    late = events[51]
    first = lens.verdict(late)  # asked (painted, the detail): judged now
    assert first is not None and first.drift == "missing: email; added: mail"
    assert first.dup == "dup"  # its duplicate part was judged on arrival
    assert lens.badge(late) == "dup "
    assert lens.counts("nats", "users.created") == (90, 1)
    for _ in range(3):  # asking again judges nothing again
        assert lens.verdict(late) is first
    assert lens.counts("nats", "users.created") == (90, 1)
    flt = parse_filter("drift", lens=lens)
    for _ in range(2):  # the drift term reads the same verdicts, however often it runs
        assert [e for e in store if flt(e)] == [late]


def test_a_clean_verdict_made_on_demand_survives_a_change_of_habit() -> None:
    store = EventStore(1000)
    lens = Lens(drift_per_poll=5)
    store.extend(nats(GOOD) for _ in range(50))
    lens.catch_up(store)
    asked = store.get(7)
    assert asked is not None and lens.verdict(asked) is None  # judged clean now
    lens.drift_per_poll = None  # judge all of the next poll
    store.extend(nats(RENAMED) for _ in range(200))  # the renamed shape becomes the habit
    lens.catch_up(store)
    assert lens.habits.habit(("nats", "users.created")) == shape_of(RENAMED)
    assert lens.verdict(asked) is None  # still clean: a verdict is made once
    other = store.get(8)  # never asked: judged now, against today's habit
    assert other is not None and lens.verdict(other) is not None


def test_a_drift_filter_finds_every_drifted_event_of_a_large_poll() -> None:
    store = EventStore(10_000)
    lens = Lens(drift_per_poll=100)
    index = EventIndex(store, parse_filter("drift", lens=lens), lens=lens)
    drifted = set(range(500, 5000, 97))
    events = flood(5000, drifted)
    store.extend(events)
    index.poll()
    assert {store.get(s).payload for s in index.seqs()} == {RENAMED}  # type: ignore[union-attr]
    assert list(index.seqs()) == sorted(drifted)
    assert lens.pending == 0  # the term asked about every event
    index.set_filter_now(parse_filter("drift", lens=lens))
    assert list(index.seqs()) == sorted(drifted)


def test_unjudged_events_are_forgotten_with_the_store_and_stay_bounded() -> None:
    store = EventStore(2000)
    lens = Lens(drift_per_poll=10)
    for _ in range(30):
        store.extend(nats(GOOD) for _ in range(1000))
        lens.catch_up(store)
        assert lens.pending <= store.capacity + GENERATION
    gone = nats(GOOD)  # an event the store never held: nothing to judge
    before = lens.habits.shapes_counted(("nats", "users.created"))
    assert lens.verdict(gone) is None
    assert lens.habits.shapes_counted(("nats", "users.created")) == before


def test_small_polls_judge_everything_on_arrival() -> None:
    store = EventStore(1000)
    lens = Lens(drift_per_poll=1000)
    for i in range(0, 300, 30):
        store.extend(flood(30, drifted={5}) if i == 150 else flood(30, drifted=set()))
        lens.catch_up(store)
    assert lens.deferred == 0 and lens.pending == 0
    assert lens.counts("nats", "users.created")[1] == 1


def test_only_payloads_that_can_be_objects_are_parsed() -> None:
    assert could_be_object(b'{"a": 1}') and could_be_object(b' \n {"a": 1}')
    for payload in (b"", None, b"[1]", b"plain", b" [1]", b"x" * 10):
        assert not could_be_object(payload)
    assert not could_be_object(b"{" + b" " * drift_mod.MAX_BYTES)


def test_equal_shapes_are_one_tuple_and_the_cache_is_bounded() -> None:
    drift_mod._CACHE.clear()
    drift_mod._CANON.clear()
    a = shape_of(b'{"b": 1, "a": "x"}')
    b = shape_of(b'{"a": "y", "b": 2}')  # another order: the same shape, the same tuple
    assert a == (("a", "string"), ("b", "number")) and a is b
    wide = b"{" + b",".join(b'"f%d": %d' % (i, i) for i in range(40)) + b"}"
    assert shape_of(wide) == tuple(sorted((f"f{i}", "number") for i in range(40)))
    for i in range(drift_mod.CACHE_SIZE + 10):
        shape_of(b'{"k%d": 1}' % i)
    assert len(drift_mod._CACHE) <= drift_mod.CACHE_SIZE
    assert len(drift_mod._CANON) <= drift_mod.CACHE_SIZE


def test_a_round_taken_in_slices_samples_drift_like_one_call() -> None:
    """The dashboard's tick judges its backlog in slices between loop turns: given the
    round's size, the slices sample every 10th of the round as one call would, where four
    calls on their own would each judge every 3rd of theirs."""
    events = flood(100, drifted=set())
    sliced, alone = Lens(drift_per_poll=10), Lens(drift_per_poll=10)
    store = EventStore(1000)
    store.extend(events)
    for _ in range(4):
        assert sliced.catch_up(store, 25, round_size=100) == 25
        assert alone.catch_up(store, 25) == 25
    assert sliced.deferred == 100 - 4 * 3  # range(0, 25, 10) in each slice
    assert alone.deferred == 100 - 4 * 9  # range(0, 25, 3)
    assert sum(sliced.dups.values()) == sum(alone.dups.values()) == 90  # every event
