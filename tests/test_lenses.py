"""The duplicate and drift lenses, broker-free: identity specs, bounds, replays, drift
descriptions, and the filter terms that read the stored verdicts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from evmon.filter import FilterError, parse_filter
from evmon.lenses import (
    PROVENANCE_HEADER,
    DedupeKeyError,
    Lens,
    SeenIdentities,
    ShapeHabits,
    describe,
    parse_dedupe_key,
    shape_of,
)
from evmon.model import Event, Headers
from evmon.store import EventStore


def nats(subject: str = "orders.created", payload: bytes = b"{}", msg_id: str | None = None,
         headers: Headers = ()) -> Event:  # fmt: skip
    if msg_id is not None:
        headers = (("Nats-Msg-Id", msg_id.encode()), *headers)
    return Event("nats", subject, payload, 0.0, headers=headers)


def kafka(topic: str = "payments", key: bytes | None = b"k1", payload: bytes = b"{}") -> Event:
    return Event("kafka", topic, payload, 0.0, key=key, partition=0, offset=0)


# --------------------------------------------------------------------------- identity specs


def test_default_identity_is_the_msg_id_on_nats_and_the_key_on_kafka() -> None:
    ident = parse_dedupe_key(None)
    assert ident(nats(msg_id="a1")) == b"a1"
    assert ident(nats()) is None
    assert ident(kafka(key=b"k9")) == b"k9"
    assert ident(kafka(key=None)) is None
    # a Kafka record's Nats-Msg-Id header is not its identity by default
    assert ident(Event("kafka", "t", b"", 0.0, headers=(("Nats-Msg-Id", b"x"),))) is None


def test_header_json_and_key_specs() -> None:
    by_header = parse_dedupe_key("header:Idempotency-Key")
    ev = nats(headers=(("Idempotency-Key", b"first"), ("Idempotency-Key", b"last")))
    assert by_header(ev) == b"last"  # the last value, as Event.header reads it
    assert by_header(kafka()) is None
    by_json = parse_dedupe_key("json:order.id")
    assert by_json(nats(payload=b'{"order": {"id": 7}}')) == b"7"
    assert by_json(nats(payload=b'{"order": {"id": "7"}}')) == b'"7"'  # 7 and "7" differ
    assert by_json(nats(payload=b'{"order": {}}')) is None
    assert by_json(nats(payload=b"not json")) is None
    by_index = parse_dedupe_key("json:items.0.sku")
    assert by_index(nats(payload=b'{"items": [{"sku": "A"}]}')) == b'"A"'
    assert by_index(nats(payload=b'{"items": []}')) is None
    objects = parse_dedupe_key("json:who")
    assert objects(nats(payload=b'{"who": {"a": 1, "b": 2}}')) == objects(
        nats(payload=b'{"who": {"b": 2, "a": 1}}')
    )
    assert parse_dedupe_key("key")(kafka(key=b"k")) == b"k"
    assert parse_dedupe_key("key")(nats(msg_id="a")) is None


@pytest.mark.parametrize(
    "spec", ["", "header", "header:", "json:", "json:a..b", "keys", "Key", "msgid", "value:x"]
)
def test_a_bad_spec_is_one_line_of_usage(spec: str) -> None:
    with pytest.raises(DedupeKeyError) as err:
        parse_dedupe_key(spec)
    text = str(err.value)
    assert "\n" not in text
    assert "header:NAME" in text and "json:path.to.field" in text and "key" in text


def test_long_identities_are_kept_as_a_digest() -> None:
    ident = parse_dedupe_key("header:X")
    long_a = nats(headers=(("X", b"a" * 1000),))
    long_b = nats(headers=(("X", b"a" * 999 + b"b"),))
    assert ident(long_a) is not None and len(ident(long_a) or b"") == 16
    assert ident(long_a) != ident(long_b)
    lens = Lens(ident)
    assert lens.observe(long_a) is None
    verdict = lens.observe(nats(headers=(("X", b"a" * 1000),)))
    assert verdict is not None and verdict.dup == "dup"
    assert lens.observe(long_b) is None


# --------------------------------------------------------------------------- duplicates


def test_second_copies_are_duplicates_per_subject() -> None:
    lens = Lens()
    first, again, elsewhere = nats(msg_id="a"), nats(msg_id="a"), nats("orders.paid", msg_id="a")
    assert lens.observe(first) is None
    verdict = lens.observe(again)
    assert verdict is not None and verdict.dup == "dup" and verdict.drift is None
    assert lens.observe(elsewhere) is None  # same id, another subject: not a duplicate
    third = nats(msg_id="a")
    assert lens.verdict(third) is None  # not judged yet
    assert lens.observe(third) is not None
    assert lens.counts("nats", "orders.created") == (2, 0)
    assert lens.summary() == "nats orders.created 2"
    # without an identity nothing is a duplicate
    assert lens.observe(nats()) is None and lens.observe(nats()) is None


def test_a_kafka_key_twice_is_a_duplicate_on_its_topic() -> None:
    lens = Lens()
    assert lens.observe(kafka(key=b"k1")) is None
    assert lens.observe(kafka("other", key=b"k1")) is None
    verdict = lens.observe(kafka(key=b"k1"))
    assert verdict is not None and verdict.dup == "dup"
    assert lens.summary() == "kafka payments 1"


def test_replays_by_evmon_are_not_duplicates() -> None:
    lens = Lens()
    original = nats(msg_id="a")
    replayed = nats(msg_id="a", headers=((PROVENANCE_HEADER, b"nats:orders.created:ORDERS:3"),))
    assert lens.observe(original) is None
    verdict = lens.observe(replayed)
    assert verdict is not None and verdict.dup == "replay"
    assert lens.dups == {} and lens.replays == {("nats", "orders.created"): 1}
    flt = parse_filter("dup", lens=lens)
    assert not flt(replayed)
    # a replay's identity is not remembered: the next real copy is the first duplicate
    copy = nats(msg_id="a")
    lens.observe(copy)
    assert flt(copy)


def test_seen_identities_are_bounded_per_subject() -> None:
    seen = SeenIdentities(per_subject=3, total=100)
    key = ("nats", "s")
    for ident in (b"1", b"2", b"3", b"4"):
        assert not seen.check(key, ident)
    assert len(seen) == 3 and seen.forgotten == 1
    assert not seen.check(key, b"1")  # forgotten (the least recently seen), so new again
    assert seen.check(key, b"4")
    assert len(seen) == 3


def test_a_duplicate_refreshes_its_identity() -> None:
    seen = SeenIdentities(per_subject=2, total=100)
    key = ("nats", "s")
    seen.check(key, b"a")
    seen.check(key, b"b")
    assert seen.check(key, b"a")  # a is now the most recent
    seen.check(key, b"c")  # pushes out b, not a
    assert seen.check(key, b"a")
    assert not seen.check(key, b"b")


def test_past_the_total_the_quietest_subject_forgets_first() -> None:
    seen = SeenIdentities(per_subject=10, total=4)
    quiet, busy = ("nats", "quiet"), ("nats", "busy")
    seen.check(quiet, b"q1")
    seen.check(quiet, b"q2")
    for ident in (b"b1", b"b2", b"b3"):
        seen.check(busy, ident)
    assert len(seen) == 4 and seen.forgotten == 1
    assert seen.check(busy, b"b1")  # the busy subject kept all of its own
    assert seen.check(quiet, b"q2")
    assert not seen.check(quiet, b"q1")  # q1 was the oldest of the quietest subject
    assert len(seen) <= 4


def test_the_whole_lens_stays_within_its_bounds() -> None:
    lens = Lens(seen=SeenIdentities(per_subject=50, total=200), keep=1000)
    for i in range(5000):
        lens.observe(nats(f"s.{i % 20}", msg_id=str(i)))
        lens.observe(nats(f"s.{i % 20}", msg_id=str(i)))  # every second copy is a dup
    assert len(lens.seen) <= 200
    assert lens.verdicts_kept <= 1000
    assert sum(lens.dups.values()) == 5000


def test_verdicts_of_events_judged_long_ago_are_dropped() -> None:
    lens = Lens(keep=10)
    a, b = nats(msg_id="a"), nats(msg_id="a")
    lens.observe(a)
    lens.observe(b)
    flt = parse_filter("dup", lens=lens)
    assert flt(b)
    for i in range(10):
        lens.observe(nats(msg_id=f"other-{i}"))
    assert lens.verdict(b) is None and not flt(b)


# --------------------------------------------------------------------------- drift


def test_shapes_are_top_level_names_and_json_types() -> None:
    assert shape_of(b' {"b": 1.5, "a": "x", "c": null, "d": [1], "e": {}, "f": true}') == (
        ("a", "string"),
        ("b", "number"),
        ("c", "null"),
        ("d", "array"),
        ("e", "object"),
        ("f", "boolean"),
    )
    for payload in (b"", b"[1, 2]", b"42", b'"text"', b"not json", b"{broken", None):
        assert shape_of(payload) is None


def test_drift_descriptions() -> None:
    habit = (("amount", "number"), ("email", "string"), ("id", "number"))
    renamed = (("amount", "number"), ("id", "number"), ("mail", "string"))
    assert describe(habit, renamed) == "missing: email; added: mail"
    retyped = (("amount", "string"), ("email", "string"), ("id", "number"))
    assert describe(habit, retyped) == "type: amount number→string"
    several = (("amount", "string"), ("extra", "null"), ("more", "array"))
    assert describe(habit, several) == (
        "missing: email, id; added: extra, more; type: amount number→string"
    )


def test_an_event_is_judged_against_the_habit_of_the_events_before_it() -> None:
    lens = Lens()
    good = b'{"id": 1, "email": "a@b"}'
    renamed = b'{"id": 2, "mail": "a@b"}'
    # the first events teach: a renamed event before the habit is MIN_HABIT strong is not
    # judged, and three clean events make the habit
    assert lens.observe(nats(payload=good)) is None
    assert lens.observe(nats(payload=renamed)) is None
    assert lens.observe(nats(payload=good)) is None
    assert lens.observe(nats(payload=good)) is None
    drifted = nats(payload=renamed)
    verdict = lens.observe(drifted)
    assert verdict is not None and verdict.drift == "missing: email; added: mail"
    assert verdict.dup is None
    assert lens.counts("nats", "orders.created") == (0, 1)
    # another subject learns its own habit
    assert lens.observe(nats("users.created", payload=renamed)) is None
    # not JSON objects: neither learned nor judged
    assert lens.observe(nats(payload=b"plain text")) is None
    assert lens.observe(nats(payload=b"[1]")) is None
    flt = parse_filter("drift", lens=lens)
    assert flt(drifted) and not flt(nats(payload=renamed))  # the second was never judged


def test_the_habit_follows_the_most_common_shape() -> None:
    habits = ShapeHabits(min_habit=1)
    key = ("kafka", "t")
    old, new = (("a", "number"),), (("b", "number"),)
    assert habits.judge(key, old) is None
    assert habits.judge(key, new) == "missing: a; added: b"
    assert habits.habit(key) == old  # a tie keeps the older habit
    assert habits.judge(key, new) == "missing: a; added: b"
    assert habits.habit(key) == new  # now the most common
    assert habits.judge(key, old) == "missing: b; added: a"


def test_shape_counts_are_bounded() -> None:
    habits = ShapeHabits(min_habit=1, max_shapes=3, max_subjects=2)
    key = ("nats", "s")
    habit = (("id", "number"),)
    for _ in range(5):
        habits.judge(key, habit)
    for i in range(100):
        assert habits.judge(key, ((f"f{i}", "number"),)) is not None
    assert habits.shapes_counted(key) <= 3
    assert habits.habit(key) == habit  # rare shapes never push out the habit
    habits.judge(("nats", "other"), habit)
    assert habits.judge(("nats", "third"), habit) is None
    assert habits.untracked == 1
    with pytest.raises(ValueError):
        ShapeHabits(max_shapes=1)


# --------------------------------------------------------------------------- filter terms


def test_lens_terms_need_a_lens_and_combine_with_other_terms() -> None:
    with pytest.raises(FilterError) as err:
        parse_filter("orders.> dup")
    assert "judged on live events" in str(err.value) and err.value.position == 9
    lens = Lens(dedupe=False, drift=False)
    flt = parse_filter("orders.> !drift dup", lens=lens)
    assert lens.dedupe and lens.drift  # asking for a term switches its part on
    a, b, c = nats(msg_id="x"), nats(msg_id="x"), nats("users.x", msg_id="x")
    d = nats("users.x", msg_id="x")
    lens.observe_many([a, b, c, d])
    assert [flt(e) for e in (a, b, c, d)] == [False, True, False, False]
    # a subject literally named dup is still reachable
    assert parse_filter("subject:dup")(nats("dup"))
    assert parse_filter("dupx", lens=lens)(nats("dupx"))  # only the whole word is the term


def test_refiltering_gives_the_same_answers() -> None:
    store = EventStore(100)
    lens = Lens()
    for i in range(30):
        store.append(nats(msg_id=str(i % 10), payload=b'{"n": 1}' if i != 25 else b'{"m": 1}'))
    assert lens.catch_up(store) == 30
    assert lens.catch_up(store) == 0  # each event is judged once
    for _ in range(2):  # the same verdicts however often the store is filtered
        assert len(parse_filter("dup", lens=lens).matches_many(store)) == 20
        drifted = parse_filter("drift", lens=lens).matches_many(store)
        assert [e.payload for e in drifted] == [b'{"m": 1}']


def test_the_provenance_header_is_the_one_republish_writes() -> None:
    code = (
        "from evmon.actions.republish import PROVENANCE_HEADER as P\n"
        "from evmon.lenses import PROVENANCE_HEADER as L\n"
        "assert P == L, (P, L)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "module", ["evmon.lenses", "evmon.lenses.lens", "evmon.regex_budget", "evmon.filter"]
)
def test_lens_modules_are_headless(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'nats', "
        "'aiokafka')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_event_index_judges_on_poll_and_refilters_stably() -> None:
    from evmon.event_index import EventIndex

    store = EventStore(1000)
    lens = Lens()
    index = EventIndex(store, parse_filter("dup", lens=lens), lens=lens)
    other = EventIndex(store, lens=lens)  # a second list over the same store and lens
    for i in range(6):
        store.append(nats(msg_id=str(i % 3)))
    assert index.poll().added == 3
    other.poll()
    assert lens.judged == 6  # once each, however many lists poll
    before = list(index.seqs())
    index.set_filter_now(parse_filter("!dup", lens=lens))
    assert list(index.seqs()) == [0, 1, 2]
    index.set_filter_now(parse_filter("dup", lens=lens))
    assert list(index.seqs()) == before == [3, 4, 5]


def test_badges_and_changed_counts_for_the_dashboard() -> None:
    lens = Lens()
    first, copy = nats(msg_id="a"), nats(msg_id="a")
    replayed = nats(msg_id="a", headers=((PROVENANCE_HEADER, b"x"),))
    lens.observe_many([first, copy, replayed])
    assert [lens.badge(e) for e in (first, copy, replayed)] == ["", "dup ", "replay "]
    assert lens.changed_counts() == {("nats", "orders.created"): (1, 0)}
    assert lens.changed_counts() == {}
    for payload in (b'{"a": 1}', b'{"a": 1}', b'{"a": 1}', b'{"b": 1}'):
        lens.observe(kafka("t", key=None, payload=payload))
    assert lens.changed_counts() == {("kafka", "t"): (0, 1)}


@pytest.mark.parametrize("command", ["tail", "connect"])
def test_a_bad_dedupe_key_is_a_usage_error_before_anything_connects(command: str) -> None:
    from tests.helpers import run_evmon

    res = run_evmon([command, "--nats", "nats://127.0.0.1:1", "--dedupe-key", "id"])
    err = res.stderr.decode()
    assert res.returncode == 2 and err.startswith("evmon: error: --dedupe-key takes"), err
    assert len(err.splitlines()) == 1
