"""The demo's JetStream side: its streams, and three services consuming them.

The services are ordinary durable pull consumers, written the way real services are, each
with its own connection. Their behaviour is chosen so that every state the lag screen knows
is on screen from the first second, and the operator actions have something real to fix:

- ``orders-projector`` (ORDERS) fetches in batches and acks at once: healthy, pending ~0.
- ``payments-ledger`` (PAYMENTS) needs about a second per payment, slower than payments
  arrive: it keeps moving, but ``num_pending`` only grows.
- ``users-mailer`` (USERS) naks a ``users.updated`` with a null email (``poison``) and the
  consumer redelivers it forever (``max_deliver`` unlimited, ``max_ack_pending`` 1): the
  ack floor never moves until someone skips (terms) the message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import nats
import nats.errors
import nats.js.api
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from evmon.demo.traps import DUPLICATE_WINDOW

#: name -> subjects. DLQ holds dead letters of any stream under ``dlq.<original subject>``.
STREAMS: dict[str, str] = {
    "ORDERS": "orders.>",
    "PAYMENTS": "payments.>",
    "USERS": "users.>",
    "DLQ": "dlq.>",
}
STREAM_DESCRIPTIONS = {
    "ORDERS": "order lifecycle: created, shipped, cancelled (eu and us)",
    "PAYMENTS": "card and paypal payments: authorized, captured, failed",
    "USERS": "accounts: created, updated",
    "DLQ": "dead letters: failed payments the retrier gave up on",
}
#: Keeps a long-running demo's temp dir small.
STREAM_MAX_BYTES = 64 * 1024 * 1024
#: JetStream's own default (seconds).
DEFAULT_DUPLICATE_WINDOW = 120.0

LEDGER_SECONDS_PER_PAYMENT = 1.0
MAILER_RETRY_DELAY = 1.0
FETCH_TIMEOUT = 1.0

Behaviour = Literal["healthy", "lagging", "stuck"]


@dataclass(frozen=True, slots=True)
class DemoConsumer:
    stream: str
    name: str
    behaviour: Behaviour
    description: str


CONSUMERS: tuple[DemoConsumer, ...] = (
    DemoConsumer(
        "ORDERS",
        "orders-projector",
        "healthy",
        "projects orders into a read model; fetches in batches and acks at once",
    ),
    DemoConsumer(
        "PAYMENTS",
        "payments-ledger",
        "lagging",
        f"books each payment in ~{LEDGER_SECONDS_PER_PAYMENT:g} s, slower than they arrive",
    ),
    DemoConsumer(
        "USERS",
        "users-mailer",
        "stuck",
        "mails users; naks a users.updated with a null email forever (max_deliver unlimited)",
    ),
)

Problem = Callable[[str], None]


async def connect(url: str, name: str, on_problem: Problem) -> Client:
    """A quiet, persistent connection: errors go to ``on_problem`` (never to stderr, which
    would draw over the dashboard), and it reconnects forever."""

    async def error_cb(err: Exception) -> None:
        on_problem(f"{name}: {type(err).__name__}: {err}")

    return await nats.connect(
        url,
        name=name,
        error_cb=error_cb,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
    )


async def create_streams(js: JetStreamContext) -> None:
    """The four streams. PAYMENTS keeps a ``Nats-Msg-Id`` for only ``DUPLICATE_WINDOW``
    seconds, less than the payments gateway's retry backoff: its re-publishes are stored
    twice (the duplicate trap of ``evmon.demo.traps``); the others keep JetStream's 2 min."""
    for name, subjects in STREAMS.items():
        await js.add_stream(
            name=name,
            subjects=[subjects],
            description=STREAM_DESCRIPTIONS[name],
            max_bytes=STREAM_MAX_BYTES,
            allow_direct=True,
            duplicate_window=DUPLICATE_WINDOW if name == "PAYMENTS" else DEFAULT_DUPLICATE_WINDOW,
        )


async def create_consumers(js: JetStreamContext) -> None:
    api = nats.js.api
    for c in CONSUMERS:
        await js.add_consumer(
            c.stream,
            api.ConsumerConfig(
                durable_name=c.name,
                description=c.description,
                ack_policy=api.AckPolicy.EXPLICIT,
                deliver_policy=api.DeliverPolicy.ALL,
                ack_wait=30,
                max_deliver=-1,
                max_ack_pending=1 if c.behaviour == "stuck" else 1000,
            ),
        )


def mailable(payload: bytes) -> bool:
    """What ``users-mailer`` can send: a JSON user event with a string email."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    email = doc.get("email") if isinstance(doc, dict) else None
    return isinstance(email, str) and "@" in email


class Service:
    """One consumer's service: own connection, fetch loop, per-message handling."""

    def __init__(self, url: str, consumer: DemoConsumer, on_problem: Problem) -> None:
        self.url = url
        self.consumer = consumer
        self.on_problem = on_problem
        self.nc: Client | None = None
        self.acked = 0
        self.naked = 0
        self._handle: Callable[[list[Msg]], Awaitable[None]] = {
            "healthy": self._project,
            "lagging": self._book,
            "stuck": self._mail,
        }[consumer.behaviour]
        self._batch = 100 if consumer.behaviour == "healthy" else 1

    async def run(self) -> None:
        self.nc = await connect(self.url, f"demo-{self.consumer.name}", self.on_problem)
        sub = await self.nc.jetstream().pull_subscribe_bind(
            self.consumer.name, stream=self.consumer.stream
        )
        while True:
            try:
                msgs = await sub.fetch(self._batch, timeout=FETCH_TIMEOUT)
            except TimeoutError:  # nats-py's own, or asyncio's from a batch fetch: nothing new
                continue
            except asyncio.CancelledError:
                raise
            except Exception as err:  # reconnecting, server busy: a service retries
                self.on_problem(f"{self.consumer.name}: {type(err).__name__}: {err}")
                await asyncio.sleep(0.5)
                continue
            await self._handle(msgs)

    async def _project(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()
            self.acked += 1

    async def _book(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await asyncio.sleep(LEDGER_SECONDS_PER_PAYMENT)  # the ledger's (simulated) work
            await msg.ack()
            self.acked += 1

    async def _mail(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            if mailable(msg.data):
                await msg.ack()
                self.acked += 1
            else:
                await msg.nak(delay=MAILER_RETRY_DELAY)
                self.naked += 1

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 3)
