"""Moving a Kafka consumer group past a poison message: the Kafka I/O of ``evmon skip``.

``KafkaGroupOffsets`` reads and commits one partition's offset *for another group*.
aiokafka has no alter-offsets admin call, so it opens a consumer with ``group_id=G``,
``enable_auto_commit=False`` and an ``assign()``ed, paused partition: it never joins G
(``subscribe()`` would, and rebalance the live consumers). Its
commits carry generation -1 and no member id, which the broker accepts only while G has no
members; otherwise it answers UnknownMemberId / IllegalGeneration / RebalanceInProgress,
raised here as ``GroupActiveError``.

``KafkaGroupOffsets.record_at`` reads the record at an offset with that same assigned consumer,
for the preview before the commit. ``KafkaGroupPositions`` is the same on many partitions at
once (moving a whole group to a time, the log start or end): committed offsets, log bounds,
``offsets_for_times`` and one commit of them all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from aiokafka.structs import OffsetAndMetadata

from evmon.config import KafkaSettings
from evmon.errors import RuntimeFailure, UsageError
from evmon.sources import PREVIEW_BYTES
from evmon.sources.kafka.client import client_kwargs, describe_kafka_error, start_client
from evmon.sources.kafka.protocol import consumer_client

__all__ = [
    "GroupActiveError",
    "KafkaGroupOffsets",
    "KafkaGroupPositions",
    "KafkaRecord",
    "topic_partitions",
]


class GroupActiveError(UsageError):
    """The broker refused a commit because the group has (or just got) members."""


_GROUP_BUSY = (
    CommitFailedError,
    UnknownMemberIdError,
    IllegalGenerationError,
    RebalanceInProgressError,
)


class KafkaGroupOffsets:
    """One partition's committed offset for group ``group``, without joining it."""

    def __init__(self, settings: KafkaSettings, group: str, topic: str, partition: int) -> None:
        self.settings = settings
        self.group = group
        self.tp = TopicPartition(topic, partition)
        self.consumer: AIOKafkaConsumer | None = None

    @property
    def where(self) -> str:
        return f"{self.tp.topic}[{self.tp.partition}]"

    async def __aenter__(self) -> KafkaGroupOffsets:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_kwargs(self.settings),
        )
        await start_client(self.settings, consumer)
        self.consumer = consumer
        try:
            cluster = await consumer_client(consumer).fetch_all_metadata()
            parts = cluster.partitions_for_topic(self.tp.topic)
            if not parts:
                raise UsageError(
                    f"Kafka topic {self.tp.topic!r} not found on {self.settings.display}"
                )
            if self.tp.partition not in parts:
                raise UsageError(
                    f"topic {self.tp.topic!r} has no partition {self.tp.partition} "
                    f"(partitions 0-{max(parts)})"
                )
            consumer.assign([self.tp])
            consumer.pause(self.tp)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.settings.request_timeout * 2)
        except _GROUP_BUSY:
            raise
        except (TimeoutError, KafkaError, OSError) as err:
            raise RuntimeFailure(
                f"{what} for group {self.group} on {self.where}: {describe_kafka_error(err)}"
            ) from None

    async def committed(self) -> int | None:
        """The group's committed offset (the next record it will read), None if never."""
        assert self.consumer is not None, "start() first"
        value: int | None = await self._call(
            "reading the committed offset", self.consumer.committed(self.tp)
        )
        return value

    async def bounds(self) -> tuple[int, int]:
        """The partition's log start and end offsets."""
        assert self.consumer is not None, "start() first"
        begin = await self._call("log start", self.consumer.beginning_offsets([self.tp]))
        end = await self._call("log end", self.consumer.end_offsets([self.tp]))
        return int(begin[self.tp]), int(end[self.tp])

    async def record_at(self, offset: int) -> KafkaRecord | None:
        """The record at ``offset``, read by this assigned consumer (it never joins the
        group, and commits nothing); None when the first record at or after ``offset`` is
        another one (a transaction marker or a compacted gap) or none arrives in time."""
        consumer = self.consumer
        assert consumer is not None, "start() first"
        consumer.seek(self.tp, offset)
        consumer.resume(self.tp)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_timeout
        try:
            while loop.time() < deadline:
                got = await self._call(
                    f"reading offset {offset}",
                    consumer.getmany(self.tp, timeout_ms=200, max_records=1),
                )
                for rec in got.get(self.tp, []):
                    if rec.offset != offset:
                        return None
                    value: bytes | None = rec.value
                    return KafkaRecord(
                        offset,
                        rec.key,
                        None if value is None else value[:PREVIEW_BYTES],
                        0 if value is None else len(value),
                        rec.timestamp / 1000 if rec.timestamp >= 0 else None,
                        len(rec.headers),
                    )
            return None
        finally:
            consumer.pause(self.tp)

    async def commit(self, offset: int, metadata: str = "") -> None:
        """Commit ``offset``; GroupActiveError when the broker says the group is not empty."""
        assert self.consumer is not None, "start() first"
        try:
            await self._call(
                "commit", self.consumer.commit({self.tp: OffsetAndMetadata(offset, metadata)})
            )
        except _GROUP_BUSY as err:
            cause = err.__cause__ or err
            raise GroupActiveError(
                f"group {self.group} has active members; stop them first "
                f"(the broker refused the commit: {type(cause).__name__})"
            ) from None


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """The record a group is stuck on, for the preview before a skip."""

    offset: int
    key: bytes | None
    head: bytes | None  # the first PREVIEW_BYTES of the value; None for a tombstone
    size: int
    timestamp: float | None  # broker/producer time; None when the record has none (-1)
    headers: int


