"""KafkaSource's consumer yields Events straight from aiokafka's unpacking (kafka_records.py),
while any other aiokafka consumer in the same process still gets ConsumerRecords."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from evmon.config import KafkaSettings
from evmon.model import Event
from evmon.selection import Start
from evmon.sources.kafka.tail import KafkaSource
from tests.helpers import ListSink
from tests.kafka_kit import create_topic
from tests.waiting import async_wait_for

RECORDS: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = [
    (b"k1", b'{"n":1}', []),
    (None, b"\xff\x00binary", [("h", b"1"), ("h", b"2"), ("raw", b"\xfe")]),
    (b"k1", None, []),  # a tombstone
    (b"\xc3", b"", [("empty", b"")]),
]


async def test_events_from_the_source_and_records_for_other_consumers(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}-rec"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        stamps = []
        for key, value, headers in RECORDS:
            meta = await producer.send_and_wait(topic, value, key=key, headers=headers)
            stamps.append(meta.timestamp)
    finally:
        await producer.stop()

    sink = ListSink()
    src = KafkaSource(
        KafkaSettings(bootstrap=kafka_bootstrap), sink, topics=[topic], start=Start("first")
    )
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) >= len(RECORDS), timeout=30)
    finally:
        await src.close()
    assert sink.events == [
        Event("kafka", topic, value, stamps[i] / 1000.0, tuple(headers), key, None, 0, i)
        for i, (key, value, headers) in enumerate(RECORDS)
    ]
    assert all(type(ev) is Event for ev in sink.events)

    plain = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await plain.start()
    try:
        tp = TopicPartition(topic, 0)
        plain.assign([tp])
        await plain.seek_to_beginning(tp)
        got: list[ConsumerRecord[bytes, bytes]] = []
        while len(got) < len(RECORDS):
            batches = await plain.getmany(timeout_ms=5000)
            assert batches, "no records within 5 s"
            for records in batches.values():
                got.extend(records)
    finally:
        await plain.stop()
    assert all(isinstance(r, ConsumerRecord) for r in got)
    assert [(r.key, r.value, list(r.headers), r.offset) for r in got] == [
        (key, value, headers, i) for i, (key, value, headers) in enumerate(RECORDS)
    ]
