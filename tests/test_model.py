"""``new_event`` is the ingest paths' constructor: it must give exactly what ``Event`` gives."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from evmon.model import Event, new_event


@pytest.mark.parametrize(
    "args",
    [
        ("nats", "orders.eu.created", b'{"id":1}', 1.5),
        (
            "nats",
            "orders.eu.created",
            b"",
            1.5,
            (("a", b"1"), ("a", b"2")),
            None,
            "ORDERS",
            None,
            7,
        ),
        ("kafka", "orders", None, 2.0, (), b"k", None, 2, 41),
    ],
)
def test_new_event_is_a_frozen_event_equal_to_event(args: tuple[object, ...]) -> None:
    made = new_event(*args)  # type: ignore[arg-type]
    plain = Event(*args)  # type: ignore[arg-type]
    assert type(made) is Event
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert pickle.loads(pickle.dumps(made)) == plain
    assert dataclasses.replace(made, subject="x").subject == "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.subject = "changed"  # type: ignore[misc]


def test_new_event_defaults_match_event() -> None:
    made = new_event("nats", "a", b"x", 0.0)
    assert made == Event("nats", "a", b"x", 0.0)
    assert made.headers == () and made.key is None and made.offset is None
