"""Kafka records decoded straight into ``Event``s, without aiokafka's ``ConsumerRecord``.

aiokafka builds a ``ConsumerRecord`` for every record it unpacks; evmon would then build an
``Event`` from it in a second loop. At hundreds of thousands of records a second those two
objects and the loop are a fifth of a tail's CPU. A consumer created with
``value_deserializer=AS_EVENTS`` gets ``Event``s from ``getmany`` instead: the one place
aiokafka turns a wire record into a ``ConsumerRecord`` (``PartitionRecords._consumer_record``)
is wrapped so that it builds the ``Event`` for such consumers and behaves exactly as before
for every other consumer in the process. Everything else (fetching, positions, CRC checks,
transactions, control batches) stays aiokafka's own.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka.consumer import fetcher

from evmon.model import Event, new_event

__all__ = ["AS_EVENTS"]


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
