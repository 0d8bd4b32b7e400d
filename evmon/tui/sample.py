"""A deterministic set of events: the same every run (fixed times, no randomness).

Used by the snapshot tests, ``scripts/screenshots.py`` and anyone who wants to look at the
dashboard without brokers: ``EvmonApp(EventStore(clock=lambda: 0.0))`` then
``app.feed(sample_events())`` once mounted.
"""

from __future__ import annotations

import orjson

from evmon.model import Event

__all__ = ["BASE_TIME", "sample_events"]

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
