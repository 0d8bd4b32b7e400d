"""The Kafka lag round asks for many groups' committed offsets in one OffsetFetch (v8, per
coordinator) instead of one request per group (issue 14: 200 groups in one admin round),
with exactly the figures the one-request-per-group path gives, which a broker before
Kafka 3.0 still gets. Real Kafka; the client's requests are counted, not replaced."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evmon.config import KafkaSettings
from evmon.sources.kafka import group_lag
from evmon.sources.kafka.group_lag import KafkaLagClient
from tests.kafka_kit import commit_offsets, create_topic, delete_groups, produce_split


@pytest.fixture
async def groups(kafka_bootstrap: str) -> AsyncIterator[list[str]]:
    names: list[str] = []
    yield names
    await delete_groups(kafka_bootstrap, names)


def _count_requests(client: KafkaLagClient) -> Counter[str]:
    seen: Counter[str] = Counter()
    send = client.cluster.send

    async def counted(node: Any, request: Any, *args: Any, **kw: Any) -> Any:
        seen[type(request).__name__] += 1
        return await send(node, request, *args, **kw)

    client.cluster.send = counted
    return seen


def _figures(rows: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((r.group, r.topic, r.partition, r.committed, r.end, r.lag) for r in rows)


async def test_offsets_of_many_groups_in_one_request_match_one_per_group(
    kafka_bootstrap: str, unique: str, groups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, {0: 10, 1: 10, 2: 10})
    names = [f"{unique}-g{i}" for i in range(5)]
    groups.extend(names)
    for i, g in enumerate(names):
        # group 4 never committed on partition 2: NOCOMMIT, counted from the log start
        offsets = {0: i, 1: 2 * i} if i == 4 else {0: i, 1: 2 * i, 2: 10 - i}
        await commit_offsets(kafka_bootstrap, g, topic, offsets)
    monkeypatch.setattr(group_lag, "OFFSET_FETCH_GROUPS", 2)  # 5 groups: 3 requests

    settings = KafkaSettings(bootstrap=kafka_bootstrap)
    batched, single = KafkaLagClient(settings), KafkaLagClient(settings)
    single._batch_offset_fetch = False  # what a broker without OffsetFetch v8 gets
    try:
        await batched.start()
        await single.start()
        batched_sent, single_sent = _count_requests(batched), _count_requests(single)
        rows = await batched.snapshot(names)
        expected = await single.snapshot(names)
    finally:
        await batched.close()
        await single.close()
    assert _figures(rows) == _figures(expected)
    by = {(r.group, r.partition): r for r in rows}
    assert (by[(names[3], 2)].committed, by[(names[3], 2)].lag) == (7, 3)
    assert by[(names[4], 2)].committed is None and by[(names[4], 2)].status == "NOCOMMIT"
    assert batched_sent["OffsetFetchGroups"] == 3 and not batched_sent["OffsetFetchRequest"]
    assert single_sent["OffsetFetchRequest"] == 5 and not single_sent["OffsetFetchGroups"]


async def test_an_unknown_group_in_a_batch_is_that_groups_row_only(
    kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic = f"{unique}-t"
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, {0: 4, 1: 4, 2: 4})
    known = f"{unique}-known"
    groups.append(known)
    await commit_offsets(kafka_bootstrap, known, topic, {0: 1, 1: 2, 2: 3})
    client = KafkaLagClient(KafkaSettings(bootstrap=kafka_bootstrap))
    try:
        rows = await client.snapshot([known, f"{unique}-nobody"])
    finally:
        await client.close()
    mine = {r.partition: r.committed for r in rows if r.group == known}
    assert mine == {0: 1, 1: 2, 2: 3}
    assert [r.partition for r in rows if r.group == f"{unique}-nobody"] == [None]


def test_offset_fetch_v8_request_and_response_layout() -> None:
    """Broker-free: the request is v8 (flexible: compact arrays, null topics = every
    partition), a broker offering less makes ``prepare`` raise (the one-per-group path
    then), and the response positions ``_fetch_batch`` unpacks round-trip."""
    from io import BytesIO

    from evmon.sources.kafka.protocol import OffsetFetchGroups, OffsetFetchGroupsResponseV8

    req = OffsetFetchGroups(["g1", "g2"]).prepare({9: (0, 9)})
    assert req.API_VERSION == 8 and req.FLEXIBLE_VERSION
    assert req.encode() == b"\x03\x03g1\x00\x00\x03g2\x00\x00\x00\x00"
    with pytest.raises(NotImplementedError):
        OffsetFetchGroups(["g"]).prepare({9: (0, 7)})
    part: tuple[Any, ...] = (2, 7, -1, None, 0, {})
    resp = OffsetFetchGroupsResponseV8(0, [("g1", [("t", [part], {})], 0, {})], {})
    back = OffsetFetchGroupsResponseV8.decode(BytesIO(resp.encode()))
    ((name, topics, code, _tags),) = back.groups
    assert (name, code, topics[0][0], topics[0][1][0][:5]) == ("g1", 0, "t", (2, 7, -1, None, 0))
