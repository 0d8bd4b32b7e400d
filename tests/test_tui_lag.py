"""The dashboard's lag screen (``l``) against real Kafka and NATS, driven by Pilot.

Each test installs a ``LagScreen`` refreshing every ``INTERVAL`` seconds and waits on its
``refreshes`` counter or on the table contents (never a sleep). Every Kafka group a test
creates is deleted at its end (other suites check that the cluster holds no stray groups).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.api
import pytest
from aiokafka import AIOKafkaConsumer
from rich.text import Text
from textual.pilot import Pilot

from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import RuntimeFailure
from evmon.sources.nats.jetstream_lag import JetStreamLagClient
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec, kafka_spec, nats_spec
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.lag import LagScreen
from evmon.tui.widgets.lag_tables import SEP, LagTable, group_key
from tests.kafka_kit import commit_offsets, create_topic, delete_groups, produce_split
from tests.waiting import async_wait_for

SIZE = (160, 44)
INTERVAL = 0.3
SPLIT = {0: 34, 1: 33, 2: 33}  # 100 records, explicit partitions
BEHIND = {0: 20, 1: 30, 2: 10}  # lags 14, 3, 23: 40 in all


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


# --------------------------------------------------------------------------- helpers


def make_app(
    *,
    nats_url: str | None = None,
    kafka: str | None = None,
    topics: Sequence[str] = (),
    groups: Sequence[str] = (),
    streams: Sequence[str] = (),
    read_only: bool = False,
) -> EvmonApp:
    specs: list[SourceSpec] = []
    if nats_url is not None:
        specs.append(nats_spec(NatsSettings(urls=(nats_url,)), subjects=["evmon-lag-none"]))
    if kafka is not None:
        specs.append(kafka_spec(KafkaSettings(bootstrap=kafka), topics=topics))
    return EvmonApp(
        EventStore(1_000), specs, groups=groups, streams=streams, read_only=read_only, blink=False
    )


async def open_lag(app: EvmonApp, pilot: Pilot[int]) -> LagScreen:
    """Install a fast-refreshing lag screen, press ``l`` and wait for its first refresh."""
    screen = LagScreen(interval=INTERVAL)
    app.install_screen(screen, "lag")
    await pilot.press("l")
    await async_wait_for(lambda: screen.refreshes >= 1, timeout=30, message="first refresh")
    assert app.screen is screen
    return screen


async def refreshed(screen: LagScreen, count: int = 1) -> None:
    target = screen.refreshes + count
    await async_wait_for(lambda: screen.refreshes >= target, timeout=30, message="a refresh")


def texts(table: LagTable, key: str) -> list[str]:
    """A row's cells as drawn (read from the DataTable itself), in the table's ``COLUMNS``
    order whatever order a narrow table draws them in."""
    return [cell(table, key, column).plain for column, _ in table.COLUMNS]


def cell(table: LagTable, key: str, column: str) -> Text:
    value = table.get_cell(key, column)
    assert isinstance(value, Text)
    return value


def pkey(group: str, topic: str, partition: int) -> str:
    return SEP.join(("p", group, topic, str(partition)))


def notes(screen: LagScreen, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what the screen tells the operator (``notify``)."""
    seen: list[str] = []
    real = screen.notify

    def record(message: str, **kw: Any) -> None:
        seen.append(message)
        real(message, **kw)

    monkeypatch.setattr(screen, "notify", record)
    return seen


async def select_row(pilot: Pilot[int], table: LagTable, key: str) -> None:
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


# --------------------------------------------------------------------------- Kafka set-up


@dataclass
class Groups:
    topic: str
    behind: str  # committed BEHIND: lag 40, named to sort last by name
    caught_up: str  # committed everything: lag 0, named to sort first by name


@pytest.fixture
async def kafka_groups(kafka_bootstrap: str, unique: str) -> AsyncIterator[Groups]:
    topic = f"lag.{unique}"
    made = Groups(topic, f"{unique}-z-behind", f"{unique}-a-caught-up")
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    await commit_offsets(kafka_bootstrap, made.behind, topic, BEHIND)
    await commit_offsets(kafka_bootstrap, made.caught_up, topic, SPLIT)
    try:
        yield made
    finally:
        await delete_groups(kafka_bootstrap, [made.behind, made.caught_up])


# --------------------------------------------------------------------------- Kafka


