"""The demo's Kafka side (``evmon demo --kafka HOST:PORT``): topics, a producer, four groups.

The generator's order and payment events are mirrored to ``shop.orders`` and
``shop.payments`` (3 partitions each, keyed by order id). Four services consume them in
real consumer groups — they are the demo's "services", unlike evmon's own reading path,
which never joins a group:

- ``billing`` (shop.payments) keeps up and auto-commits: lag near zero.
- ``analytics`` (shop.orders) needs about a second per record: lag grows.
- ``fraud-check`` (shop.payments) cannot score a payment whose amount is a string; it
  commits its offset *at* that record and stops, leaving the group without members (the
  state ``evmon skip --group fraud-check`` is for). On a broker reused across demo runs it
  stops at the first such record after its committed offset, so the committed offset always
  points at a poison record.
- ``order-audit`` (shop.orders) starts at the newest record (``auto_offset_reset=latest``,
  like a sarama group on ``OffsetNewest``), reads every order and never commits: the
  never-committed group ``evmon lag`` shows as ``NOCOMMIT`` (restarted, it would skip
  whatever arrived while it was down; on ``earliest`` it would read everything again).

A ``prefix`` (for tests on a shared broker) is put in front of every topic and group name.

On exit (``close()``) the demo deletes the groups and topics it created on this run, so a
user's own broker is left as it was; ``keep=True`` (``--keep``) keeps them, and what
existed before the demo is never deleted. ``exit_note`` says which it was, in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from evmon.config import KafkaSettings
from evmon.demo.generator import DemoEvent, kafka_poison_payment
from evmon.errors import RuntimeFailure
from evmon.sources.kafka.client import client_kwargs, start_client
from evmon.sources.kafka.protocol import (
    DeleteGroupsRequest,
    FindCoordinatorRequest,
    consumer_client,
)

ORDERS_TOPIC = "shop.orders"
PAYMENTS_TOPIC = "shop.payments"
PARTITIONS = 3
GROUPS = ("billing", "analytics", "fraud-check", "order-audit")
ANALYTICS_SECONDS_PER_RECORD = 1.0
POISON_PARTITION = 0
_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3
_GONE_GROUP = 69  # GROUP_ID_NOT_FOUND
_RETRIABLE_GROUP = (14, 15, 16, 68)  # loading, not available, not coordinator, not empty
CLEANUP_TIMEOUT = 10.0

Problem = Callable[[str], None]


async def _group_names(admin: AIOKafkaAdminClient, attempts: int = 20) -> set[str]:
    """The broker's consumer groups. A broker that just started answers ListGroups with a
    retriable error (GroupLoadInProgress, CoordinatorNotAvailable) for a moment: ask again."""
    for attempt in range(attempts):
        try:
            return {g[0] for g in await admin.list_consumer_groups()}
        except Exception as err:
            if not getattr(err, "retriable", False) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25)
    raise AssertionError("unreachable")  # pragma: no cover


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
        keep: bool = False,
    ) -> None:
        self.settings = settings
        self.keep = keep
        #: What this run created (so what ``close()`` deletes unless ``keep``).
        self.created_topics: tuple[str, ...] = ()
        self.created_groups: tuple[str, ...] = ()
        #: The line saying what became of them, set by ``close()``.
        self.exit_note: str | None = None
        self.on_problem = on_problem
        self.orders_topic = f"{prefix}{ORDERS_TOPIC}"
        self.payments_topic = f"{prefix}{PAYMENTS_TOPIC}"
        self.billing, self.analytics, self.fraud_check, self.order_audit = (
            f"{prefix}{g}" for g in GROUPS
        )
        #: Records ``order-audit`` has read (it commits none of them).
        self.audited = 0
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
        return (self.billing, self.analytics, self.fraud_check, self.order_audit)

    def _kw(self, client_id: str) -> dict[str, Any]:
        return {**client_kwargs(self.settings), "client_id": client_id}

    async def start(self) -> None:
        """Create the topics (keeping existing ones) and start the producer."""
        admin = AIOKafkaAdminClient(**self._kw("evmon-demo-admin"))
        await start_client(self.settings, admin)
        try:
            resp = await admin.create_topics(
                [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in self.topics]
            )
            for topic, code, *rest in resp.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    detail = rest[0] if rest and rest[0] else f"error code {code}"
                    raise RuntimeFailure(f"cannot create Kafka topic {topic!r}: {detail}")
            created = {topic for topic, code, *_ in resp.topic_errors if code == 0}
            self.created_topics = tuple(t for t in self.topics if t in created)
            try:
                existing = await _group_names(admin)
            except Exception:  # cannot tell which groups are ours: delete none of them
                existing = set(self.groups)
            self.created_groups = tuple(g for g in self.groups if g not in existing)
        finally:
            await admin.close()
        self._producer = AIOKafkaProducer(**self._kw("evmon-demo-producer"), linger_ms=20)
        await start_client(self.settings, self._producer)

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
            asyncio.create_task(self._guard("order-audit", self._order_audit())),
        ]

    async def _guard(self, name: str, work: Any) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.on_problem(f"kafka {name}: {type(err).__name__}: {err}")

    def _consumer(self, topic: str, group: str, **kw: Any) -> AIOKafkaConsumer:
        kw.setdefault("auto_offset_reset", "earliest")
        consumer = AIOKafkaConsumer(topic, **self._kw(f"demo-{group}"), group_id=group, **kw)
        self._consumers.append(consumer)
        return consumer

    async def _billing(self) -> None:
        consumer = self._consumer(
            self.payments_topic,
            self.billing,
            enable_auto_commit=True,
            auto_commit_interval_ms=1000,
        )
        await start_client(self.settings, consumer)
        while True:
            await consumer.getmany(timeout_ms=1000)

    async def _analytics(self) -> None:
        consumer = self._consumer(self.orders_topic, self.analytics, enable_auto_commit=False)
        await start_client(self.settings, consumer)
        while True:
            record = await consumer.getone()
            await asyncio.sleep(ANALYTICS_SECONDS_PER_RECORD)  # the service's (simulated) work
            tp = TopicPartition(record.topic, record.partition)
            await consumer.commit({tp: record.offset + 1})

    async def _order_audit(self) -> None:
        consumer = self._consumer(
            self.orders_topic,
            self.order_audit,
            auto_offset_reset="latest",
            enable_auto_commit=False,  # and no commit() anywhere: the trap
        )
        await consumer.start()
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            self.audited += sum(len(records) for records in batch.values())

    async def _fraud_check(self) -> None:
        consumer = self._consumer(self.payments_topic, self.fraud_check, enable_auto_commit=False)
        await start_client(self.settings, consumer)
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
        await asyncio.gather(*(_stop_consumer(c) for c in self._consumers))
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)
        if self.exit_note is None and (self.created_topics or self.created_groups):
            self.exit_note = await self._clean_up()

    async def _clean_up(self) -> str:
        """Delete the groups, then the topics, this run created (unless ``keep``); the line
        that says what happened. Bounded in time: an exit must not hang on a broker."""
        where = self.settings.display
        made = _names(self.created_topics, self.created_groups)
        if self.keep:
            return f"kept the demo's Kafka {made} on {where} (--keep)"
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT):
                failed = await self._delete_groups() + await self._delete_topics()
        except TimeoutError:
            failed = [f"no confirmation from the broker within {CLEANUP_TIMEOUT:g} s"]
        except Exception as err:
            failed = [f"{type(err).__name__}: {err}" if str(err) else type(err).__name__]
        if failed:
            return f"could not delete the demo's Kafka {made} on {where}: {'; '.join(failed)}"
        return f"deleted the demo's Kafka {made} from {where} (--keep keeps them)"

    async def _delete_groups(self) -> list[str]:
        """DeleteGroups at each group's coordinator, retried while a group is still
        emptying (its members just left) or its coordinator moves."""
        if not self.created_groups:
            return []
        client = AIOKafkaClient(**self._kw("evmon-demo-cleanup"))
        failed: list[str] = []
        await start_client(self.settings, client)
        try:
            for group in self.created_groups:
                while True:
                    found = await client.send(
                        client.get_random_node(), FindCoordinatorRequest(group, 0)
                    )
                    code = found.error_code
                    if not code:
                        resp = await client.send(found.coordinator_id, DeleteGroupsRequest([group]))
                        code = next((c for g, c in resp.results if g == group), 0)
                    if code in (0, _GONE_GROUP):
                        break
                    if code not in _RETRIABLE_GROUP:
                        failed.append(f"group {group}: {for_code(code).__name__}")
                        break
                    await asyncio.sleep(0.2)
        finally:
            await client.close()
        return failed

    async def _delete_topics(self) -> list[str]:
        if not self.created_topics:
            return []
        admin = AIOKafkaAdminClient(**self._kw("evmon-demo-cleanup"))
        await start_client(self.settings, admin)
        try:
            resp = await admin.delete_topics(list(self.created_topics))
            failed = [
                f"topic {topic}: {for_code(code).__name__}"
                for topic, code in resp.topic_error_codes
                if code not in (0, _UNKNOWN_TOPIC)
            ]
            if not failed:
                await self._until_unlisted(admin)
        finally:
            await admin.close()
        return failed

    async def _until_unlisted(self, admin: AIOKafkaAdminClient) -> None:
        """DeleteTopics answers once the controller has taken the deletion; the brokers'
        metadata drops the topics a moment later. "deleted" is said only once the broker
        no longer lists them (bounded by the caller's CLEANUP_TIMEOUT)."""
        created = set(self.created_topics)
        unlisted = 0  # twice in a row, 0.5 s apart: a client that re-creates one shows here
        while True:
            unlisted = 0 if created & set(await admin.list_topics()) else unlisted + 1
            if unlisted == 2:
                return
            await asyncio.sleep(0.1 if unlisted == 0 else 0.5)


async def _stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop a demo service's consumer, and close its cluster client even when the stop
    failed or timed out midway (aiokafka then leaves the fetcher and the metadata sync
    running): a metadata refresh for its topic after the cleanup's DeleteTopics would
    re-create the topic on a broker with ``auto.create.topics.enable`` (the default)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(consumer.stop(), 10)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(consumer_client(consumer).close(), 5)


def _names(topics: tuple[str, ...], groups: tuple[str, ...]) -> str:
    """``topics a, b and groups c, d`` (either part left out when empty)."""
    parts = []
    if topics:
        parts.append(f"topic{'s' if len(topics) > 1 else ''} {', '.join(topics)}")
    if groups:
        parts.append(f"group{'s' if len(groups) > 1 else ''} {', '.join(groups)}")
    return " and ".join(parts)
