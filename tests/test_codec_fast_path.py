"""The one-line-JSON fast path of encode_record writes exactly what the general path does."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from evmon import codec
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
