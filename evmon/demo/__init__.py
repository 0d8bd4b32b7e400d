"""``evmon demo``: an embedded nats-server with a small shop running on it.

Four streams (ORDERS, PAYMENTS, USERS, DLQ), a generator of plausible events, and three
durable consumers in the three states an operator meets: healthy, falling behind, and stuck
on a poison message; optionally the same on Kafka (a user's, or with ``kafka="local"`` a
broker of the demo's own). Everything lives inside ``demo_system()``, which guarantees that
no process and no temp dir outlive it::

    async with demo_system(seed=1) as demo:
        print(demo.nats_url, demo.streams, demo.poison)

The package imports the broker clients but never Textual: the dashboard runs *inside* the
context manager, not the other way round. The root loads a submodule only when one of its
names is first used (PEP 562), so the test harness can use ``evmon.demo.kafka_jars`` and
``kafka_local`` without loading the NATS and Kafka clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evmon.lazy import lazy_exports

if TYPE_CHECKING:
    from evmon.demo.consumers import CONSUMERS as CONSUMERS
    from evmon.demo.consumers import STREAMS as STREAMS
    from evmon.demo.consumers import DemoConsumer as DemoConsumer
    from evmon.demo.generator import KAFKA_POISON_PAYMENT_ID as KAFKA_POISON_PAYMENT_ID
    from evmon.demo.generator import POISON_MSG_ID as POISON_MSG_ID
    from evmon.demo.generator import DemoEvent as DemoEvent
    from evmon.demo.generator import EventFactory as EventFactory
    from evmon.demo.kafka import GROUPS as KAFKA_GROUPS
    from evmon.demo.kafka import ORDERS_TOPIC as ORDERS_TOPIC
    from evmon.demo.kafka import PAYMENTS_TOPIC as PAYMENTS_TOPIC
    from evmon.demo.kafka import KafkaPoison as KafkaPoison
    from evmon.demo.server import find_nats_server as find_nats_server
    from evmon.demo.system import DemoSystem as DemoSystem
    from evmon.demo.system import PoisonMessage as PoisonMessage
    from evmon.demo.system import demo_system as demo_system

#: A literal list, so mypy and ruff see ``KAFKA_GROUPS`` (``kafka.GROUPS``) as exported.
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

#: The submodule that defines each public name.
__getattr__, __dir__, _exported = lazy_exports(
    __name__,
    globals(),
    {
        "consumers": ["CONSUMERS", "STREAMS", "DemoConsumer"],
        "generator": ["KAFKA_POISON_PAYMENT_ID", "POISON_MSG_ID", "DemoEvent", "EventFactory"],
        "kafka": [("KAFKA_GROUPS", "GROUPS"), "ORDERS_TOPIC", "PAYMENTS_TOPIC", "KafkaPoison"],
        "server": ["find_nats_server"],
        "system": ["DemoSystem", "PoisonMessage", "demo_system"],
    },
)
assert sorted(_exported) == sorted(__all__)