class KafkaGroupPositions:
    """Committed offsets of ``group`` on many partitions at once, without joining it: the
    I/O of moving a whole group (``evmon skip --group G --to-time``). Same consumer as
    ``KafkaGroupOffsets`` (``group_id=G``, ``assign()``ed and paused partitions), so the
    broker takes the one commit only while G has no members (``GroupActiveError``)."""

    def __init__(self, settings: KafkaSettings, group: str, tps: Sequence[TopicPartition]) -> None:
        self.settings = settings
        self.group = group
        self.tps = sorted(tps)
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> KafkaGroupPositions:
        consumer = AIOKafkaConsumer(
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_kwargs(self.settings),
        )
        await start_client(self.settings, consumer)
        self.consumer = consumer
        try:
            consumer.assign(self.tps)
            consumer.pause(*self.tps)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.settings.request_timeout * 2)
        except _GROUP_BUSY:
            raise
        except (TimeoutError, KafkaError, OSError) as err:
            raise RuntimeFailure(
                f"{what} for group {self.group}: {describe_kafka_error(err)}"
            ) from None

    async def committed(self) -> dict[TopicPartition, int | None]:
        """The group's committed offset per partition (None: never committed there)."""
        consumer = self.consumer
        assert consumer is not None, "enter first"
        out: dict[TopicPartition, int | None] = {}
        for tp in self.tps:
            out[tp] = await self._call("reading the committed offsets", consumer.committed(tp))
        return out

    async def bounds(self) -> dict[TopicPartition, tuple[int, int]]:
        """Log start and end offset per partition."""
        consumer = self.consumer
        assert consumer is not None, "enter first"
        begin = await self._call("log start", consumer.beginning_offsets(self.tps))
        end = await self._call("log end", consumer.end_offsets(self.tps))
        return {tp: (int(begin[tp]), int(end[tp])) for tp in self.tps}

    async def offsets_at(self, ms: int) -> dict[TopicPartition, int | None]:
        """The first offset stamped at or after ``ms`` per partition (None: no such record),
        from the broker's time index (``offsets_for_times``)."""
        consumer = self.consumer
        assert consumer is not None, "enter first"
        found = await self._call(
            "offsets for a time", consumer.offsets_for_times(dict.fromkeys(self.tps, ms))
        )
        return {tp: (None if found.get(tp) is None else int(found[tp].offset)) for tp in self.tps}

    async def commit(self, offsets: dict[TopicPartition, int], metadata: str = "") -> None:
        """Commit every offset in one request; GroupActiveError when G is not empty."""
        consumer = self.consumer
        assert consumer is not None, "enter first"
        request = {tp: OffsetAndMetadata(o, metadata) for tp, o in offsets.items()}
        try:
            await self._call("commit", consumer.commit(request))
        except _GROUP_BUSY as err:
            cause = err.__cause__ or err
            raise GroupActiveError(
                f"group {self.group} has active members; stop them first "
                f"(the broker refused the commit: {type(cause).__name__})"
            ) from None


async def topic_partitions(settings: KafkaSettings, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of ``topics``, from one metadata request; UsageError naming a topic
    that does not exist (nothing is created)."""
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **client_kwargs(settings))
    await start_client(settings, consumer)
    try:
        cluster = await consumer_client(consumer).fetch_all_metadata()
    except (KafkaError, OSError) as err:
        raise RuntimeFailure(f"Kafka metadata: {describe_kafka_error(err)}") from None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 5)
    out: list[TopicPartition] = []
    for topic in topics:
        parts = cluster.partitions_for_topic(topic)
        if not parts:
            raise UsageError(f"Kafka topic {topic!r} not found on {settings.display}")
        out += [TopicPartition(topic, p) for p in sorted(parts)]
    return out
