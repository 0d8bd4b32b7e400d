"""Kafka consumer-group lag: one admin round per refresh, without joining any group.

API (the ``lag`` command and the dashboard's lag screen poll the same client)::

    client = KafkaLagClient(settings)
    await client.start()                      # ConnectError naming the servers if unreachable
    rows = await client.snapshot(groups=())   # list[KafkaLagRow], status OK or ERR
    await client.close()

    rows = await kafka_lag_snapshot(settings, groups)   # one-shot: start, snapshot, close

One refresh sends, over one client whose connections stay open between refreshes: a Metadata
request; ListGroups to every broker (unless groups are named); DescribeGroups batched per
coordinator; ConsumerGroupDescribe batched per coordinator for the groups classic
DescribeGroups calls Dead; OffsetFetch v8 batched per coordinator (100 groups a request; one
per group, all at once, from a broker before Kafka 3.0); ListOffsets batched per
partition leader (latest for every partition, earliest for those without a commit; two
requests because a partition may appear only once in each). Coordinators are cached between
refreshes. Failures of one group become ``ERR`` rows of that group; failures of the whole
round raise ``RuntimeFailure``. Await one ``snapshot()`` at a time (a poller schedules the
next refresh when the previous one ends); ``close()`` when done.

Which partitions a group has: those assigned to its members, those it committed on, and
every other partition of the topics it committed on — a partition it never committed on shows
``committed: null``, the lag from the log start offset and the status ``NOCOMMIT`` (never
judged STALL or STOP: a client on OffsetNewest/``latest`` that commits nothing is healthy and
will never read those records, one that forgot to commit will replay them all on restart, and
only the client knows its policy), so a partition nobody reads (or one added to the topic)
shows up instead of hiding.

Members (``KafkaLagRow.member_list``: member id, client id, host, assigned partitions, what
``kafka-consumer-groups --describe --members --verbose`` shows) come from the same
DescribeGroups (or ConsumerGroupDescribe) response, so listing them costs no request.

KIP-848 groups (``group.protocol=consumer``) look Dead and empty to classic DescribeGroups.
aiokafka 0.14 cannot send ConsumerGroupDescribe (API 69), so evmon encodes v0 itself with
aiokafka's protocol types. A broker without that API gets the state ``unknown (consumer
protocol)`` and ``members: null`` — never "empty".

aiokafka's own ``describe_consumer_groups`` cannot decode a v3 response (it parses it with the
v2 schema: with two groups or more it fails with "Buffer underrun decoding string", checked on
aiokafka 0.14 and Kafka 4) and its ``list_consumer_group_offsets`` reports errors from the wrong
field, hence the raw requests (built in ``protocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError, for_code
from aiokafka.structs import TopicPartition

from evmon.config import KafkaSettings
from evmon.errors import RuntimeFailure
from evmon.lag.status import KafkaLagRow, KafkaMember, Status
from evmon.sources.kafka.client import client_kwargs, describe_kafka_error, start_client
from evmon.sources.kafka.protocol import (
    ConsumerGroupDescribe,
    DescribeGroups,
    FindCoordinatorRequest,
    ListGroupsRequest,
    OffsetFetchGroups,
    OffsetFetchRequest,
    OffsetRequest,
    decode_assignment,
)

__all__ = ["UNKNOWN_848", "KafkaLagClient", "kafka_lag_snapshot"]

UNKNOWN_848 = "unknown (consumer protocol)"
LATEST, EARLIEST = -1, -2
#: Error codes after which the cached coordinator of a group is looked up again.
_COORDINATOR_MOVED = {14, 15, 16}  # load in progress, not available, not coordinator
_GROUP_ID_NOT_FOUND = 69
#: Groups per OffsetFetch v8 request (a round of 200 groups on one coordinator: 2 requests).
OFFSET_FETCH_GROUPS = 100
#: Groups whose rows are built between two turns of the event loop (about 1,000 rows).
ROWS_SLICE_GROUPS = 20


# --------------------------------------------------------------------------- the snapshot

TP = tuple[str, int]


@dataclass(slots=True)
class _Group:
    """What one refresh learned about a group before offsets are looked up."""

    name: str
    coordinator: int | None = None
    listed_type: str | None = None  # protocol type from ListGroups, None when not listed
    state: str = "Dead"
    members: int | None = 0
    assigned: set[TP] = field(default_factory=set)
    member_list: list[KafkaMember] = field(default_factory=list)
    committed: dict[TP, int] = field(default_factory=dict)
    error: str | None = None


def _error_text(code: int) -> str:
    name: str = for_code(code).__name__
    return name.removesuffix("Error")


class KafkaLagClient:
    """A long-lived admin client computing the lag of consumer groups (see module doc)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._client = AIOKafkaClient(metadata_max_age_ms=30_000, **client_kwargs(settings))
        self._coordinators: dict[str, int] = {}
        self._started = False
        #: False once a broker refused OffsetFetch v8 (Kafka before 3.0): one per group.
        self._batch_offset_fetch = True

    @property
    def cluster(self) -> AIOKafkaClient:
        """The one cluster client every snapshot goes through (kept between refreshes, so a
        watch does not reconnect each round)."""
        return self._client

    async def start(self) -> None:
        await start_client(self.settings, self._client)
        self._started = True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.close(), 5)

    async def snapshot(self, groups: Sequence[str] = ()) -> list[KafkaLagRow]:
        """One admin round: every group (or the named ones) with its partitions' lag."""
        if not self._started:
            await self.start()
        try:
            return await asyncio.wait_for(self._snapshot(groups), self.settings.request_timeout * 3)
        except (TimeoutError, KafkaError, OSError) as err:
            cause = describe_kafka_error(err, self.settings)
            raise RuntimeFailure(f"Kafka at {self.settings.display}: {cause}") from None

    async def _snapshot(self, names: Sequence[str]) -> list[KafkaLagRow]:
        cluster = await self._client.fetch_all_metadata()
        groups = await self._list_groups(cluster, names)
        await self._find_coordinators(groups)
        await self._describe(groups)
        await self._fetch_all_committed(groups)
        partitions = _partitions_of(groups, cluster)
        every = {tp for tps in partitions.values() for tp in tps}
        uncommitted = {tp for g in groups for tp in partitions[g.name] if tp not in g.committed}
        # a partition may not appear twice in one ListOffsets: end and start are two batches
        ends, starts = await asyncio.gather(
            self._list_offsets(cluster, every, LATEST),
            self._list_offsets(cluster, uncommitted, EARLIEST),
        )
        now = time.time()
        rows: list[KafkaLagRow] = []
        for i, g in enumerate(groups, 1):
            rows.extend(_rows(g, partitions.get(g.name, []), ends, starts, now))
            if i % ROWS_SLICE_GROUPS == 0:
                await asyncio.sleep(0)  # 200 groups x 50 partitions: the UI answers between
        return rows

    # -- the requests of one round ---------------------------------------------------

    async def _list_groups(self, cluster: Any, names: Sequence[str]) -> list[_Group]:
        if names:
            return [_Group(n) for n in dict.fromkeys(names)]
        brokers = [b.nodeId for b in cluster.brokers()]
        responses = await asyncio.gather(
            *(self._client.send(node, ListGroupsRequest()) for node in brokers)
        )
        groups: dict[str, _Group] = {}
        for node, resp in zip(brokers, responses, strict=True):
            if resp.error_code:
                raise for_code(resp.error_code)(f"ListGroups on broker {node}")
            for name, protocol_type in resp.groups:
                if protocol_type in ("consumer", ""):
                    groups[name] = _Group(name, node, protocol_type)
                    self._coordinators[name] = node
        return [groups[n] for n in sorted(groups)]

    async def _find_coordinators(self, groups: list[_Group]) -> None:
        async def find(g: _Group) -> None:
            node = self._coordinators.get(g.name)
            if node is None:
                resp = await self._client.send(
                    self._client.get_random_node(), FindCoordinatorRequest(g.name, 0)
                )
                if resp.error_code:
                    g.error = f"no coordinator: {_error_text(resp.error_code)}"
                    return
                node = self._coordinators[g.name] = resp.coordinator_id
            g.coordinator = node

        await asyncio.gather(*(find(g) for g in groups if g.coordinator is None))

    def _by_coordinator(self, groups: Iterable[_Group]) -> dict[int, list[_Group]]:
        out: dict[int, list[_Group]] = defaultdict(list)
        for g in groups:
            if g.coordinator is not None and g.error is None:
                out[g.coordinator].append(g)
        return out

    async def _describe(self, groups: list[_Group]) -> None:
        batches = self._by_coordinator(groups)
        await asyncio.gather(*(self._describe_classic(n, gs) for n, gs in batches.items()))
        dead = self._by_coordinator(g for g in groups if g.state == "Dead")
        await asyncio.gather(*(self._describe_848(n, gs) for n, gs in dead.items()))

    async def _describe_classic(self, node: int, groups: list[_Group]) -> None:
        by_name = {g.name: g for g in groups}
        resp = await self._client.send(node, DescribeGroups(list(by_name)))
        for code, name, state, _ptype, _protocol, members, _ops in resp.groups:
            g = by_name.get(name)
            if g is None:
                continue
            if code == _GROUP_ID_NOT_FOUND:  # newer brokers: "not a classic group"
                continue  # stays Dead; ConsumerGroupDescribe is asked next
            if code:
                self._group_error(g, code, "describe")
                continue
            g.state = state
            g.members = len(members)
            for member_id, client_id, host, _metadata, assignment in members:
                tps = decode_assignment(assignment)
                g.assigned.update(tps)
                g.member_list.append(KafkaMember(member_id, client_id, host, tuple(sorted(tps))))

    async def _describe_848(self, node: int, groups: list[_Group]) -> None:
        by_name = {g.name: g for g in groups}
        try:
            resp = await self._client.send(node, ConsumerGroupDescribe(list(by_name)))
        except IncompatibleBrokerVersion:
            return  # see _rows: what the classic API calls Dead may still be alive
        for code, message, name, state, *_rest, members, _ops, _tags in resp.groups:
            g = by_name.get(name)
            if g is None or code == _GROUP_ID_NOT_FOUND:
                continue  # not a consumer-protocol group: classic "Dead" stands
            if code:
                self._group_error(g, code, "describe", message)
                continue
            g.state = state
            g.members = len(members)
            for member in members:
                topics = member[8][0] or []
                tps = sorted((topic, p) for _tid, topic, parts, _t in topics for p in parts or [])
                g.assigned.update(tps)
                # member_id, instance_id, rack_id, epoch, client_id, client_host, ...
                g.member_list.append(KafkaMember(member[0], member[4], member[5], tuple(tps)))

    async def _fetch_all_committed(self, groups: list[_Group]) -> None:
        """Committed offsets: one OffsetFetch v8 per coordinator for all its groups (in
        chunks of ``OFFSET_FETCH_GROUPS``), or one request per group from a broker without v8
        (remembered, so it is not tried again every round)."""
        asking = [g for g in groups if g.coordinator is not None and g.error is None]
        if not self._batch_offset_fetch:
            await asyncio.gather(*(self._fetch_committed(g) for g in asking))
            return
        chunks = [
            (node, gs[i : i + OFFSET_FETCH_GROUPS])
            for node, gs in self._by_coordinator(asking).items()
            for i in range(0, len(gs), OFFSET_FETCH_GROUPS)
        ]
        try:
            await asyncio.gather(*(self._fetch_batch(node, gs) for node, gs in chunks))
        except (IncompatibleBrokerVersion, NotImplementedError):
            self._batch_offset_fetch = False
            await asyncio.gather(*(self._fetch_committed(g) for g in asking if not g.committed))

    async def _fetch_batch(self, node: int, groups: list[_Group]) -> None:
        by_name = {g.name: g for g in groups}
        resp = await self._client.send(node, OffsetFetchGroups(list(by_name)))
        for name, topics, code, _tags in resp.groups:
            g = by_name.get(name)
            if g is not None:
                parts = [
                    (topic, [(p, off, meta, err) for p, off, _epoch, meta, err, _t in ps])
                    for topic, ps, _tags in topics
                ]
                self._take_committed(g, code, parts)

    async def _fetch_committed(self, g: _Group) -> None:
        if g.coordinator is None or g.error is not None:
            return
        resp = await self._client.send(g.coordinator, OffsetFetchRequest(g.name, None))
        self._take_committed(g, getattr(resp, "error_code", 0), resp.topics)

    def _take_committed(self, g: _Group, top: int, topics: Iterable[Any]) -> None:
        if top:
            self._group_error(g, top, "offset fetch")
            return
        for topic, parts in topics:
            for partition, offset, _meta, code in parts:
                if code:
                    self._group_error(g, code, f"offset fetch {topic}/{partition}")
                    return
                if offset >= 0:
                    g.committed[(topic, partition)] = offset

    def _group_error(self, g: _Group, code: int, what: str, message: str | None = None) -> None:
        if code in _COORDINATOR_MOVED:
            self._coordinators.pop(g.name, None)
        g.error = f"{what}: {message or _error_text(code)}"

    async def _list_offsets(self, cluster: Any, tps: set[TP], at: int) -> dict[TP, int]:
        """ListOffsets for ``at`` (LATEST or EARLIEST), one request per partition leader."""
        by_leader: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for tp in sorted(tps):
            leader = cluster.leader_for_partition(TopicPartition(*tp))
            if leader is not None and leader >= 0:
                by_leader[leader][tp[0]].append(tp[1])

        async def ask(node: int, topics: dict[str, list[int]]) -> dict[TP, int]:
            req = OffsetRequest(-1, 0, [(t, [(p, at) for p in ps]) for t, ps in topics.items()])
            resp = await self._client.send(node, req)
            found: dict[TP, int] = {}
            for topic, parts in resp.topics:
                for partition, code, _timestamp, offset, *_ in parts:
                    if not code:  # an error leaves the partition out: its row is ERR
                        found[(topic, partition)] = offset
            return found

        results = await asyncio.gather(*(ask(n, ts) for n, ts in by_leader.items()))
        return {tp: offset for found in results for tp, offset in found.items()}


