"""The demo's Kafka side (``evmon demo --kafka HOST:PORT``): topics, a producer, three groups.

The generator's order and payment events are mirrored to ``shop.orders`` and
``shop.payments`` (3 partitions each, keyed by order id). Three services consume them in
real consumer groups — they are the demo's "services", unlike evmon's own reading path,
which never joins a group:

- ``billing`` (shop.payments) keeps up and auto-commits: lag near zero.
- ``analytics`` (shop.orders) needs about a second per record: lag grows.
- ``fraud-check`` (shop.payments) cannot score a payment whose amount is a string; it
  commits its offset *at* that record and stops, leaving the group without members (the
  state ``evmon skip --group fraud-check`` is for). On a broker reused across demo runs it
  stops at the first such record after its committed offset, so the committed offset always
  points at a poison record.

A ``prefix`` (for tests on a shared broker) is put in front of every topic and group name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evmon.config import KafkaSettings
from evmon.demo.generator import DemoEvent, kafka_poison_payment
from evmon.errors import RuntimeFailure
from evmon.sources.kafka.client import bootstrap_errors, client_kwargs, connect_error

ORDERS_TOPIC = "shop.orders"
PAYMENTS_TOPIC = "shop.payments"
PARTITIONS = 3
GROUPS = ("billing", "analytics", "fraud-check")
ANALYTICS_SECONDS_PER_RECORD = 1.0
POISON_PARTITION = 0
_TOPIC_ALREADY_EXISTS = 36

Problem = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class KafkaPoison:
    """Where ``fraud-check`` stopped: its committed offset on this partition is ``offset``."""

    topic: str
    partition: int
    offset: int
    group: str
    key: str


def is_poison(value: bytes | None) -> bool:
    """What ``fraud-check`` chokes on: a JSON payment whose amount is not a number. Other
    unreadable records (truncated JSON) are logged and skipped, as a tolerant service does."""
    if value is None:
        return False
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(doc, dict) or "amount" not in doc:
        return False
    amount = doc["amount"]
    return isinstance(amount, bool) or not isinstance(amount, int | float)


class KafkaDemo:
    def __init__(
        self,
        settings: KafkaSettings,
        *,
        prefix: str = "",
        on_problem: Problem = lambda _: None,
    ) -> None:
        self.settings = settings
        self.on_problem = on_problem
        self.orders_topic = f"{prefix}{ORDERS_TOPIC}"
        self.payments_topic = f"{prefix}{PAYMENTS_TOPIC}"
        self.billing, self.analytics, self.fraud_check = (f"{prefix}{g}" for g in GROUPS)
        self.poison: KafkaPoison | None = None
        #: Set when ``fraud-check`` has committed at a poison record and left its group.
        self.fraud_check_stopped = asyncio.Event()
        self.fraud_check_stopped_at: KafkaPoison | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consumers: list[AIOKafkaConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.orders_topic, self.payments_topic)

    @property
    def groups(self) -> tuple[str, ...]:
        return (self.billing, self.analytics, self.fraud_check)

    def _kw(self, client_id: str) -> dict[str, Any]:
        return {**client_kwargs(self.settings), "client_id": client_id}

    async def start(self) -> None:
        """Create the topics (keeping existing ones) and start the producer."""
        admin = AIOKafkaAdminClient(**self._kw("evmon-demo-admin"))
        try:
            with bootstrap_errors() as seen:
                await admin.start()
        except Exception as err:
            with contextlib.suppress(Exception):
                await admin.close()
            raise connect_error(self.settings, err, seen) from None
        try:
            resp = await admin.create_topics(
                [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in self.topics]
            )
            for topic, code, *rest in resp.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    detail = rest[0] if rest and rest[0] else f"error code {code}"
                    raise RuntimeFailure(f"cannot create Kafka topic {topic!r}: {detail}")
        finally:
            await admin.close()
        self._producer = AIOKafkaProducer(**self._kw("evmon-demo-producer"), linger_ms=20)
        await self._producer.start()

    async def mirror(self, event: DemoEvent) -> None:
        """Produce orders and payments events to their topic (fire and forget: a failed
        send is a problem to report, not a reason to slow the generator)."""
        if event.subject.startswith("orders."):
            topic = self.orders_topic
        elif event.subject.startswith("payments."):
            topic = self.payments_topic
        else:
            return
        assert self._producer is not None
        headers = [(k, v.encode()) for k, v in event.headers if k != "Nats-Msg-Id"]
        fut = await self._producer.send(
            topic, event.payload, key=event.key.encode(), headers=headers
        )
        fut.add_done_callback(self._sent)

    def _sent(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.on_problem(f"kafka producer: {fut.exception()}")

    async def produce_poison(self) -> KafkaPoison:
        assert self._producer is not None
        event = kafka_poison_payment()
        md = await self._producer.send_and_wait(
            self.payments_topic,
            event.payload,
            key=event.key.encode(),
            partition=POISON_PARTITION,
            headers=[(k, v.encode()) for k, v in event.headers],
        )
        self.poison = KafkaPoison(
            self.payments_topic, md.partition, md.offset, self.fraud_check, event.key
        )
        return self.poison

    def start_groups(self) -> None:
        self._tasks = [
            asyncio.create_task(self._guard("billing", self._billing())),
            asyncio.create_task(self._guard("analytics", self._analytics())),
            asyncio.create_task(self._guard("fraud-check", self._fraud_check())),
        ]

    async def _guard(self, name: str, work: Any) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.on_problem(f"kafka {name}: {type(err).__name__}: {err}")

    def _consumer(self, topic: str, group: str, **kw: Any) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            topic,
            **self._kw(f"demo-{group}"),
            group_id=group,
            auto_offset_reset="earliest",
            **kw,
        )
        self._consumers.append(consumer)
        return consumer

    async def _billing(self) -> None:
        consumer = self._consumer(
            self.payments_topic,
            self.billing,
            enable_auto_commit=True,
            auto_commit_interval_ms=1000,
        )
        await consumer.start()
        while True:
            await consumer.getmany(timeout_ms=1000)

    async def _analytics(self) -> None:
        consumer = self._consumer(self.orders_topic, self.analytics, enable_auto_commit=False)
        await consumer.start()
        while True:
            record = await consumer.getone()
            await asyncio.sleep(ANALYTICS_SECONDS_PER_RECORD)  # the service's (simulated) work
            tp = TopicPartition(record.topic, record.partition)
            await consumer.commit({tp: record.offset + 1})

    async def _fraud_check(self) -> None:
        consumer = self._consumer(self.payments_topic, self.fraud_check, enable_auto_commit=False)
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                done: dict[TopicPartition, int] = {}
                stopped: KafkaPoison | None = None
                for tp, records in batch.items():
                    for record in records:
                        if is_poison(record.value):
                            done[tp] = record.offset
                            key = record.key.decode("utf-8", "replace") if record.key else ""
                            stopped = KafkaPoison(
                                tp.topic, tp.partition, record.offset, self.fraud_check, key
                            )
                            break
                        done[tp] = record.offset + 1
                if done:
                    await consumer.commit(done)
                if stopped is not None:
                    self.fraud_check_stopped_at = stopped
                    return
        finally:
            # Leaving the group on the way out: "stopped, no members" is the state to show.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)
            if self.fraud_check_stopped_at is not None:
                self.fraud_check_stopped.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        for consumer in self._consumers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)