async def test_kafka_groups_rows_expand_collapse_and_sort(
    kafka_bootstrap: str, kafka_groups: Groups
) -> None:
    g = kafka_groups
    app = make_app(kafka=kafka_bootstrap, topics=[g.topic], groups=[g.behind, g.caught_up])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lag(app, pilot)
        table = screen.kafka_table
        assert not screen.query_one("#jetstream-box").display  # no NATS: Kafka only
        assert "Kafka consumer groups only" in str(screen.query_one("#lag-note").render())
        behind, caught_up = group_key(g.behind), group_key(g.caught_up)
        assert table.row_keys() == [caught_up, behind]  # by name
        row = texts(table, behind)
        assert row[:4] == [f"▸ {g.behind}", "Empty", "0", f"{g.topic} (3)"]
        assert row[7] == "40"
        assert texts(table, caught_up)[7] == "0"

        await select_row(pilot, table, behind)
        await pilot.press("enter")  # expands
        parts = [pkey(g.behind, g.topic, p) for p in (0, 1, 2)]
        assert table.row_keys() == [caught_up, behind, *parts]
        assert texts(table, behind)[0] == f"▾ {g.behind}"
        got = {p: texts(table, k)[3:8] for p, k in enumerate(parts)}
        assert got == {
            0: [g.topic, "0", "20", "34", "14"],
            1: [g.topic, "1", "30", "33", "3"],
            2: [g.topic, "2", "10", "33", "23"],
        }
        await refreshed(screen)  # a refresh updates in place and keeps the expansion
        assert table.row_keys() == [caught_up, behind, *parts]

        await pilot.press("o")  # by lag: the group behind first, its partitions by lag
        assert table.row_keys() == [behind, parts[2], parts[0], parts[1], caught_up]
        assert table.cursor_key == behind  # the cursor stayed on its row
        await pilot.press("o")
        assert table.row_keys() == [caught_up, behind, *parts]

        await select_row(pilot, table, parts[1])
        await pilot.press("left")  # folds the group from one of its partitions
        assert table.row_keys() == [caught_up, behind]
        assert table.cursor_key == behind
        await pilot.press("right")
        assert table.row_keys() == [caught_up, behind, *parts]
        await refreshed(screen)
        assert texts(table, parts[2])[3:8] == [g.topic, "2", "10", "33", "23"]