def _partitions_of(groups: list[_Group], cluster: Any) -> dict[str, list[TP]]:
    out: dict[str, list[TP]] = {}
    for g in groups:
        tps = set(g.assigned) | set(g.committed)
        for topic in {t for t, _ in g.committed}:
            tps.update((topic, p) for p in cluster.partitions_for_topic(topic) or ())
        out[g.name] = sorted(tps)
    return out


def _rows(
    g: _Group, tps: list[TP], ends: dict[TP, int], starts: dict[TP, int], now: float
) -> list[KafkaLagRow]:
    if g.state == "Dead" and (g.committed or g.listed_type == "consumer"):
        # listed, or holding offsets, yet Dead to classic DescribeGroups, and the broker has
        # no ConsumerGroupDescribe: a consumer-protocol group whose members cannot be seen
        g.state, g.members = UNKNOWN_848, None
    state = f"error ({g.error})" if g.error else g.state
    alive = None if g.members == 0 else now  # unknown members: do not claim nobody is there
    members = tuple(sorted(g.member_list, key=lambda m: (m.client_id, m.host, m.member_id)))
    if g.error or not tps:
        gone = g.error is not None or (g.state == "Dead" and g.listed_type is None)
        status: Status = "ERR" if gone else "OK"
        return [
            KafkaLagRow(
                g.name, state, g.members, None, None, None, None, None, status, alive, members
            )
        ]
    rows = []
    for tp in tps:
        committed = g.committed.get(tp)
        end, start = ends.get(tp), starts.get(tp)
        base = committed if committed is not None else start
        lag = None if end is None or base is None else max(end - base, 0)
        # ERR: the partition's offsets are unknown; NOCOMMIT: where the client starts is its
        # own initial-offset policy, which no broker reports, so it is not judged a stall
        status = "ERR" if lag is None else "NOCOMMIT" if committed is None else "OK"
        rows.append(
            KafkaLagRow(g.name, state, g.members, *tp, committed, end, lag, status, alive, members)
        )
    return rows


async def kafka_lag_snapshot(
    settings: KafkaSettings, groups: Sequence[str] = ()
) -> list[KafkaLagRow]:
    """One snapshot with a client of its own (a script's one-shot; pollers keep a client)."""
    client = KafkaLagClient(settings)
    await client.start()
    try:
        return await client.snapshot(groups)
    finally:
        await client.close()
