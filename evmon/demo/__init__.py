"""``evmon demo``: an embedded nats-server with a small shop running on it.

Four streams (ORDERS, PAYMENTS, USERS, DLQ), a generator of plausible events, and three
durable consumers in the three states an operator meets: healthy, falling behind, and stuck
on a poison message; optionally the same on Kafka. Everything lives inside
``demo_system()``, which guarantees that no process and no temp dir outlive it::

    async with demo_system(seed=1) as demo:
        print(demo.nats_url, demo.streams, demo.poison)

The package imports the broker clients but never Textual: the dashboard runs *inside* the
context manager, not the other way round.
"""

from __future__ import annotations

from evmon.demo.consumers import CONSUMERS, STREAMS, DemoConsumer
from evmon.demo.generator import KAFKA_POISON_PAYMENT_ID, POISON_MSG_ID, DemoEvent, EventFactory
from evmon.demo.kafka import GROUPS as KAFKA_GROUPS
from evmon.demo.kafka import ORDERS_TOPIC, PAYMENTS_TOPIC, KafkaPoison
from evmon.demo.server import find_nats_server
from evmon.demo.system import DemoSystem, PoisonMessage, demo_system

__all__ = [
    "CONSUMERS",
    "KAFKA_GROUPS",
    "KAFKA_POISON_PAYMENT_ID",
    "ORDERS_TOPIC",
    "PAYMENTS_TOPIC",
    "POISON_MSG_ID",
    "STREAMS",
    "DemoConsumer",
    "DemoEvent",
    "DemoSystem",
    "EventFactory",
    "KafkaPoison",
    "PoisonMessage",
    "demo_system",
    "find_nats_server",
]
