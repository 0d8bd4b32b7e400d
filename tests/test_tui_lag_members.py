"""The lag screen's NOCOMMIT rows and the members lines under the Kafka table, driven by Pilot:
against a real Kafka (two aiokafka members of a group on ``latest`` that never commits, reading
while a producer writes) and over scripted rows (``LagScreen(live=False)``, no broker).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from evmon.config import KafkaSettings, NatsSettings
from evmon.lag import KafkaLagRow, KafkaMember, nocommit_note
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import kafka_spec
from evmon.tui.sample import BASE_TIME, sample_specs, sample_store
from evmon.tui.screens.lag import LagScreen
from evmon.tui.widgets.lag_detail import MEMBERS_SHOWN, kafka_detail
from evmon.tui.widgets.lag_tables import SEP, group_key
from tests.kafka_kit import create_topic, delete_groups, produce_split
from tests.waiting import async_wait_for

SIZE = (160, 44)
SPLIT = {0: 34, 1: 33, 2: 33}


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def pkey(group: str, topic: str, partition: int) -> str:
    return SEP.join(("p", group, topic, str(partition)))


@pytest.mark.kafka
async def test_never_committed_group_shows_nocommit_and_its_members(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = f"lag.{unique}", f"{unique}-latest"
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    consumers = [
        AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                         client_id=f"svc-{i}", enable_auto_commit=False,
                         auto_offset_reset="latest")
        for i in range(2)
    ]  # fmt: skip

    async def serve(consumer: AIOKafkaConsumer) -> None:
        while True:  # reads, never commits
            await consumer.getmany(timeout_ms=200)

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    tasks: list[asyncio.Task[None]] = []
    try:
        for consumer in consumers:
            await consumer.start()
            tasks.append(asyncio.create_task(serve(consumer)))
        await producer.start()
        await async_wait_for(
            lambda: sorted(len(c.assignment()) for c in consumers) == [1, 2],
            timeout=60,
            message="two members sharing three partitions",
        )
        app = EvmonApp(
            EventStore(1_000),
            [kafka_spec(KafkaSettings(bootstrap=kafka_bootstrap), topics=[topic])],
            groups=[group],
            blink=False,
        )
        async with app.run_test(size=SIZE) as pilot:
            screen = LagScreen(interval=0.3, window=3)
            app.install_screen(screen, "lag")
            await pilot.press("l")

            def described() -> bool:
                rows = screen.kafka_rows
                return len(rows) == 3 and all(
                    len(r.member_list) == 2 and all(m.assignment for m in r.member_list)
                    for r in rows
                )

            async def written_and_judged() -> bool:
                await producer.send_and_wait(topic, b"more", partition=0)
                return screen.refreshes >= 4 and described()

            # several refreshes while the producer writes and the members read: the window
            # would call an unmoving position with members STALL; these rows are NOCOMMIT
            await async_wait_for(written_and_judged, timeout=60, message="4 refreshes")
            table = screen.kafka_table
            status = table.get_cell(group_key(group), "status")
            assert status.plain == "NOCOMMIT"
            table.focus()
            await pilot.press("enter")  # expand the group
            await async_wait_for(lambda: pkey(group, topic, 2) in table.row_keys())
            for p in range(3):
                key = pkey(group, topic, p)
                assert table.get_cell(key, "status").plain == "NOCOMMIT"
                assert table.get_cell(key, "committed").plain == "none"
            # the group row: the members, and what the never-committed partitions mean
            detail = screen.kafka_detail
            assert detail.display
            lines = kafka_detail(screen.kafka_rows, group_key(group)).plain.splitlines()
            assert lines[0] == f"{group}: 2 members"
            hosts = {line.split()[0]: line.split()[1:3] for line in lines[1:3]}
            assignments = {
                f"svc-{i}": f"{topic}:" + ",".join(str(tp.partition) for tp in sorted(
                    c.assignment(), key=lambda tp: tp.partition))
                for i, c in enumerate(consumers)
            }  # fmt: skip
            assert hosts == {cid: ["/127.0.0.1", a] for cid, a in assignments.items()}
            assert lines[3].startswith("3 partitions never committed: a client starting at")
            # a partition row: its own note, with its own count
            await pilot.press("down")
            await pilot.pause()
            shown = str(detail.render())  # drawn with the rows of the same refresh
            row = next(r for r in screen.kafka_rows if r.partition == 0)
            assert f"{topic}/0: {nocommit_note(row)}" in shown
            assert row.lag is not None and row.lag >= SPLIT[0]  # counted from the log start
            await pilot.press("m")  # members on every row: a NOCOMMIT row shows them anyway
            await pilot.pause()
            assert detail.display and detail.enabled
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()
        await delete_groups(kafka_bootstrap, [group])


# --------------------------------------------------------------------------- scripted

MEMBERS = tuple(
    KafkaMember(f"svc-{i}-{'ab' * 8}", f"svc-{i}", f"/10.0.0.{i}", (("orders", i),))
    for i in range(6)
)


def scripted_rows() -> list[KafkaLagRow]:
    return [
        KafkaLagRow("billing", "Stable", 6, "orders", p, None, 100 + p, 100 + p, "NOCOMMIT",
                    BASE_TIME, MEMBERS)
        for p in range(2)
    ] + [KafkaLagRow("ledger", "Empty", 0, "orders", 0, 90, 100, 10)]  # fmt: skip


def test_detail_lists_a_few_members_and_counts_the_rest() -> None:
    rows = scripted_rows()
    lines = kafka_detail(rows, group_key("billing")).plain.splitlines()
    assert lines[0] == "billing: 6 members"
    assert [line.split()[:3] for line in lines[1 : 1 + MEMBERS_SHOWN]] == [
        [f"svc-{i}", f"/10.0.0.{i}", f"orders:{i}"] for i in range(MEMBERS_SHOWN)
    ]
    assert lines[1 + MEMBERS_SHOWN] == "  and 2 more: evmon lag --members"
    assert lines[-1] == (
        "2 partitions never committed: a client starting at newest skips 201, at oldest reads 201"
    )
    part = kafka_detail(rows, pkey("billing", "orders", 1)).plain.splitlines()
    assert (
        part[-1]
        == "orders/1: no commit: a client starting at newest skips 101, at oldest reads 101"
    )
    assert kafka_detail(rows, group_key("ledger")).plain == "ledger: no active members"
    assert kafka_detail(rows, None).plain == ""
    vague = KafkaLagRow("old", "Stable", 2, "t", 0, 1, 1, 0)  # members counted, not described
    assert kafka_detail([vague], group_key("old")).plain == "old: 2 members (not described)"
    unknown = KafkaLagRow("kip", "unknown (consumer protocol)", None, "t", 0, 1, 1, 0)
    assert kafka_detail([unknown], group_key("kip")).plain.startswith("kip: members unknown")


async def test_scripted_lag_screen_shows_nocommit_and_members() -> None:
    nats, kafka = sample_specs()
    specs = [
        replace(nats, settings=NatsSettings(urls=("nats://10.1.4.20:4222",))),
        replace(kafka, settings=KafkaSettings(bootstrap="kafka-1.prod:9092")),
    ]
    app = EvmonApp(sample_store(), specs, blink=False, groups=["billing", "ledger"])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = LagScreen(interval=5, window=5, live=False)
        app.install_screen(screen, "lag")
        await pilot.press("l")
        await pilot.pause()
        for t in range(0, 25, 5):
            screen.observe(scripted_rows(), [], now=BASE_TIME + t)
        await pilot.pause()
        table = screen.kafka_table
        table.focus()
        assert table.get_cell(group_key("billing"), "status").plain == "NOCOMMIT"
        assert table.get_cell(group_key("ledger"), "status").plain != "NOCOMMIT"
        await pilot.press("enter")
        await pilot.pause()
        assert table.get_cell(pkey("billing", "orders", 0), "committed").plain == "none"
        detail = screen.kafka_detail
        text = str(detail.render())  # shown by itself on a NOCOMMIT row
        assert detail.display and "billing: 6 members" in text and "svc-0" in text
        await pilot.press("down")
        await pilot.pause()
        assert "orders/0: no commit: a client starting at newest skips 100" in str(detail.render())
        ledger = group_key("ledger")
        table.move_cursor(row=table.get_row_index(ledger))
        await pilot.pause()
        assert not detail.display  # an OK row: the table keeps the room (80x24)
        await pilot.press("m")
        await pilot.pause()
        assert detail.display and str(detail.render()) == "ledger: no active members"
        await pilot.press("m")
        await pilot.pause()
        assert not detail.display
