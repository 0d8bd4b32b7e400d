"""Kafka record batches handed over in runs of wire records, without aiokafka's
``ConsumerRecord`` and without a Python frame per record.

aiokafka's ``PartitionRecords._unpack_records`` is a generator that yields one
``ConsumerRecord`` per record, which ``FetchResult.getall`` appends to a list one by one:
at hundreds of thousands of records a second that machinery, the ``ConsumerRecord`` and then
evmon's own ``Event`` made from it were half of a tail's CPU. A consumer created with
``value_deserializer=AS_RUNS`` gets ``RecordRun``s from ``getmany`` instead: up to
``RUN_RECORDS`` consecutive wire records of one partition, taken from the decoded batch at C
speed. The source turns a run into ``Event``s in one tight loop (``run_events``), or hands it
to a sink that writes JSON lines straight from the wire records (``lines.py``).

For such consumers ``_unpack_records`` is ``_runs``, a copy of aiokafka 0.14's loop over the
batches (CRC check, aborted transactions, control batches, the fetch position kept after
every run, the last offset of a compacted batch) that differs only in what it yields; every
other consumer in the process runs aiokafka's own. The copy rests on internals no version
promises to keep (``pyproject.toml`` bounds aiokafka; ``tests/test_third_party_internals.py``
checks the original's source), so ``KafkaSource`` checks what it gets: a batch that is not
runs (the patch no longer called) is converted with ``as_events``; an exception from inside
the unpacking turns the patch off for that consumer (``stop_runs``: aiokafka's own
``ConsumerRecord``s from then on, converted). Either way the source says it is degraded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import aiokafka.errors as kafka_errors
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer import fetcher

from evmon.model import Event, new_event

__all__ = [
    "AS_RUNS",
    "RUN_RECORDS",
    "RecordRun",
    "as_events",
    "run_events",
    "stop_runs",
    "wire_event",
]

#: Wire records per run: small enough that a run's records, lines and JSON stay in the CPU
#: cache while they are encoded, large enough that the per-run work is a few per cent.
RUN_RECORDS = 128


def AS_RUNS(value: bytes | None) -> bytes | None:
    """The marker deserializer: a consumer created with it yields ``RecordRun``s (never
    called)."""
    return value


class RecordRun(list[Any]):
    """Consecutive wire records of one partition (aiokafka's decoded records: ``offset``,
    ``timestamp`` in ms, ``key``, ``value``, ``headers``), in offset order, never empty."""

    __slots__ = ()


_unpack_records = fetcher.PartitionRecords._unpack_records
_now = time.time


def _runs_or_records(self: Any) -> Iterator[Any]:
    if self._value_deserializer is not AS_RUNS:
        return _unpack_records(self)  # type: ignore[no-any-return]
    return _runs(self)


def _runs(self: Any) -> Iterator[RecordRun]:
    tp = self._tp
    records = self._records
    while records.has_next():
        batch = records.next_batch()
        if self._check_crcs and not batch.validate_crc():
            # The iterator is closed after the exception; the rest is fetched again.
            raise kafka_errors.CorruptRecordException(f"Invalid CRC - {tp}")
        if self._isolation_level == fetcher.READ_COMMITTED and batch.producer_id is not None:
            self._consume_aborted_up_to(batch.base_offset)
            if batch.is_control_batch and self._contains_abort_marker(batch):
                self._aborted_producers.discard(batch.producer_id)
            if batch.is_transactional and batch.producer_id in self._aborted_producers:
                self.next_fetch_offset = batch.next_offset
                continue
        if batch.is_control_batch:  # skipped at any isolation level
            self.next_fetch_offset = batch.next_offset
            continue
        # One callable iterator over the batch: islice may take from it again and again
        # (a batch is its own iterator and refuses a second iter()).
        source = iter(iter(batch).__next__, None)
        while run := RecordRun(islice(source, RUN_RECORDS)):
            if run[0].offset < self.next_fetch_offset:  # a compressed v0/v1 message set
                run = RecordRun(r for r in run if r.offset >= self.next_fetch_offset)
                if not run:
                    continue
            self.next_fetch_offset = run[-1].offset + 1
            yield run
        # Format v2 keeps a batch's last offset even when compaction removed its record:
        # the next fetch starts after it, not at the same batch again.
        self.next_fetch_offset = batch.next_offset


if getattr(fetcher.PartitionRecords._unpack_records, "__name__", "") != _runs_or_records.__name__:
    fetcher.PartitionRecords._unpack_records = _runs_or_records


def wire_event(topic: str, partition: int, record: Any) -> Event:
    """The ``Event`` of one wire (or ``ConsumerRecord``) record: -1, Kafka's "no timestamp"
    (a producer that sent none), becomes the receive time, as the JSONL contract says for
    events without a broker time."""
    ms = record.timestamp
    headers = record.headers
    return new_event(
        "kafka",
        topic,
        record.value,
        ms / 1000.0 if ms >= 0 else _now(),
        tuple(headers) if headers else (),
        record.key,
        None,
        partition,
        record.offset,
    )


def run_events(topic: str, partition: int, run: Sequence[Any]) -> tuple[list[Event], int]:
    """The ``Event``s of a run, and how many of its items could not be converted (left out:
    not a record at all). ``wire_event`` inlined: a call per record would cost a tenth."""
    now = _now
    try:
        return [
            new_event(
                "kafka",
                topic,
                r.value,
                ms / 1000.0 if (ms := r.timestamp) >= 0 else now(),
                tuple(h) if (h := r.headers) else (),
                r.key,
                None,
                partition,
                r.offset,
            )
            for r in run
        ], 0
    except Exception:  # an odd item: convert one by one, counting what fails
        return as_events(topic, partition, run)


def as_events(topic: str, partition: int, batch: Sequence[Any]) -> tuple[list[Event], int]:
    """``batch`` as ``Event``s where the patch did not make runs: each record converted from
    the fields aiokafka's records have (the same ``Event`` ``run_events`` builds), an
    ``Event`` kept as it is. Also how many items could not be converted (left out)."""
    events: list[Event] = []
    failed = 0
    for record in batch:
        if type(record) is Event:
            events.append(record)
            continue
        try:
            events.append(wire_event(topic, partition, record))
        except Exception:  # not a record at all: nothing to show
            failed += 1
    return events, failed


def stop_runs(consumer: AIOKafkaConsumer) -> None:
    """From now on ``consumer`` gets aiokafka's own ``ConsumerRecord``s (the patch steps
    aside for it): the fetcher hands its deserializer to every batch it unpacks next."""
    consumer._value_deserializer = None
    if consumer._fetcher is not None:
        consumer._fetcher._value_deserializer = None
