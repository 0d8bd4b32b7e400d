"""Plausible shop events for the demo, reproducible from a seed.

``EventFactory`` is pure: given the same seed (and clock) it returns the same events in the
same order, so screenshots and tests built on ``--seed N`` see the same subjects, payloads
and headers every time. Only the pacing and the broker's timestamps vary. ``Generator``
publishes the factory's events to JetStream at a rate that drifts between about 5 and 40
messages per second, so the dashboard's rates and sparklines have something to show.

The mix includes what an operator meets in real streams: trace headers, a few
protobuf-encoded payloads (binary), a few truncated JSON documents, and failed payments
that a retrier gave up on and parked in the dead-letter stream.

Payload fields are ordered for the dashboard's one-line preview, which shows the first
ones: what happened (``type``) and what differs from row to row (amount and currency,
carrier, reason, name and country) come first; ids and the event's own ``event_id`` and
``at``, which look alike on every row, come last.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from evmon.demo.traps import Drift, Retries

#: ``retry``: a payment the gateway published again (``evmon.demo.traps``); ``drift``: an
#: event whose shape a newer producer changed.
EventKind = Literal["json", "binary", "malformed", "poison", "retry", "drift"]

#: Identifies the poison message on USERS that ``users-mailer`` keeps nak-ing.
POISON_MSG_ID = "evt-poison-users-mailer"
#: Identifies the poison record on the Kafka payments topic that stopped ``fraud-check``.
KAFKA_POISON_PAYMENT_ID = "pay_poison_0001"

MIN_RATE = 5.0
MAX_RATE = 40.0

FIRST_NAMES = (
    "Ana", "Ben", "Chen", "Dara", "Elif", "Farah", "Goran", "Hana", "Ivan", "Jonas",
    "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Vera", "Wei", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Novak", "Okafor", "Meyer", "Kim", "Rossi", "Dubois", "Larsen", "Haddad",
    "Tanaka", "Costa", "Kowalski", "Nguyen", "Byrne", "Alvarez",
)  # fmt: skip
DOMAINS = ("example.com", "mail.example.org", "example.net")
COUNTRIES = {
    "eu": ("DE", "FR", "NL", "ES", "IT", "PL", "SE", "PT"),
    "us": ("US",),
}
US_STATES = ("CA", "NY", "TX", "WA", "IL", "MA", "CO", "GA")
CURRENCY = {"eu": "EUR", "us": "USD"}
CARRIERS = {"eu": ("DHL", "PostNL", "GLS"), "us": ("UPS", "FedEx", "USPS")}
CATALOG = (
    ("SKU-1001", "Espresso beans 1kg", 24.90),
    ("SKU-1002", "Pour-over kettle", 49.00),
    ("SKU-1003", "Ceramic mug", 12.50),
    ("SKU-1004", "Hand grinder", 89.00),
    ("SKU-1005", "Paper filters x100", 6.90),
    ("SKU-1006", "Cold brew bottle", 19.90),
    ("SKU-1007", "Milk frother", 34.00),
    ("SKU-1008", "Decaf beans 500g", 14.50),
)
CARD_BRANDS = ("visa", "mastercard", "amex")
FAIL_REASONS = (
    "insufficient_funds",
    "card_declined",
    "expired_card",
    "do_not_honor",
    "processing_error",
)
PLANS = ("free", "plus", "pro")

#: (kind, weight): how often each event type is generated.
MIX: tuple[tuple[str, int], ...] = (
    ("users.created", 6),
    ("users.updated", 4),
    ("orders.created", 22),
    ("orders.shipped", 8),
    ("orders.cancelled", 2),
    ("payments.card.authorized", 14),
    ("payments.card.captured", 8),
    ("payments.card.failed", 5),
    ("payments.paypal.authorized", 3),
)
BINARY_SHARE = 0.04  # of orders.*.created: protobuf-encoded
MALFORMED_SHARE = 0.015  # of orders and payments events: truncated JSON
DLQ_SHARE = 0.5  # of failed payments: parked in the DLQ by the retrier


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """One event to publish. ``key`` is the natural partition key (order or user id), used
    for Kafka records. ``to_dlq`` marks a failed payment the retrier gives up on."""

    subject: str
    payload: bytes
    headers: tuple[tuple[str, str], ...]
    key: str
    kind: EventKind = "json"
    to_dlq: bool = False

    def header_dict(self) -> dict[str, str]:
        return dict(self.headers)

    def header(self, name: str) -> str | None:
        return self.header_dict().get(name)


@dataclass(slots=True)
class _User:
    user_id: str
    name: str
    email: str
    region: str
    country: str


@dataclass(slots=True)
class _Order:
    order_id: str
    user_id: str
    region: str
    total: float
    items: list[dict[str, Any]] = field(default_factory=list)
    payment_id: str | None = None


def rate_at(t: float) -> float:
    """Messages per second at ``t`` seconds into the demo: two slow waves between
    ``MIN_RATE`` and ``MAX_RATE`` (never a flat line, never a burst)."""
    mid = (MIN_RATE + MAX_RATE) / 2
    amp = (MAX_RATE - MIN_RATE) / 2
    wave = 0.7 * math.sin(2 * math.pi * t / 75) + 0.3 * math.sin(2 * math.pi * t / 17)
    return mid + amp * wave


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _pb_field(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: varint (wire type 0) or length-delimited (wire type 2)."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


class EventFactory:
    """Deterministic source of shop events: every random choice comes from one
    ``random.Random(seed)``, and time only from ``clock`` (inject a fixed clock for
    byte-identical payloads)."""

    def __init__(self, seed: int, clock: Callable[[], float] = time.time) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        self.count = 0
        self._next_user = 10001
        self._users: list[_User] = []
        self._open: list[_Order] = []  # created, not yet paid
        self._paid: list[_Order] = []  # authorized, not yet captured/shipped
        self.made = 0  # events of next()
        self.retries = Retries()
        self.drift = Drift()

    # ------------------------------------------------------------------ helpers

    def _hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def _headers(
        self, event_id: str, producer: str, content_type: str = "application/json"
    ) -> tuple[tuple[str, str], ...]:
        trace = f"00-{self._hex(128)}-{self._hex(64)}-01"
        return (
            ("traceparent", trace),
            ("Nats-Msg-Id", event_id),
            ("content-type", content_type),
            ("producer", producer),
        )

    def _event_id(self) -> str:
        self.count += 1
        return f"evt_{self.count:07d}{self._hex(24)}"

    def _json(
        self,
        subject: str,
        body: dict[str, Any],
        key: str,
        producer: str,
        *,
        may_break: bool = False,
        to_dlq: bool = False,
    ) -> DemoEvent:
        event_id = self._event_id()
        doc = {**body, "event_id": event_id, "at": _iso(self.clock())}
        payload = orjson.dumps(doc)
        kind: EventKind = "json"
        if may_break and self.rng.random() < MALFORMED_SHARE:
            payload = payload[: self.rng.randrange(len(payload) // 2, len(payload) - 1)]
            kind = "malformed"
        headers = self._headers(event_id, producer)
        return DemoEvent(subject, payload, headers, key, kind, to_dlq)

    def _user(self) -> _User:
        return self.rng.choice(self._users)

    # ------------------------------------------------------------------ event types

    def user_created(self) -> DemoEvent:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        region = "eu" if self.rng.random() < 0.6 else "us"
        user = _User(
            user_id=f"usr_{self._next_user}",
            name=f"{first} {last}",
            email=f"{first}.{last}{self.rng.randrange(1, 99)}@{self.rng.choice(DOMAINS)}".lower(),
            region=region,
            country=self.rng.choice(COUNTRIES[region]),
        )
        self._next_user += 1
        self._users.append(user)
        del self._users[:-500]
        body = {
            "type": "user.created",
            "name": user.name,
            "country": user.country,
            "plan": self.rng.choice(PLANS),
            "user_id": user.user_id,
            "email": user.email,
            "marketing_opt_in": self.rng.random() < 0.4,
        }
        return self._json("users.created", body, user.user_id, "accounts")

    def user_updated(self) -> DemoEvent:
        user = self._user()
        change = self.rng.choice(("plan", "country", "name"))
        value: str
        if change == "plan":
            value = self.rng.choice(PLANS)
        elif change == "country":
            value = self.rng.choice(COUNTRIES[user.region])
            user.country = value
        else:
            value = f"{user.name.split()[0]} {self.rng.choice(LAST_NAMES)}"
            user.name = value
        body = {
            "type": "user.updated",
            "changes": {change: value},
            "user_id": user.user_id,
            "email": user.email,
        }
        return self._json("users.updated", body, user.user_id, "accounts")

    def order_created(self) -> DemoEvent:
        user = self._user()
        region = user.region
        items: list[dict[str, Any]] = [
            {"sku": sku, "name": name, "qty": self.rng.randint(1, 3), "price": price}
            for sku, name, price in self.rng.sample(CATALOG, self.rng.randint(1, 3))
        ]
        total = round(sum(i["qty"] * i["price"] for i in items), 2)
        order = _Order(f"ord_{self._hex(40)}", user.user_id, region, total, items)
        self._open.append(order)
        del self._open[:-300]
        subject = f"orders.{region}.created"
        if self.rng.random() < BINARY_SHARE:
            return self._order_protobuf(subject, order)
        ship_to: dict[str, str] = {"country": user.country}
        if region == "us":
            ship_to["state"] = self.rng.choice(US_STATES)
        body = {
            "type": "order.created",
            "total": total,
            "currency": CURRENCY[region],
            "order_id": order.order_id,
            "user_id": user.user_id,
            "items": items,
            "ship_to": ship_to,
        }
        return self._json(subject, body, order.order_id, "checkout", may_break=True)

    def _order_protobuf(self, subject: str, order: _Order) -> DemoEvent:
        """The same order as a ``shop.v1.OrderCreated`` protobuf message (a legacy service
        still emits these), so the dashboard has real binary payloads to show."""
        event_id = self._event_id()
        msg = _pb_field(1, order.order_id) + _pb_field(2, order.user_id)
        msg += _pb_field(3, round(order.total * 100)) + _pb_field(4, CURRENCY[order.region])
        for item in order.items:
            msg += _pb_field(5, _pb_field(1, item["sku"]) + _pb_field(2, item["qty"]))
        msg += _pb_field(6, int(self.clock() * 1000))
        headers = (
            *self._headers(event_id, "checkout-legacy", "application/x-protobuf"),
            ("proto-type", "shop.v1.OrderCreated"),
        )
        return DemoEvent(subject, msg, headers, order.order_id, "binary")

    def order_shipped(self) -> DemoEvent:
        if not self._paid:
            return self.order_created()
        order = self._paid.pop(self.rng.randrange(len(self._paid)))
        body = {
            "type": "order.shipped",
            "carrier": self.rng.choice(CARRIERS[order.region]),
            "items": len(order.items),
            "tracking": f"{self.rng.randrange(10**11, 10**12)}",
            "order_id": order.order_id,
        }
        subject = f"orders.{order.region}.shipped"
        return self._json(subject, body, order.order_id, "warehouse", may_break=True)

    def order_cancelled(self) -> DemoEvent:
        if not self._open:
            return self.order_created()
        order = self._open.pop(self.rng.randrange(len(self._open)))
        body = {
            "type": "order.cancelled",
            "reason": self.rng.choice(("customer_request", "out_of_stock", "fraud_suspected")),
            "order_id": order.order_id,
        }
        subject = f"orders.{order.region}.cancelled"
        return self._json(subject, body, order.order_id, "checkout", may_break=True)

    def _payment(self, subject: str, order: _Order, status: str, **extra: Any) -> DemoEvent:
        body = {
            "type": f"payment.{status}",
            "amount": order.total,
            "currency": CURRENCY[order.region],
            **extra,
            "payment_id": order.payment_id,
            "order_id": order.order_id,
        }
        to_dlq = status == "failed" and self.rng.random() < DLQ_SHARE
        return self._json(
            subject, body, order.order_id, "payments-gateway", may_break=True, to_dlq=to_dlq
        )

    def payment_authorized(self, method: str = "card") -> DemoEvent:
        if not self._open:
            return self.order_created()
        order = self._open.pop(0)
        order.payment_id = f"pay_{self._hex(40)}"
        self._paid.append(order)
        del self._paid[:-300]
        extra: dict[str, Any] = {"method": method}
        if method == "card":
            extra["card"] = {
                "brand": self.rng.choice(CARD_BRANDS),
                "last4": f"{self.rng.randrange(10000):04d}",
            }
        return self._payment(f"payments.{method}.authorized", order, "authorized", **extra)

    def payment_captured(self) -> DemoEvent:
        if not self._paid:
            return self.payment_authorized()
        order = self.rng.choice(self._paid)
        return self._payment("payments.card.captured", order, "captured")

    def payment_failed(self) -> DemoEvent:
        if not self._open:
            return self.order_created()
        order = self._open.pop(0)
        order.payment_id = f"pay_{self._hex(40)}"
        return self._payment(
            "payments.card.failed",
            order,
            "failed",
            reason=self.rng.choice(FAIL_REASONS),
            attempt=self.rng.randint(1, 3),
        )

    def next(self) -> DemoEvent:
        """The next event of the mix (users first: orders need customers), or a payment the
        gateway publishes again (``evmon.demo.traps``)."""
        self.made += 1
        again = self.retries.due(self.made)
        if again is not None:
            return again
        if len(self._users) < 3:
            return self.user_created()
        kinds, weights = zip(*MIX, strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        make: dict[str, Callable[[], DemoEvent]] = {
            "users.created": self.user_created,
            "users.updated": self.user_updated,
            "orders.created": self.order_created,
            "orders.shipped": self.order_shipped,
            "orders.cancelled": self.order_cancelled,
            "payments.card.authorized": self.payment_authorized,
            "payments.card.captured": self.payment_captured,
            "payments.card.failed": self.payment_failed,
            "payments.paypal.authorized": lambda: self.payment_authorized("paypal"),
        }
        event = self.drift.apply(make[kind]())
        self.retries.offer(event, self.made)
        return event

    # ------------------------------------------------------------------ the story

    def poison_user_update(self) -> DemoEvent:
        """A ``users.updated`` whose email is null: ``users-mailer`` cannot send to it and
        naks it forever, so the consumer is stuck on it until someone skips it."""
        user = self._user()
        body = {
            "type": "user.updated",
            "changes": {"email": None},
            "user_id": user.user_id,
            "email": None,
        }
        self._event_id()
        doc = {**body, "event_id": POISON_MSG_ID, "at": _iso(self.clock())}
        headers = self._headers(POISON_MSG_ID, "accounts-import")
        return DemoEvent("users.updated", orjson.dumps(doc), headers, user.user_id, "poison")

    def opening(self) -> list[DemoEvent]:
        """What is in the streams before the services start: a few users, then the poison
        message on USERS (so ``users-mailer`` is stuck from the first second), some orders,
        and failed payments already parked in the DLQ."""
        events = [self.user_created() for _ in range(4)]
        events.append(self.poison_user_update())
        for _ in range(12):
            events.append(self.order_created())
        for _ in range(4):
            events.append(self.payment_authorized())
        for _ in range(4):
            events.append(replace(self.payment_failed(), to_dlq=True))
        return events


def kafka_poison_payment(clock: Callable[[], float] = time.time) -> DemoEvent:
    """A payment whose amount is the string ``"12,50 EUR"`` (a legacy POS terminal's
    format): ``fraud-check`` cannot score it and stops with its offset on it. Fixed content
    (no random draws), so adding Kafka to the demo does not change the NATS events."""
    event_id = "evt-poison-fraud-check"
    body = {
        "type": "payment.authorized",
        "amount": "12,50 EUR",
        "currency": "EUR",
        "method": "card",
        "payment_id": KAFKA_POISON_PAYMENT_ID,
        "order_id": "ord_00c0ffee00",
        "event_id": event_id,
        "at": _iso(clock()),
    }
    headers = (
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("content-type", "application/json"),
        ("producer", "pos-terminal-legacy"),
    )
    return DemoEvent(
        "payments.card.authorized", orjson.dumps(body), headers, "ord_00c0ffee00", "poison"
    )


def dlq_copy(event: DemoEvent, stream: str, seq: int, attempts: int = 5) -> DemoEvent:
    """The dead-letter record the payments retrier writes after its last attempt: the
    original payload and trace, plus where it came from, so it can be replayed there."""
    reason = "unknown"
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
        reason = str(orjson.loads(event.payload).get("reason", reason))
    kept = [(k, v) for k, v in event.headers if k not in ("Nats-Msg-Id", "producer")]
    msg_id = event.header("Nats-Msg-Id") or f"{stream}-{seq}"
    headers = (
        *kept,
        ("Nats-Msg-Id", f"{msg_id}-dlq"),
        ("producer", "payments-retrier"),
        ("dlq-reason", f"retries exhausted: {reason}"),
        ("dlq-attempts", str(attempts)),
        ("original-subject", event.subject),
        ("original-stream", stream),
        ("original-seq", str(seq)),
    )
    return DemoEvent(f"dlq.{event.subject}", event.payload, headers, event.key, event.kind)


#: Publishes one event; returns the JetStream (stream, sequence) of the stored message.
Publish = Callable[[DemoEvent], Awaitable[tuple[str, int]]]
#: Receives every generated event too (the Kafka mirror).
Mirror = Callable[[DemoEvent], Awaitable[None]]


class Generator:
    """Publishes the factory's events at ``rate_at`` pace and parks DLQ copies.

    Pacing follows the loop clock: if a publish is slow the schedule does not try to catch
    up with a burst, it just continues from now.
    """

    def __init__(
        self,
        factory: EventFactory,
        publish: Publish,
        mirrors: Sequence[Mirror] = (),
        on_problem: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.factory = factory
        self._publish = publish
        self.mirrors = list(mirrors)
        self.on_problem = on_problem
        self.published = 0
        self.dlq = 0

    async def emit(self, event: DemoEvent) -> tuple[str, int]:
        """Publish one event (and its DLQ copy, and its mirrors); its stream and sequence."""
        stream, seq = await self._publish(event)
        self.published += 1
        if event.to_dlq:
            await self._publish(dlq_copy(event, stream, seq))
            self.dlq += 1
        for mirror in self.mirrors:
            await mirror(event)
        return stream, seq

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        next_at = start
        while True:
            now = loop.time()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            try:
                await self.emit(self.factory.next())
            except asyncio.CancelledError:
                raise
            except Exception as err:  # keep generating; the demo must not die of a hiccup
                self.on_problem(f"generator: {type(err).__name__}: {err}")
                await asyncio.sleep(0.5)
            now = loop.time()
            next_at = max(next_at + 1.0 / rate_at(now - start), now - 0.5)
