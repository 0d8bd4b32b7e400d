"""Kafka records decoded straight into ``Event``s, without aiokafka's ``ConsumerRecord``.

aiokafka builds a ``ConsumerRecord`` for every record it unpacks; evmon would then build an
``Event`` from it in a second loop. At hundreds of thousands of records a second those two
objects and the loop are a fifth of a tail's CPU. A consumer created with
``value_deserializer=AS_EVENTS`` gets ``Event``s from ``getmany`` instead: the one place
aiokafka turns a wire record into a ``ConsumerRecord`` (``PartitionRecords._consumer_record``)
is wrapped so that it builds the ``Event`` for such consumers and behaves exactly as before
for every other consumer in the process. Everything else (fetching, positions, CRC checks,
transactions, control batches) stays aiokafka's own.

The patch rests on aiokafka internals no version promises to keep, so ``KafkaSource`` checks
what it gets: a batch that is not ``Event``s (the wrapper no longer called: a record type it
does not know) is converted with ``as_events``; an exception from the wrapper inside
aiokafka's unpacking turns the patch off for that consumer (``stop_events``: aiokafka's own
``ConsumerRecord``s from then on, converted). Either way the source says it is degraded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer import fetcher

from evmon.model import Event, new_event

__all__ = ["AS_EVENTS", "as_events", "stop_events"]


def AS_EVENTS(value: bytes | None) -> bytes | None:
    """The marker deserializer: a consumer created with it yields ``Event``s (never called)."""
    return value


_consumer_record = fetcher.PartitionRecords._consumer_record
_now = time.time


def _event_or_consumer_record(self: Any, tp: Any, record: Any) -> Any:
    if self._value_deserializer is not AS_EVENTS:
        return _consumer_record(self, tp, record)
    headers = record.headers
    ms = record.timestamp
    event: Event = new_event(
        "kafka",
        tp.topic,
        record.value,
        # -1 is Kafka's "no timestamp" (a producer that sent none): receive time, as the
        # JSONL contract says for events without a broker time.
        ms / 1000.0 if ms >= 0 else _now(),
        tuple(headers) if headers else (),
        record.key,
        None,
        tp.partition,
        record.offset,
    )
    return event


if getattr(_consumer_record, "__name__", "") != _event_or_consumer_record.__name__:
    fetcher.PartitionRecords._consumer_record = _event_or_consumer_record


def as_events(tp: Any, batch: Sequence[Any]) -> tuple[list[Event], int]:
    """``batch`` as ``Event``s where the patch did not make them: each record converted from
    the fields aiokafka's ``ConsumerRecord`` has (the same ``Event`` the patch builds), an
    ``Event`` kept as it is. Also how many records could not be converted (left out)."""
    events: list[Event] = []
    failed = 0
    for record in batch:
        if type(record) is Event:
            events.append(record)
            continue
        try:
            ms = record.timestamp
            headers = record.headers
            events.append(
                new_event(
                    "kafka",
                    tp.topic,
                    record.value,
                    ms / 1000.0 if ms >= 0 else _now(),
                    tuple(headers) if headers else (),
                    record.key,
                    None,
                    tp.partition,
                    record.offset,
                )
            )
        except Exception:  # not a record at all: nothing to show
            failed += 1
    return events, failed


def stop_events(consumer: AIOKafkaConsumer) -> None:
    """From now on ``consumer`` gets aiokafka's own ``ConsumerRecord``s (the patch steps
    aside for it): the fetcher hands its deserializer to every batch it unpacks next."""
    consumer._value_deserializer = None
    if consumer._fetcher is not None:
        consumer._fetcher._value_deserializer = None
