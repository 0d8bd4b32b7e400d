"""Publishing exact copies of events to Kafka: the Kafka I/O half of re-publish (replay).

``KafkaPublisher`` sends exactly the value, key and headers it is given (repeated header
names, binary keys and tombstones included) with ``acks="all"`` and idempotence (a retried
batch is not written twice), one record in flight, so a failure is always attributable to
one record; it returns only once every in-sync replica has it.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from evmon.config import KafkaSettings
from evmon.errors import UsageError
from evmon.model import Headers
from evmon.sources.ack import PublishAck, PublishError
from evmon.sources.kafka.client import client_kwargs, describe_kafka_error, start_client

__all__ = ["KafkaPublisher"]


class KafkaPublisher:
    """Exact produces with ``acks="all"``, one at a time (see the module doc)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, frozenset[int]] = {}

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            max_request_size=16 * 1024 * 1024,
            **client_kwargs(self.settings),
        )
        await start_client(self.settings, producer)
        self.producer = producer

    async def __aenter__(self) -> KafkaPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)

    async def partitions(self, topic: str) -> frozenset[int]:
        """The topic's partitions; UsageError when it does not exist (never auto-creates it)."""
        if topic in self._partitions:
            return self._partitions[topic]
        assert self.producer is not None, "start() first"
        try:
            cluster = await self.producer.client.fetch_all_metadata()
        except (KafkaError, OSError) as err:
            raise PublishError(f"Kafka metadata: {describe_kafka_error(err)}") from None
        parts = cluster.partitions_for_topic(topic)
        if not parts:
            raise UsageError(f"Kafka topic {topic!r} not found on {self.settings.display}")
        self._partitions[topic] = frozenset(parts)
        return self._partitions[topic]

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers = (),
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> PublishAck:
        """Produce one record (``value=None`` is a tombstone) and wait for all replicas.

        ``partition`` is used when the topic has it, else the record goes by key.
        ``timestamp_ms`` is the record's CreateTime (None: now); a topic with
        ``message.timestamp.type=LogAppendTime`` stamps it with the broker's time anyway.
        """
        assert self.producer is not None, "start() first"
        if partition is not None and partition not in await self.partitions(topic):
            partition = None
        else:
            await self.partitions(topic)
        try:
            md = await asyncio.wait_for(
                self.producer.send_and_wait(
                    topic,
                    value=value,
                    key=key,
                    partition=partition,
                    headers=list(headers),
                    timestamp_ms=timestamp_ms,
                ),
                self.settings.request_timeout * 3,
            )
        except TimeoutError:
            raise PublishError(
                "no acknowledgement within "
                f"{self.settings.request_timeout * 3:g} s (it may or may not have been written)"
            ) from None
        except (KafkaError, OSError, ValueError) as err:
            raise PublishError(f"not acknowledged: {describe_kafka_error(err)}") from None
        return PublishAck(topic, partition=md.partition, offset=md.offset)
