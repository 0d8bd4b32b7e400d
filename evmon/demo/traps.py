"""The traps of event subscription, on the demo's shop, so each one has something to show.

Each is what real services get wrong, shown by one screen, command or filter term:

- **nobody listens** (``evmon interest``, ``i``): the warehouse publishes
  ``inventory.stock.low`` on core NATS; the reorder service that should subscribe was never
  deployed, so every alert is dropped (``no-subscriber``).
- **wrong case** (``near-miss``): checkout announces new orders on core
  ``shop.orders.created``; the notifier subscribed to ``Shop.Orders.Created`` and has never
  received one. Neither side logs anything.
- **a duplicate** (``--filter dup``): the payments gateway re-publishes a captured payment
  whose PubAck it did not get, with the same ``Nats-Msg-Id``, after a backoff longer than
  the PAYMENTS stream's ``duplicate_window`` (``DUPLICATE_WINDOW``): the stream stores it
  twice and every consumer sees it twice (so does Kafka: the same key and payload).
- **drift** (``--filter drift``): a new warehouse release (``warehouse-v2``) renamed
  ``tracking`` to ``tracking_number`` in some ``orders.*.shipped`` events.
- **a never-committed Kafka group** (``NOCOMMIT`` in ``evmon lag``): ``order-audit``, in
  ``evmon.demo.kafka``, reads from the newest record and never commits.

The duplicate and the drift are made by ``EventFactory`` (deterministic, counter-based: no
extra random draws, so a seed's other events stay as they were); the core-NATS traps run
beside the generator on connections of their own (``CoreTraps``, ``Notifier``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from nats.aio.client import Client

    from evmon.demo.generator import DemoEvent

#: Core NATS subjects of the traps (no JetStream stream captures them).
ANNOUNCE_SUBJECT = "shop.orders.created"
NOTIFIER_SUBJECT = "Shop.Orders.Created"
STOCK_SUBJECT = "inventory.stock.low"
#: PAYMENTS keeps a Nats-Msg-Id this long (seconds): shorter than the gateway's backoff.
DUPLICATE_WINDOW = 0.5
#: The gateway re-publishes every ``RETRY_EVERY``-th captured payment (the first one too),
#: ``RETRY_AFTER`` events later (at most 40 events a second: over a second later).
RETRY_EVERY = 12
RETRY_AFTER = 60
#: Every ``DRIFT_EVERY``-th shipped order comes from ``warehouse-v2``.
DRIFT_EVERY = 3
DRIFT_FROM, DRIFT_TO = "tracking", "tracking_number"
#: The warehouse's simulated stock per SKU, and the level that raises an alert.
STOCK_START = 20
STOCK_LOW = 10


class Retries:
    """The payments gateway's re-publishes: which captured payments, and when again."""

    def __init__(self) -> None:
        self.captured = 0
        self._due: deque[tuple[int, DemoEvent]] = deque()

    def offer(self, event: DemoEvent, made: int) -> None:
        if event.subject != "payments.card.captured" or event.kind != "json":
            return
        self.captured += 1
        if self.captured % RETRY_EVERY == 1:
            self._due.append((made + RETRY_AFTER, replace(event, kind="retry", to_dlq=False)))

    def due(self, made: int) -> DemoEvent | None:
        if self._due and self._due[0][0] <= made:
            return self._due.popleft()[1]
        return None


class Drift:
    """``warehouse-v2``'s shipped events: ``tracking`` renamed, field order kept."""

    def __init__(self) -> None:
        self.shipped = 0

    def apply(self, event: DemoEvent) -> DemoEvent:
        if event.kind != "json" or not event.subject.endswith(".shipped"):
            return event
        self.shipped += 1
        if self.shipped % DRIFT_EVERY:
            return event
        doc = orjson.loads(event.payload)
        renamed = {(DRIFT_TO if k == DRIFT_FROM else k): v for k, v in doc.items()}
        headers = tuple((k, "warehouse-v2" if k == "producer" else v) for k, v in event.headers)
        return replace(event, payload=orjson.dumps(renamed), headers=headers, kind="drift")


class CoreTraps:
    """A generator mirror: for the orders it sees, checkout's core announcement and the
    warehouse's low-stock alerts, published on core NATS (nobody stores them)."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.announced = 0
        self.alerts = 0
        self._stock: dict[str, int] = {}

    async def mirror(self, event: DemoEvent) -> None:
        if event.kind != "json" or not event.subject.startswith("orders."):
            return
        if not event.subject.endswith(".created"):
            return
        doc = orjson.loads(event.payload)
        trace = dict(event.headers).get("traceparent", "")
        announce = {
            "type": "order.created",
            "total": doc.get("total"),
            "currency": doc.get("currency"),
            "order_id": doc.get("order_id"),
            "user_id": doc.get("user_id"),
            "event_id": f"{doc.get('event_id')}-announce",
            "at": doc.get("at"),
        }
        headers = {"traceparent": trace, "producer": "checkout"}
        await self.nc.publish(ANNOUNCE_SUBJECT, orjson.dumps(announce), headers=headers)
        self.announced += 1
        for item in doc.get("items") or ():
            sku = str(item.get("sku"))
            self._stock[sku] = self._stock.get(sku, STOCK_START) - int(item.get("qty") or 1)
            if self._stock[sku] <= STOCK_LOW:
                alert = {
                    "type": "stock.low",
                    "sku": sku,
                    "on_hand": max(self._stock[sku], 0),
                    "reorder_at": STOCK_LOW,
                    "warehouse": "eu-1" if ".eu." in event.subject else "us-1",
                    "at": doc.get("at"),
                }
                hdrs = {"traceparent": trace, "producer": "warehouse"}
                await self.nc.publish(STOCK_SUBJECT, orjson.dumps(alert), headers=hdrs)
                self.alerts += 1
                self._stock[sku] = STOCK_START  # restocked (the alert is what matters)


class Notifier:
    """The notifier service, subscribed to the wrong case: it never hears an order."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.heard = 0

    async def run(self) -> None:
        async def on_order(_msg: object) -> None:
            self.heard += 1

        await self.nc.subscribe(NOTIFIER_SUBJECT, cb=on_order)
        await asyncio.Event().wait()  # a service runs until it is stopped

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.nc.close(), 3)


__all__ = [
    "ANNOUNCE_SUBJECT",
    "DUPLICATE_WINDOW",
    "NOTIFIER_SUBJECT",
    "STOCK_SUBJECT",
    "CoreTraps",
    "Drift",
    "Notifier",
    "Retries",
]
