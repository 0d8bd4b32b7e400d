"""The one-line-JSON fast path of encode_record writes exactly what the general path does."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evmon.codec import record as codec
from evmon.model import Event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    value=st.dictionaries(st.text(), json_values, max_size=5) | st.lists(json_values, max_size=5),
    key=st.none() | st.binary(max_size=6),
    partition=st.none() | st.integers(0, 5),
    offset=st.none() | st.integers(0, 10**9),
    indent=st.booleans(),
)
def test_fast_path_is_byte_identical(
    value: object,
    key: bytes | None,
    partition: int | None,
    offset: int | None,
    indent: bool,
) -> None:
    payload = orjson.dumps(value)
    if indent:  # tabs between tokens are valid one-line JSON too
        payload = payload.replace(b",", b",\t")
    ev = Event("kafka", "orders", payload, 1_700_000_000.123, (), key, None, partition, offset)
    fast = codec.encode_record(ev)
    saved = codec._JSON_OPEN
    codec._JSON_OPEN = frozenset()  # force the general path
    try:
        slow = codec.encode_record(ev)
    finally:
        codec._JSON_OPEN = saved
    assert fast == slow
    assert codec.decode_record(fast) == ev


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(
        st.none()
        | st.binary(max_size=40)
        | json_values.map(orjson.dumps)
        | json_values.map(lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2))
        | st.sampled_from([b"{", b"[1,", b'{"a":1}x', b"{}", b"[]", b'{"a":"\xff"}']),
        max_size=8,
    ),
    key=st.none() | st.binary(max_size=6),
    headers=st.sampled_from([(), (("a", b"1"), ("a", b"\xff"))]),
    source=st.sampled_from(["nats", "kafka"]),
    stream=st.none() | st.just("ORDERS"),
    offset=st.none() | st.integers(0, 10**12),
    ts=st.floats(-100_000, 4_000_000_000, allow_nan=False) | st.sampled_from([-1.0, -0.001, 0.0]),
)
def test_batch_encoder_is_byte_identical(
    payloads: list[bytes | None],
    key: bytes | None,
    headers: tuple[tuple[str, bytes], ...],
    source: str,
    stream: str | None,
    offset: int | None,
    ts: float,
) -> None:
    events = [
        Event(source, f"orders.{i}", p, ts + i / 7, headers, key, stream, i % 3, offset)  # type: ignore[arg-type]
        for i, p in enumerate(payloads)
    ]
    assert codec.encode_records(events) == [codec.reference_record(ev) for ev in events]


def test_batch_encoder_raises_like_encode_record() -> None:
    good = Event("nats", "a", b'{"x":1}', 1.0)
    bad = Event("nats", "a", b'{"x":1}', float("nan"))
    with pytest.raises(codec.RecordError):
        codec.encode_record(bad)
    with pytest.raises(codec.RecordError):
        codec.encode_records([good, bad])


@pytest.mark.parametrize(
    ("ts", "stamp"),
    [
        (-0.001, "1969-12-31T23:59:59.999Z"),
        (-1.0, "1969-12-31T23:59:59.000Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
    ],
)
@pytest.mark.parametrize("payload", [b'{"id":1}', b"not json"])
def test_the_second_before_the_epoch_has_its_date(ts: float, stamp: str, payload: bytes) -> None:
    """The fast path once wrote ".999Z" / ".000Z" with no date for the second before the
    epoch (its "no second yet" marker was -1), and replay rejected the line."""
    ev = Event("kafka", "orders", payload, ts, (), b"k", None, 0, 7)
    for line in (codec.encode_records([ev])[0], codec.reference_record(ev)):
        assert orjson.loads(line)["timestamp"] == stamp
        assert codec.decode_record(line).timestamp == ts
    # as the first event of a batch and after another second alike
    later = Event("kafka", "orders", payload, 1_700_000_000.5, (), b"k", None, 0, 8)
    assert codec.encode_records([ev, later, ev]) == [
        codec.reference_record(e) for e in (ev, later, ev)
    ]