async def test_kafka_status_colours_stall_stop_and_deleted_group_err(
    kafka_bootstrap: str, kafka_groups: Groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = kafka_groups
    live = AIOKafkaConsumer(
        g.topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{g.behind}-live",
        enable_auto_commit=False,
    )
    live_group = f"{g.behind}-live"
    await commit_offsets(kafka_bootstrap, live_group, g.topic, BEHIND)
    app = make_app(kafka=kafka_bootstrap, groups=[g.behind, g.caught_up, live_group])
    try:
        await live.start()  # joins the group and never commits: STALL
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_lag(app, pilot)
            table = screen.kafka_table
            keys = {name: group_key(name) for name in (g.behind, g.caught_up, live_group)}

            def statuses() -> dict[str, str]:
                return {name: cell(table, k, "status").plain for name, k in keys.items()}

            want = {g.caught_up: "OK", g.behind: "STOP", live_group: "STALL"}
            await async_wait_for(lambda: statuses() == want, timeout=60, message=f"statuses {want}")
            styles = {name: cell(table, k, "status").style for name, k in keys.items()}
            assert styles == {
                g.caught_up: "bold green",
                g.behind: "bold magenta",
                live_group: "bold red",
            }
            # the sparkline of the group behind: a steady lag of 40, a flat top line
            assert cell(table, keys[g.behind], "trend").plain.strip().startswith("██")

            # a skip on a partition of the active group is refused in one line, moving nothing
            told = notes(screen, monkeypatch)
            await select_row(pilot, table, keys[live_group])
            await pilot.press("right")
            await select_row(pilot, table, pkey(live_group, g.topic, 2))
            await pilot.press("s")
            await async_wait_for(lambda: told, message="the refusal")
            assert told == [f"group {live_group} has 1 active member; stop it first"]
            assert not isinstance(app.screen, ConfirmModal)

            await delete_groups(kafka_bootstrap, [g.behind])
            await async_wait_for(
                lambda: cell(table, keys[g.behind], "status").plain == "ERR",
                timeout=30,
                message="the deleted group turns ERR",
            )
            assert cell(table, keys[g.behind], "status").style == "bold reverse red"
            assert cell(table, keys[g.caught_up], "status").plain == "OK"
    finally:
        await live.stop()
        with contextlib.suppress(Exception):
            await delete_groups(kafka_bootstrap, [live_group])


async def test_selecting_a_partition_filters_the_live_view(
    kafka_bootstrap: str, kafka_groups: Groups
) -> None:
    g = kafka_groups
    app = make_app(kafka=kafka_bootstrap, topics=[g.topic], groups=[g.behind])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lag(app, pilot)
        table = screen.kafka_table
        await select_row(pilot, table, group_key(g.behind))
        await pilot.press("f")  # a group row: every topic it reads
        assert app.screen is app.main_screen
        await async_wait_for(lambda: app.filter_bar.applied == g.topic, message="group filter")

        await pilot.press("l")  # the same screen again, its expansion and rows kept
        assert app.screen is screen
        await select_row(pilot, table, group_key(g.behind))
        await pilot.press("enter")
        await select_row(pilot, table, pkey(g.behind, g.topic, 2))
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.main_screen
        expr = f"{g.topic} partition:2"
        await async_wait_for(lambda: app.filter_bar.applied == expr, message="partition filter")
        assert app.index.filter is not None
        assert app.event_list.has_focus


# --------------------------------------------------------------------------- JetStream


async def test_jetstream_rows_equal_consumer_info(nats_url: str, unique: str) -> None:
    stream = f"{unique}-S"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[f"{unique}.>"])
        for i in range(8):
            await js.publish(f"{unique}.orders", f"m{i}".encode())
        config = nats.js.api.ConsumerConfig(ack_wait=300, max_deliver=5)
        sub = await js.pull_subscribe(f"{unique}.>", durable="worker", stream=stream, config=config)
        first = await sub.fetch(8, timeout=5)
        for m in first[:3]:
            await m.ack_sync()
        for m in first[3:5]:
            await m.nak()
        again: list[Any] = []

        async def redelivered() -> bool:
            with contextlib.suppress(TimeoutError):  # nats-py's or asyncio's
                again.extend(await sub.fetch(1, timeout=0.5))
            return len(again) == 2

        await async_wait_for(redelivered, message="2 redeliveries")
        for i in range(8, 15):
            await js.publish(f"{unique}.orders", f"m{i}".encode())
        await js.add_consumer(stream, nats.js.api.ConsumerConfig(durable_name="idle"))

        async def settled() -> bool:
            info = await js.consumer_info(stream, "worker")
            return bool(info.num_waiting == 0)

        await async_wait_for(settled, message="no waiting pull requests")

        app = make_app(nats_url=nats_url, streams=[stream])
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_lag(app, pilot)
            table = screen.jetstream_table
            assert not screen.query_one("#kafka-box").display  # no Kafka: JetStream only
            worker, idle = f"{stream}{SEP}worker", f"{stream}{SEP}idle"
            assert table.row_keys() == [idle, worker]
            last_seq = (await js.stream_info(stream)).state.last_seq
            for name, key in (("worker", worker), ("idle", idle)):
                info = await js.consumer_info(stream, name)
                assert texts(table, key)[:9] == [
                    stream,
                    name,
                    str(info.num_pending),
                    str(info.num_ack_pending),
                    str(info.num_redelivered),
                    str(info.num_waiting),
                    str(info.delivered.stream_seq if info.delivered else 0),
                    str(info.ack_floor.stream_seq if info.ack_floor else 0),
                    str(last_seq),
                ]
            assert texts(table, worker)[2:9] == ["7", "5", "2", "0", "8", "3", "15"]
            await pilot.press("r", "x", "p")  # live-view keys do not act on the hidden list
            assert app.screen is screen and app.event_list.follow
            await pilot.press("o")  # by lag: idle has 15 unacknowledged, worker 12
            assert table.row_keys() == [idle, worker]
            await select_row(pilot, table, worker)
            await pilot.press("enter")
            assert app.screen is app.main_screen
            await async_wait_for(
                lambda: app.filter_bar.applied == f"stream:{stream}", message="stream filter"
            )
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
        await nc.close()


async def test_failed_query_marks_rows_err_and_recovers(
    nats_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = f"{unique}-S"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[f"{unique}.>"])
        await js.add_consumer(stream, nats.js.api.ConsumerConfig(durable_name="worker"))
        app = make_app(nats_url=nats_url, streams=[stream])
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_lag(app, pilot)
            table = screen.jetstream_table
            key = f"{stream}{SEP}worker"
            assert cell(table, key, "status").plain == "OK"
            real = JetStreamLagClient.snapshot
            fail = True

            async def flaky(self: JetStreamLagClient, *a: Any, **kw: Any) -> Any:
                if fail:
                    raise RuntimeFailure("JetStream at test: timed out")
                return await real(self, *a, **kw)

            monkeypatch.setattr(JetStreamLagClient, "snapshot", flaky)
            error = screen.query_one("#jetstream-error")
            # The round's rows are drawn in slices between event-loop turns: wait for the
            # screen to show the failure, not only for the poller to have had it.
            await async_wait_for(
                lambda: (
                    screen.jetstream_error is not None
                    and error.display
                    and cell(table, key, "status").plain == "ERR"
                ),
                message="failure shown",
            )
            assert error.display and "JetStream at test: timed out" in str(error.render())
            assert cell(table, key, "status").plain == "ERR"
            assert texts(table, key)[:2] == [stream, "worker"]  # last values kept
            fail = False
            await async_wait_for(lambda: screen.jetstream_error is None, message="recovery")
            await refreshed(screen)
            assert cell(table, key, "status").plain == "OK"
            assert not error.display
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
        await nc.close()


