"""A deterministic dashboard: the same every run (fixed times, rates and statuses).

Used by the snapshot tests and ``scripts/screenshots.py``, and handy for looking at the
dashboard without brokers::

    app = EvmonApp(sample_store(), sample_specs())
    # once mounted:
    app.feed(sample_events())
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from evmon.model import ConnectionState, ConnectionStatus, Event
from evmon.sources import Sink, StatusCallback
from evmon.store import EventStore
from evmon.tui.connections import SourceSpec

__all__ = ["BASE_TIME", "ScriptedSource", "sample_events", "sample_specs", "sample_store"]

#: 2025-03-14T09:26:53Z
BASE_TIME = 1_741_944_413.0

_CUSTOMERS = ["c-1042", "c-2210", "c-0007", "c-3391", "c-1175", "c-2804"]
_SKUS = ["SKU-4411", "SKU-0932", "SKU-7720", "SKU-1204"]
_REGIONS = ["eu", "us", "apac"]


def _json(value: object) -> bytes:
    return orjson.dumps(value)


def sample_events(count: int = 120) -> list[Event]:
    """``count`` events across NATS subjects, a JetStream stream and Kafka topics."""
    events: list[Event] = []
    kafka_offsets = [1040, 987, 1123]
    ledger_offset = 52_300
    stream_seq = 8_210
    for i in range(count):
        ts = BASE_TIME + i * 0.137
        region = _REGIONS[i % 3]
        order_id = f"ord-{7_311 + i}"
        customer = _CUSTOMERS[i % len(_CUSTOMERS)]
        kind = i % 8
        if kind in (0, 3):
            events.append(
                Event(
                    "nats",
                    f"orders.{region}.created",
                    _json(
                        {
                            "order_id": order_id,
                            "customer": customer,
                            "items": [{"sku": _SKUS[i % 4], "qty": 1 + i % 3}],
                            "total": round(19.9 + (i % 7) * 12.35, 2),
                            "currency": "EUR" if region == "eu" else "USD",
                        }
                    ),
                    ts,
                    (("Nats-Msg-Id", order_id.encode()), ("trace-id", f"4bf92f35{i:04x}".encode())),
                )
            )
        elif kind == 1:
            partition = i % 3
            events.append(
                Event(
                    "kafka",
                    "orders.events",
                    _json({"type": "OrderPaid", "order_id": order_id, "status": "paid"}),
                    ts,
                    (("content-type", b"application/json"),),
                    customer.encode(),
                    None,
                    partition,
                    kafka_offsets[partition],
                )
            )
            kafka_offsets[partition] += 1
        elif kind == 2:
            stream_seq += 1
            events.append(
                Event(
                    "nats",
                    f"inventory.{region}.reserved",
                    _json(
                        {"sku": _SKUS[i % 4], "reserved": 1 + i % 4, "warehouse": f"wh-{region}"}
                    ),
                    ts,
                    (),
                    None,
                    "INVENTORY",
                    None,
                    stream_seq,
                )
            )
        elif kind == 4:
            events.append(
                Event(
                    "kafka",
                    "payments.ledger",
                    _json({"entry": ledger_offset, "debit": customer, "amount_cents": 1990 + i}),
                    ts,
                    (),
                    f"acct-{i % 5}".encode(),
                    None,
                    0,
                    ledger_offset,
                )
            )
            ledger_offset += 1
        elif kind == 5:
            events.append(
                Event(
                    "nats",
                    "audit.login",
                    f"user {customer} signed in from 10.0.{i % 8}.{20 + i % 50} via sso".encode(),
                    ts,
                )
            )
        elif kind == 6:
            events.append(
                Event(
                    "kafka",
                    "telemetry.raw",
                    bytes([0x0A, 0x12, i % 256, 0x00, 0xFF, 0x7F]) + bytes(range(i % 5, 26)),
                    ts,
                    (),
                    None,
                    None,
                    1,
                    30_000 + i,
                )
            )
        else:
            events.append(
                Event(
                    "nats",
                    f"orders.{region}.shipped",
                    _json({"order_id": order_id, "carrier": "dhl", "eta_days": 1 + i % 4}),
                    ts,
                )
            )
    return events


def sample_store(capacity: int = 1_000, seconds: float = 5.0) -> EventStore:
    """A store whose clock stands still ``seconds`` after its rate baseline, so the events
    fed into it show steady rates (count / ``seconds``) that never change."""
    now = [0.0]
    store = EventStore(capacity, clock=lambda: now[0])
    store.rates()  # the baseline sample, before any event
    now[0] = seconds
    return store


class ScriptedSource:
    """A source that reports fixed statuses and reads nothing (for pictures and tests)."""

    def __init__(self, on_status: StatusCallback, statuses: Sequence[ConnectionStatus]) -> None:
        self.on_status = on_status
        self.statuses = statuses

    async def start(self, wait: float | None = 10.0) -> None:
        for status in self.statuses:
            self.on_status(status)

    async def close(self) -> None:
        return None


def _scripted(system: str, url: str, state: ConnectionState, detail: str = "") -> SourceSpec:
    status = ConnectionStatus(system, url, state, detail)  # type: ignore[arg-type]

    def factory(sink: Sink, on_status: StatusCallback) -> ScriptedSource:
        return ScriptedSource(on_status, [status])

    return SourceSpec(system, url, factory)  # type: ignore[arg-type]


def sample_specs(kafka_state: ConnectionState = "connected") -> list[SourceSpec]:
    """A NATS and a Kafka connection that report ``connected`` (Kafka: ``kafka_state``)."""
    detail = "broker unreachable (connection refused or timed out)"
    return [
        _scripted("nats", "nats://10.1.4.20:4222", "connected"),
        _scripted(
            "kafka",
            "kafka-1.prod:9092",
            kafka_state,
            detail if kafka_state != "connected" else "",
        ),
    ]
