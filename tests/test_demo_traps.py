"""The demo shows each trap of event subscription (``evmon.demo.traps``) on real brokers.

``evmon demo --serve`` runs in a subprocess and evmon's own commands find the traps on it:
``evmon interest`` a subject nobody listens to and a wrong-case subscriber (checked against
the server's ``/connz``), ``tail --filter dup`` the gateway's re-publish (stored twice: the
stream's sequence of both copies), ``tail --filter drift`` warehouse-v2's renamed field. The
dashboard ``evmon demo`` runs has the server's monitoring endpoint, so its interest screen
works as it is. On Kafka, the never-committed group is NOCOMMIT in ``evmon lag`` and Kafka's
own tool shows no current offset for it.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from textual.message import Message

from evmon.commands.demo import dashboard_kwargs
from evmon.demo import demo_system
from evmon.demo.traps import (
    ANNOUNCE_SUBJECT,
    DRIFT_FROM,
    DRIFT_TO,
    NOTIFIER_SUBJECT,
    STOCK_SUBJECT,
)
from evmon.tui.dashboard import dashboard_app
from evmon.tui.messages import InterestRoundDone
from evmon.tui.screens.interest import InterestScreen
from tests.brokers import ExternalKafka, KafkaBroker
from tests.helpers import evmon_cmd, run_evmon
from tests.test_demo import DemoProcess
from tests.waiting import async_wait_for, wait_for

MONITOR = re.compile(r"monitoring \(subscriptions, connections\) at (http://\S+)")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str]]:
    """``evmon demo --serve``: its NATS URL and monitoring URL."""
    demo = DemoProcess("--seed", "5")
    try:
        banner = demo.banner()
        found = MONITOR.search(demo.stdout)
        assert found, demo.stdout
        yield banner.url, found[1]
        assert demo.stop(signal.SIGINT) == 0, demo.stderr
    finally:
        demo.kill()


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _rows(url: str, monitor: str) -> dict[str, dict[str, Any]] | None:
    """One 2 s window of ``evmon interest --format json``, by subject, once it has the
    three trap rows (the stock alerts come every few seconds)."""
    args = ["interest", "--nats", url, "--nats-monitor", monitor, "--seconds", "2"]
    done = run_evmon([*args, "--format", "json"])
    assert done.returncode == 0, done.stderr.decode()
    rows = {r["subject"]: r for r in json.loads(done.stdout)}
    return rows if {STOCK_SUBJECT, ANNOUNCE_SUBJECT, NOTIFIER_SUBJECT} <= set(rows) else None


def test_interest_shows_the_subject_nobody_hears_and_the_wrong_case(
    served: tuple[str, str],
) -> None:
    url, monitor = served
    rows = wait_for(lambda: _rows(url, monitor), timeout=90, message="the three trap rows")
    assert rows is not None
    stock, announce, notifier = rows[STOCK_SUBJECT], rows[ANNOUNCE_SUBJECT], rows[NOTIFIER_SUBJECT]
    assert (stock["issue"], stock["subscribers"]) == ("no-subscriber", 0) and stock["msgs"] > 0
    assert (announce["issue"], announce["near"], announce["subscribers"]) == (
        "near-miss",
        [NOTIFIER_SUBJECT],
        0,
    )
    assert announce["msgs"] > 0
    assert (notifier["issue"], notifier["near"], notifier["msgs"]) == (
        "near-miss",
        [ANNOUNCE_SUBJECT],
        0,
    )
    assert notifier["subscribers"] == 1
    # the server's own answer: the notifier holds the wrong-case subscription, nobody the others
    conns = _json(f"{monitor}/connz?subs=1")["connections"]
    held = {(c.get("name"), s) for c in conns for s in c.get("subscriptions_list") or ()}
    assert ("demo-notifier", NOTIFIER_SUBJECT) in held
    assert not {s for _, s in held} & {STOCK_SUBJECT, ANNOUNCE_SUBJECT, "inventory.>", "shop.>"}


def _records(args: list[str]) -> tuple[list[dict[str, Any]], str]:
    done = run_evmon(["tail", *args, "--format", "jsonl", "--timeout", "90"], timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return [orjson.loads(line) for line in done.stdout.splitlines()], done.stderr.decode()


def _msg_id(record: dict[str, Any]) -> str:
    return next(str(v) for k, v in record["headers"] if k == "Nats-Msg-Id")


def test_tail_finds_the_duplicate_stored_twice(served: tuple[str, str]) -> None:
    url, _ = served
    (dup,), said = _records(
        ["--nats", url, "--stream", "PAYMENTS", "--from", "first", "--filter", "dup", "-n", "1"]
    )
    assert dup["subject"] == "payments.card.captured"
    assert "evmon: 1 duplicates (header:Nats-Msg-Id on NATS" in said, said
    upto, _ = _records(
        ["--nats", url, "--stream", "PAYMENTS", "--from", "first", "-n", str(dup["offset"])]
    )
    same = [r for r in upto if _msg_id(r) == _msg_id(dup)]
    assert len(same) == 2 and same[0]["offset"] < dup["offset"] == same[1]["offset"]
    assert same[0]["data"] == same[1]["data"]  # the same payment, stored again by PAYMENTS


def test_tail_finds_the_drifted_shipment(served: tuple[str, str]) -> None:
    url, _ = served
    (drifted,), said = _records(
        ["--nats", url, "--stream", "ORDERS", "--from", "first", "--filter", "drift", "-n", "1"]
    )
    assert drifted["subject"].endswith(".shipped")
    assert DRIFT_TO in drifted["json"] and DRIFT_FROM not in drifted["json"]
    assert f"missing: {DRIFT_FROM}; added: {DRIFT_TO}" in said, said


async def test_the_demo_dashboard_interest_screen_works_out_of_the_box() -> None:
    rounds: list[InterestRoundDone] = []

    def hook(message: Message) -> None:
        if isinstance(message, InterestRoundDone):
            rounds.append(message)

    async with demo_system(seed=8) as demo:
        kwargs = dashboard_kwargs(demo)
        assert kwargs["nats_monitor"] == demo.nats_monitor
        app = dashboard_app(**kwargs, lag_interval=1.0, blink=False)
        async with app.run_test(size=(140, 40), message_hook=hook) as pilot:
            await pilot.press("i")
            assert isinstance(app.screen, InterestScreen)

            def unheard() -> set[str] | None:
                for r in rounds:
                    dropped = {x.subject for x in (r.report.rows if r.report else ()) if x.dropped}
                    if {STOCK_SUBJECT, ANNOUNCE_SUBJECT} <= dropped:
                        return dropped
                return None

            await async_wait_for(unheard, timeout=60, message="the unheard demo subjects")
            assert app.screen.error is None


async def test_the_never_committed_group_is_nocommit(
    kafka_broker: KafkaBroker | ExternalKafka, kafka_bootstrap: str, unique: str
) -> None:
    async with demo_system(seed=6, kafka=kafka_bootstrap, kafka_prefix=f"{unique}-") as demo:
        kd = demo.kafka_demo
        assert kd is not None
        group = kd.order_audit
        assert group == f"{unique}-order-audit" and group in demo.kafka_groups
        # it has members and reads (from the newest record) while the demo produces
        await async_wait_for(lambda: kd.audited > 0, timeout=90, message="order-audit reading")

        async def kafka_rows() -> list[dict[str, Any]] | None:
            rows = await asyncio.to_thread(kafka_broker.describe_group, group)
            return rows if rows and all(r["CONSUMER-ID"] for r in rows) else None

        rows = await async_wait_for(kafka_rows, timeout=60, message="order-audit members")
        assert all(r["CURRENT-OFFSET"] is None for r in rows), rows  # Kafka: no commit

        def lag() -> list[dict[str, Any]] | None:
            args = ["lag", "--kafka", kafka_bootstrap, "--group", group, "--format", "json"]
            done = subprocess.run(evmon_cmd(*args), capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr.decode()
            got = [r for r in json.loads(done.stdout) if r["group"] == group]
            return got if len(got) == 3 else None

        lag_rows = await asyncio.to_thread(wait_for, lag, 60, 0.2, "evmon lag rows")
        assert lag_rows is not None
        assert {r["status"] for r in lag_rows} == {"NOCOMMIT"}, lag_rows
        assert all(r["committed"] is None and r["topic"] == kd.orders_topic for r in lag_rows)
        assert kd.audited > 0  # consuming all along, never committing
