"""Kafka positions of a tail: ``--partition``, ``--last N`` and the bounds of ``--until``.

    check_partitions(cluster, ["orders"], (0, 7), "127.0.0.1:9092")   # one-line UsageError
    offsets = await last_offsets(consumer, tps, 10)   # max(log start, end - 10) each
    bounds = UntilBounds(Until("end"))
    await bounds.begin(consumer, tps)                 # stop offsets, fixed before reading
    events = bounds.cut(tp, events)                   # what is inside the bound
    if await bounds.reached(consumer): ...            # every partition got there

``--last N`` is kcat's ``-o -N``: N *offsets* before the log end, not N records. On a
compacted topic, or one with transaction markers, some of those offsets hold no record, so
fewer than N are shown; a partition shorter than N starts at its log start (librdkafka
clamps at offset 0 and then resets as ``auto.offset.reset`` says when retention removed
it; evmon starts at the first offset still there).

``--until`` stops every partition *before* its bound (never printing the record there), like
kcat's ``-o e@MS``, and the tail ends once every selected partition reached it, like
``-e``. A bound is an offset, or fixed from the broker when the read starts: ``end`` is
each partition's log end then; a past TIME is the first offset stamped at or after it
(``offsets_for_times``), else the log end. A TIME still to come is a record timestamp to
watch for, and at that time the bound is fixed from the broker as for a past one. The
position (not the last record's offset) decides whether a partition reached its bound, so
a compacted gap or a transaction marker at the end does not keep the tail waiting.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from evmon.errors import UsageError
from evmon.model import Event
from evmon.selection import Until

__all__ = ["UntilBounds", "check_partitions", "last_offsets"]


def check_partitions(
    cluster: Any, topics: Sequence[str], partitions: Sequence[int], where: str
) -> None:
    """Each ``--partition`` must exist in every named topic: a one-line UsageError naming
    the topic and its partitions otherwise (kcat: "partition 7 does not exist")."""
    for topic in topics:
        have = sorted(cluster.partitions_for_topic(topic) or ())
        missing = [p for p in partitions if p not in have]
        if missing:
            span = f"partitions 0-{have[-1]}" if have else "no partitions"
            names = ", ".join(str(p) for p in missing)
            noun = "partition" if len(missing) == 1 else "partitions"
            raise UsageError(f"Kafka topic {topic!r} on {where} has no {noun} {names} ({span})")


async def last_offsets(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition], n: int
) -> dict[TopicPartition, int]:
    """Where ``--last n`` starts each partition: ``n`` offsets before its end, at the
    earliest its log start (an empty partition starts at its end: nothing to show)."""
    begin = await consumer.beginning_offsets(list(tps))
    end = await consumer.end_offsets(list(tps))
    return {tp: max(int(begin[tp]), int(end[tp]) - n) for tp in tps}


class UntilBounds:
    """Where each partition of a bounded read stops (see the module doc)."""

    def __init__(self, until: Until) -> None:
        self.until = until
        #: The stop offset of each partition (exclusive), once known.
        self.stops: dict[TopicPartition, int] = {}
        #: Partitions not at their bound yet.
        self.open: set[TopicPartition] = set()
        #: Set once every partition reached its bound.
        self.ended = asyncio.Event()
        self._time_ms = int(until.time * 1000) if until.kind == "time" else None
        self._timer: asyncio.Task[None] | None = None

    async def begin(self, consumer: AIOKafkaConsumer, tps: Iterable[TopicPartition]) -> None:
        """Fix the bounds of ``tps`` (the partitions read), before any record is read."""
        tps = sorted(tps)
        self.open = set(tps)
        kind = self.until.kind
        if kind == "offset":
            self.stops = dict.fromkeys(tps, self.until.offset)
        elif kind == "end" or self.until.time <= time.time():
            await self._fix(consumer, tps)
        else:  # a time to come: watch the records' timestamps, fix the bounds at that time
            self._timer = asyncio.create_task(self._fix_later(consumer), name="evmon-until")
        await self.reached(consumer)

    async def _fix(self, consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]) -> None:
        # The log end first: when no record is stamped at or after the time, every record
        # up to that end is older than it, so the end is the exact bound.
        end = await consumer.end_offsets(list(tps))
        if self._time_ms is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, self._time_ms))
        else:
            found = {}
        for tp in tps:
            if tp in self.stops:
                continue  # a record stamped at or after the time already ended it
            hit = found.get(tp)
            self.stops[tp] = int(hit.offset) if hit is not None else int(end[tp])

    async def _fix_later(self, consumer: AIOKafkaConsumer) -> None:
        await asyncio.sleep(max(0.0, self.until.time - time.time()))
        while True:
            try:
                await self._fix(consumer, sorted(self.open))
                return
            except (KafkaError, OSError, TimeoutError):
                await asyncio.sleep(1.0)  # the broker is away: the tail says so; try again

    def cut(self, tp: TopicPartition, events: list[Event]) -> list[Event]:
        """The events of ``tp`` before its bound; a partition that reached it gives none."""
        if tp not in self.open:
            return []
        stop = self.stops.get(tp)
        if stop is None:  # a time to come: the first record stamped at or after it stops tp
            limit = self.until.time
            for i, ev in enumerate(events):
                if ev.timestamp >= limit and ev.offset is not None:
                    self.stops[tp] = ev.offset
                    self._close(tp)
                    return events[:i]
            return events
        last = events[-1].offset
        if last is not None and last < stop:
            return events
        self._close(tp)
        return events[: bisect_left([ev.offset or 0 for ev in events], stop)]

    def _close(self, tp: TopicPartition) -> None:
        self.open.discard(tp)
        if not self.open:
            self.ended.set()

    async def reached(self, consumer: AIOKafkaConsumer) -> bool:
        """Close every partition whose position is at its bound (records or not: a
        compacted gap, a transaction marker); pause it. True once all are there."""
        assigned = consumer.assignment()
        for tp in sorted(self.open):
            stop = self.stops.get(tp)
            if stop is None or tp not in assigned:
                continue
            if await consumer.position(tp) >= stop:
                self._close(tp)
        for tp in set(self.stops) - self.open:
            if tp in assigned and tp not in consumer.paused():
                consumer.pause(tp)
        if not self.open:
            self.ended.set()
        return self.ended.is_set()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
