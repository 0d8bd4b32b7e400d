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

import importlib
from typing import TYPE_CHECKING, Any

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

#: Public name -> (the submodule that defines it, its name there).
_HOME = {
    "CONSUMERS": ("consumers", "CONSUMERS"),
    "STREAMS": ("consumers", "STREAMS"),
    "DemoConsumer": ("consumers", "DemoConsumer"),
    "KAFKA_POISON_PAYMENT_ID": ("generator", "KAFKA_POISON_PAYMENT_ID"),
    "POISON_MSG_ID": ("generator", "POISON_MSG_ID"),
    "DemoEvent": ("generator", "DemoEvent"),
    "EventFactory": ("generator", "EventFactory"),
    "KAFKA_GROUPS": ("kafka", "GROUPS"),
    "ORDERS_TOPIC": ("kafka", "ORDERS_TOPIC"),
    "PAYMENTS_TOPIC": ("kafka", "PAYMENTS_TOPIC"),
    "KafkaPoison": ("kafka", "KafkaPoison"),
    "find_nats_server": ("server", "find_nats_server"),
    "DemoSystem": ("system", "DemoSystem"),
    "PoisonMessage": ("system", "PoisonMessage"),
    "demo_system": ("system", "demo_system"),
}

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


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = home
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