async def _poison(nats_url: str, unique: str) -> tuple[str, str]:
    """A stream with a poison message the worker naks three times (as a failing app does)."""
    stream, consumer, subject = unique.replace("-", "_").upper(), "worker", f"{unique}.work"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[subject])
        for body in (b"poison", b"good-1", b"good-2"):
            await js.publish(subject, body)
        await js.add_consumer(
            stream,
            nats.js.api.ConsumerConfig(
                durable_name=consumer, ack_policy=nats.js.api.AckPolicy.EXPLICIT, ack_wait=30
            ),
        )
        sub = await js.pull_subscribe_bind(durable=consumer, stream=stream)
        for _ in range(3):
            [msg] = await sub.fetch(1, timeout=5)
            assert msg.data == b"poison"
            await nc.request(msg.reply, b"-NAK", timeout=5)  # a nak the server confirms
        await sub.unsubscribe()
    finally:
        await nc.close()
    return stream, consumer


async def _position(nats_url: str, stream: str, consumer: str) -> tuple[int, int, int]:
    """(ack floor, pending, redelivered) on the server."""
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(stream, consumer)
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        return floor, info.num_pending or 0, info.num_redelivered or 0
    finally:
        await nc.close()


async def _delete_stream(nats_url: str, stream: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


async def _ask_skip(app: EvmonApp, pilot: Pilot[int]) -> ConfirmModal:
    await pilot.press("s")

    def modal() -> ConfirmModal | None:
        return app.screen if isinstance(app.screen, ConfirmModal) else None

    found = await async_wait_for(modal, timeout=15, message="the confirmation")
    assert found is not None
    return found


async def test_skip_from_lag_screen_terminates_the_poison_message(
    nats_url: str, unique: str
) -> None:
    stream, consumer = await _poison(nats_url, unique)
    try:
        before = await _position(nats_url, stream, consumer)
        assert before[0] == 0
        app = make_app(nats_url=nats_url, streams=[stream])
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_lag(app, pilot)
            table = screen.jetstream_table
            key = f"{stream}{SEP}{consumer}"
            assert texts(table, key)[7] == "0"  # ack floor
            await select_row(pilot, table, key)
            modal = await _ask_skip(app, pilot)
            # the message the consumer is stuck on, found and held by evmon
            assert modal.title_text == (
                f"Terminate {stream}#1 ({unique}.work, delivered 4 times) for consumer {consumer}?"
            )
            assert modal.body.splitlines()[-1].startswith(  # the position before
                "before: ack floor 0, delivered 1, 2 pending"
            )
            await pilot.press("y")

            async def moved() -> bool:
                return (await _position(nats_url, stream, consumer))[0] == 1

            await async_wait_for(moved, timeout=15, message="ack floor 1 on the server")
            assert app.screen is screen
            await async_wait_for(
                lambda: texts(table, key)[7] == "1", message="the table shows ack floor 1"
            )
    finally:
        await _delete_stream(nats_url, stream)


async def test_skip_cancelled_or_read_only_changes_nothing(
    nats_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream, consumer = await _poison(nats_url, unique)
    key = f"{stream}{SEP}{consumer}"
    try:
        before = await _position(nats_url, stream, consumer)
        app = make_app(nats_url=nats_url, streams=[stream])
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_lag(app, pilot)
            told = notes(screen, monkeypatch)
            await select_row(pilot, screen.jetstream_table, key)
            await _ask_skip(app, pilot)
            await pilot.press("n")
            cancelled = f"Nothing was terminated: {stream}#1 was handed back for redelivery."
            await async_wait_for(lambda: cancelled in told, message="cancelled")
            assert app.screen is screen
        assert await _position(nats_url, stream, consumer) == before

        app = make_app(nats_url=nats_url, streams=[stream], read_only=True)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_lag(app, pilot)
            told = notes(screen, monkeypatch)
            await select_row(pilot, screen.jetstream_table, key)
            await pilot.press("s")
            await pilot.pause()
            assert told == ["read-only mode: skip is disabled"]
            assert app.screen is screen
        assert await _position(nats_url, stream, consumer) == before
    finally:
        await _delete_stream(nats_url, stream)
