"""The demo's event content: reproducible from a seed, plausible, and shaped so that exactly
the designated poison messages stop the demo's consumers. No broker needed."""

from __future__ import annotations

import re
from collections import Counter

import orjson
import pytest

from evmon.codec.display import preview
from evmon.demo.consumers import mailable
from evmon.demo.generator import (
    MAX_RATE,
    MIN_RATE,
    POISON_MSG_ID,
    DemoEvent,
    EventFactory,
    dlq_copy,
    kafka_poison_payment,
    rate_at,
)
from evmon.demo.kafka import is_poison
from evmon.demo.traps import DRIFT_FROM, DRIFT_TO, RETRY_AFTER
from evmon.lenses import Lens
from evmon.model import Event

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def fixed_clock() -> float:
    return 1_700_000_000.0


def events(seed: int, n: int) -> list[DemoEvent]:
    factory = EventFactory(seed, clock=fixed_clock)
    return factory.opening() + [factory.next() for _ in range(n)]


def test_same_seed_same_events_different_seed_different_events() -> None:
    assert events(1, 500) == events(1, 500)
    assert events(1, 500) != events(2, 500)


def test_the_mix_covers_the_shop_with_headers_binary_and_malformed_payloads() -> None:
    evs = events(7, 3000)
    subjects = Counter(e.subject for e in evs)
    for subject in (
        "users.created",
        "users.updated",
        "orders.eu.created",
        "orders.us.created",
        "orders.us.shipped",
        "orders.eu.shipped",
        "payments.card.authorized",
        "payments.card.captured",
        "payments.card.failed",
        "payments.paypal.authorized",
    ):
        assert subjects[subject] > 0, subject
    kinds = Counter(e.kind for e in evs)
    assert kinds["binary"] > 0 and kinds["malformed"] > 0
    assert kinds["json"] > 0.9 * len(evs)
    for e in evs:
        assert TRACEPARENT.match(e.header("traceparent") or ""), e
        assert e.header("content-type") in ("application/json", "application/x-protobuf")
    ids = [e.header("Nats-Msg-Id") for e in evs if e.kind != "retry"]
    assert len(set(ids)) == len(ids), "only the gateway's re-publishes repeat a Nats-Msg-Id"
    for e in evs:
        if e.kind == "binary":
            assert e.header("content-type") == "application/x-protobuf"
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(e.payload)
        elif e.kind == "malformed":
            assert e.header("content-type") == "application/json"
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(e.payload)
        elif e.kind in ("json", "retry", "drift"):
            doc = orjson.loads(e.payload)
            assert doc["event_id"] == e.header("Nats-Msg-Id")


def test_only_the_designated_poison_messages_stop_the_consumers() -> None:
    evs = events(3, 3000)
    poison = [e for e in evs if e.kind == "poison"]
    assert len(poison) == 1
    (p,) = poison
    assert p.subject == "users.updated" and p.header("Nats-Msg-Id") == POISON_MSG_ID
    assert orjson.loads(p.payload)["email"] is None
    assert not mailable(p.payload)
    # users-mailer can mail every other users event, so after a skip it is healthy again
    assert all(mailable(e.payload) for e in evs if e.subject.startswith("users.") and e is not p)
    # fraud-check scores every generated payment (malformed ones are skipped, not fatal)
    assert not any(is_poison(e.payload) for e in evs if e.subject.startswith("payments."))
    assert is_poison(kafka_poison_payment().payload)


def test_opening_parks_failed_payments_in_the_dlq() -> None:
    opening = EventFactory(5, clock=fixed_clock).opening()
    failed = [e for e in opening if e.to_dlq]
    assert len(failed) >= 4
    assert all(e.subject == "payments.card.failed" for e in failed)
    dead = dlq_copy(failed[0], "PAYMENTS", 42)
    assert dead.subject == "dlq.payments.card.failed"
    assert dead.payload == failed[0].payload
    assert dead.header("original-subject") == "payments.card.failed"
    assert dead.header("original-stream") == "PAYMENTS"
    assert dead.header("original-seq") == "42"
    assert (dead.header("dlq-reason") or "").startswith("retries exhausted: ")
    assert dead.header("traceparent") == failed[0].header("traceparent")
    assert dead.header("Nats-Msg-Id") != failed[0].header("Nats-Msg-Id")


def test_rate_varies_between_the_bounds() -> None:
    rates = [rate_at(t / 10) for t in range(0, 3000)]
    assert min(rates) >= MIN_RATE - 1e-9 and max(rates) <= MAX_RATE + 1e-9
    assert max(rates) - min(rates) > (MAX_RATE - MIN_RATE) / 2


def test_the_preview_says_what_happened_and_how_much_first() -> None:
    """The event list shows the payload's first characters: they name the event type and,
    for money, the amount and currency; the ids that look alike on every row come last."""
    evs = [e for e in events(4, 500) if e.kind in ("json", "poison", "retry", "drift")]
    for e in evs:
        keys = list(orjson.loads(e.payload))
        assert keys[0] == "type", e
        assert keys[-2:] == ["event_id", "at"], e
        if e.subject.startswith("payments."):
            assert keys[1:3] == ["amount", "currency"], e
        if e.subject.endswith(".created") and e.subject.startswith("orders."):
            assert keys[1:3] == ["total", "currency"], e
    poison = list(orjson.loads(kafka_poison_payment().payload))
    assert poison[:3] == ["type", "amount", "currency"]
    # a 64-column preview names the type and, for money, the amount and the currency
    for e in evs:
        doc, line = orjson.loads(e.payload), preview(e.payload, 64)
        assert line.startswith(f'{{"type":"{doc["type"]}",'), line
        if "amount" in doc or "total" in doc:
            assert f'"currency":"{doc["currency"]}"' in line, line


def _as_read(evs: list[DemoEvent]) -> list[Event]:
    """The events as evmon reads them from the streams (all of them stored: PAYMENTS's
    duplicate window is shorter than the gateway's backoff)."""
    return [
        Event("nats", e.subject, e.payload, 0.0, tuple((k, v.encode()) for k, v in e.headers))
        for e in evs
    ]


def test_the_duplicate_and_the_drift_traps_are_what_the_lenses_find() -> None:
    """The gateway re-publishes a captured payment (same subject, payload and Nats-Msg-Id)
    RETRY_AFTER events later; warehouse-v2 renames tracking in every DRIFT_EVERY-th shipped
    order. evmon's lenses flag exactly those events, and nothing else of the mix."""
    evs = events(11, 1500)
    retries = [i for i, e in enumerate(evs) if e.kind == "retry"]
    drifted = [i for i, e in enumerate(evs) if e.kind == "drift"]
    assert len(retries) >= 3 and len(drifted) >= 10
    opening = len(EventFactory(11, clock=fixed_clock).opening())
    assert retries[0] < opening + 2 * RETRY_AFTER  # within seconds of the start
    for i in retries:
        copy = evs[i]
        originals = [j for j in range(i) if evs[j].payload == copy.payload]
        assert len(originals) == 1 and i - originals[0] >= RETRY_AFTER
        first = evs[originals[0]]
        assert (first.subject, first.headers, first.key) == (copy.subject, copy.headers, copy.key)
        assert copy.subject == "payments.card.captured" and not copy.to_dlq
    for i in drifted:
        doc = orjson.loads(evs[i].payload)
        assert DRIFT_TO in doc and DRIFT_FROM not in doc, doc
        assert evs[i].subject.endswith(".shipped") and evs[i].header("producer") == "warehouse-v2"
    shipped = [e for e in evs if e.subject.endswith(".shipped") and e.kind == "json"]
    assert all(DRIFT_FROM in orjson.loads(e.payload) for e in shipped)

    lens = Lens()
    read = _as_read(evs)
    verdicts = [lens.observe(ev) for ev in read]
    assert [i for i, v in enumerate(verdicts) if v is not None and v.dup] == retries
    drifts = [i for i, v in enumerate(verdicts) if v is not None and v.drift]
    # the lens learns a subject's habit from its first events: drifted ones before that
    # are not judged (and a habit needs 3 of its shape first)
    assert set(drifts) <= set(drifted) and len(drifts) >= len(drifted) - 4
    said = {v.drift for v in verdicts if v is not None and v.drift}
    assert said == {f"missing: {DRIFT_FROM}; added: {DRIFT_TO}"}
