"""The dashboard against real brokers, driven by Pilot.

NATS tests use a nats-server owned by this module (so subjects like ``orders.eu.created``
cannot meet another suite's traffic, and the reconnect tests may stop it); Kafka uses the
session broker with topics unique to each test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence

import nats
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from textual.pilot import Pilot

from evmon.config import KafkaSettings, NatsSettings
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec, kafka_spec, nats_spec
from tests.brokers import NatsServer
from tests.tui_actions_kit import connected
from tests.waiting import async_wait_for

SIZE = (140, 40)


@pytest.fixture(scope="module")
def own_nats() -> Iterator[NatsServer]:
    server = NatsServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


async def create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, records: Sequence[dict[str, object]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(**record)  # type: ignore[arg-type]
    finally:
        await producer.stop()


async def publish(url: str, messages: Sequence[tuple[str, bytes]], **kw: object) -> None:
    nc = await nats.connect(url)
    try:
        for subject, payload in messages:
            await nc.publish(subject, payload, **kw)  # type: ignore[arg-type]
        await nc.flush()
    finally:
        await nc.close()


def make_app(
    nats_url: str | None = None, kafka: str | None = None, topics: Sequence[str] = ()
) -> EvmonApp:
    specs: list[SourceSpec] = []
    if nats_url is not None:
        specs.append(nats_spec(NatsSettings(urls=(nats_url,)), subjects=[">"]))
    if kafka is not None:
        specs.append(kafka_spec(KafkaSettings(bootstrap=kafka), topics=topics))
    return EvmonApp(EventStore(10_000), specs, blink=False)


def rows(app: EvmonApp) -> list[str]:
    """The event list's rows as drawn on screen."""
    return app.event_list.visible_texts()


def status(app: EvmonApp) -> str:
    """The status bar as drawn."""
    return app.status_bar.render().plain


def subjects(app: EvmonApp) -> list[str]:
    return [e.subject for e in app.visible_events()]


ORDERS = [
    ("orders.eu.created", b'{"id": 1}'),
    ("orders.eu.paid", b'{"id": 1, "status": "paid"}'),
    ("orders.us.created", b'{"id": 2}'),
    ("users.signup", b'{"user": "ada"}'),
]


@pytest.fixture
async def both(
    own_nats: NatsServer, kafka_bootstrap: str, unique: str
) -> AsyncIterator[tuple[EvmonApp, Pilot[int]]]:
    """An app on the module's NATS and a fresh 3-partition Kafka topic ``shop.<unique>``,
    with the four ORDERS on NATS and one record per partition on Kafka."""
    topic = f"shop.{unique}"
    await create_topic(kafka_bootstrap, topic)
    app = make_app(own_nats.url, kafka_bootstrap, [topic])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        await publish(own_nats.url, ORDERS)
        await produce(
            kafka_bootstrap,
            [
                {"topic": topic, "partition": p, "value": f"text {p}".encode(), "key": b"k"}
                for p in range(3)
            ],
        )
        await async_wait_for(lambda: len(app.index) == 7, timeout=30, message="7 events")
        yield app, pilot
        await app.close_sources()


async def test_events_from_both_brokers_appear_in_the_list(
    both: tuple[EvmonApp, Pilot[int]], unique: str
) -> None:
    app, _ = both
    await async_wait_for(lambda: len(rows(app)) == 7, message="7 rows drawn")
    drawn = rows(app)
    nats_rows = [r for r in drawn if " nats " in r]
    kafka_rows = [r for r in drawn if " kafka " in r]
    assert [r.split()[2] for r in nats_rows] == [s for s, _ in ORDERS]
    assert len(kafka_rows) == 3
    for row in kafka_rows:  # the long topic name is cut to its column with an ellipsis
        shown = row.split()[2]
        assert shown.endswith("…") and f"shop.{unique}".startswith(shown[:-1])
    assert all(f"@{0}" in r and "text" in r for r in kafka_rows)  # position pN@0, preview
    assert '{"id": 1}' in nats_rows[0]
    assert app.event_list.border_subtitle == "7 events"
    await async_wait_for(lambda: "7 events" in status(app), message="status bar counted")
    assert status(app).count("connected") == 2


async def test_typing_filters_and_negation_and_a_bad_term(
    both: tuple[EvmonApp, Pilot[int]],
) -> None:
    app, pilot = both
    await pilot.press("slash", *"orders.*.created", "enter")
    await async_wait_for(lambda: app.index.filter is not None, message="filter applied")
    assert subjects(app) == ["orders.eu.created", "orders.us.created"]
    assert app.event_list.border_subtitle == "matching 2 of 7"

    await pilot.press("slash", "ctrl+u", *"!orders.>", "enter")
    await async_wait_for(lambda: "users.signup" in subjects(app), message="negation applied")
    assert not any(s.startswith("orders.") for s in subjects(app))
    assert len(subjects(app)) == 4  # users.signup and the three Kafka records

    await pilot.press("slash", "ctrl+u", *"!orders.> json:x=", "enter")
    bar = app.filter_bar
    assert bar.error is not None and bar.error.position == len("!orders.> ")
    assert "expected json:path.to.field=VALUE" in str(bar.query_one("#filter-error").render())
    assert len(subjects(app)) == 4  # still the last good filter
    assert bar.applied == "!orders.>"

    # new events are filtered as they arrive
    await publish(app.specs[0].url, [("orders.eu.created", b"{}"), ("users.login", b"{}")])
    await async_wait_for(lambda: "users.login" in subjects(app), message="new match")
    assert "orders.eu.created" not in subjects(app)


async def test_selecting_tree_nodes_filters(both: tuple[EvmonApp, Pilot[int]], unique: str) -> None:
    app, _ = both
    tree = app.subject_tree
    await async_wait_for(
        lambda: tree.node_for("kafka", f"shop.{unique}", 2) is not None, message="tree built"
    )
    node = tree.node_for("nats", "orders")
    assert node is not None
    tree.select_node(node)
    await async_wait_for(lambda: len(app.visible_events()) == 3, message="orders.> shown")
    assert app.filter_bar.text == "source:nats orders.>"
    assert subjects(app) == ["orders.eu.created", "orders.eu.paid", "orders.us.created"]

    node = tree.node_for("nats", "orders.eu")
    assert node is not None
    tree.select_node(node)
    await async_wait_for(lambda: len(app.visible_events()) == 2, message="orders.eu.> shown")
    assert app.filter_bar.text == "source:nats orders.eu.>"

    part = tree.node_for("kafka", f"shop.{unique}", 1)
    assert part is not None
    tree.select_node(part)
    await async_wait_for(lambda: len(app.visible_events()) == 1, message="partition shown")
    assert app.filter_bar.text == f"source:kafka shop.{unique} partition:1"
    (event,) = app.visible_events()
    assert (event.partition, event.offset, event.payload) == (1, 0, b"text 1")
    info = tree.node_for("nats", "orders")
    assert info is not None and info.data is not None and info.data.shown[0] == 3


async def test_pause_shows_new_count_and_resume_catches_up(
    own_nats: NatsServer, unique: str
) -> None:
    app = make_app(own_nats.url)
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        await publish(own_nats.url, [(f"{unique}.a.{i}", b"x") for i in range(5)])
        await async_wait_for(lambda: len(app.index) == 5, message="5 events")
        await pilot.press("p")
        assert not app.event_list.follow
        before = rows(app)
        await publish(own_nats.url, [(f"{unique}.b.{i}", b"y") for i in range(3)])
        await async_wait_for(lambda: app.event_list.new_rows == 3, message="+3 new")
        await async_wait_for(lambda: "+3 new" in status(app), message="status shows +3 new")
        assert "PAUSED" in status(app)
        assert "paused +3 new" in str(app.event_list.border_subtitle)
        assert app.event_list.cursor_event is not None
        assert app.event_list.cursor_event.subject == f"{unique}.a.4"  # the cursor stayed
        assert rows(app)[: len(before)] == before
        await pilot.press("p")
        assert app.event_list.follow and app.event_list.new_rows == 0
        assert app.event_list.cursor_event is not None
        assert app.event_list.cursor_event.subject == f"{unique}.b.2"
        assert "LIVE" in status(app)
        await app.close_sources()


async def test_detail_pane_for_json_text_and_binary(
    own_nats: NatsServer, kafka_bootstrap: str, unique: str
) -> None:
    topic = f"detail.{unique}"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    app = make_app(own_nats.url, kafka_bootstrap, [topic])
    async with app.run_test(size=SIZE) as pilot:
        await connected(app)
        nc = await nats.connect(own_nats.url)
        await nc.publish(
            f"{unique}.json",
            b'{"order":{"id":42,"lines":[{"sku":"A-1","qty":2}]},"paid":true}',
            headers={"trace-id": "abc123"},
        )
        await nc.flush()
        await nc.close()
        await async_wait_for(lambda: len(app.index) == 1, message="json event")
        await produce(
            kafka_bootstrap,
            [{"topic": topic, "value": b"plain text line\nsecond line", "key": b"user-7"}],
        )
        await async_wait_for(lambda: len(app.index) == 2, message="text event")
        await publish(own_nats.url, [(f"{unique}.bin", bytes([0, 1, 2, 0xFF, 0xFE]) * 4)])
        await async_wait_for(lambda: len(app.index) == 3, message="binary event")

        await pilot.press("enter")  # detail of the newest: binary
        text = app.detail.text()
        assert f"{unique}.bin" in text and "20 bytes · binary" in text
        assert "00000000  00 01 02 ff fe 00 01 02  ff fe 00 01 02 ff fe 00" in text

        await pilot.press("up")  # the Kafka text record
        text = app.detail.text()
        assert "plain text line\nsecond line" in text and "text" in text
        assert "partition 0 offset 0" in text and "user-7" in text

        await pilot.press("up")  # the NATS JSON message
        text = app.detail.text()
        assert '"order": {' in text and '"sku": "A-1"' in text and '"paid": true' in text
        assert "trace-id: abc123" in text and "JSON" in text
        await app.close_sources()


async def test_a_nats_restart_goes_reconnecting_then_connected(unique: str) -> None:
    server = NatsServer()
    server.start()
    try:
        app = make_app(server.url)
        async with app.run_test(size=SIZE):
            await connected(app)
            await async_wait_for(
                lambda: "nats://" in status(app) and " connected" in status(app),
                message="status bar shows connected",
            )
            await asyncio.to_thread(server.stop)
            await async_wait_for(
                lambda: "reconnecting" in status(app),
                timeout=20,
                message="status bar shows reconnecting",
            )
            await asyncio.to_thread(server.start)
            await async_wait_for(
                lambda: app.connections[0].state == "connected",
                timeout=30,
                message="reconnected",
            )
            await async_wait_for(
                lambda: "● nats" in status(app) and "reconnecting" not in status(app),
                message="status bar shows connected",
            )
            await publish(server.url, [(f"{unique}.after", b"back")])
            await async_wait_for(
                lambda: f"{unique}.after" in subjects(app), message="events flow again"
            )
            await app.close_sources()
    finally:
        server.cleanup()


async def test_a_broker_down_at_start_keeps_retrying_while_the_other_works(
    kafka_bootstrap: str, unique: str
) -> None:
    server = NatsServer()  # not started yet: its port refuses connections
    topic = f"up.{unique}"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    try:
        app = make_app(server.url, kafka_bootstrap, [topic])
        async with app.run_test(size=SIZE):
            await async_wait_for(
                lambda: app.connections[1].state == "connected", timeout=30, message="kafka up"
            )
            await async_wait_for(
                lambda: "connecting: connection refused" in status(app),
                message="status bar shows the NATS cause",
            )
            await produce(kafka_bootstrap, [{"topic": topic, "value": b"kafka works"}])
            await async_wait_for(lambda: subjects(app) == [topic], message="kafka event shown")
            assert app.connections[0].state == "connecting"
            await asyncio.to_thread(server.start)
            await connected(app)
            await publish(server.url, [(f"{unique}.late", b"nats works")])
            await async_wait_for(
                lambda: subjects(app) == [topic, f"{unique}.late"], message="nats event shown"
            )
            await app.close_sources()
    finally:
        server.cleanup()


async def test_wrong_credentials_show_in_the_status_bar_and_the_app_stays_usable() -> None:
    server = NatsServer(config="authorization { token: right-token }\n")
    server.start()
    try:
        settings = NatsSettings(urls=(server.url,), token="wrong-token")
        app = EvmonApp(EventStore(1_000), [nats_spec(settings, subjects=[">"])], blink=False)
        async with app.run_test(size=SIZE) as pilot:
            await async_wait_for(
                lambda: app.connections[0].state == "failed", timeout=15, message="failed"
            )
            await async_wait_for(
                lambda: "authorization violation" in status(app),
                message="the status bar names the cause",
            )
            assert "wrong-token" not in status(app) and "right-token" not in status(app)
            await pilot.press("question_mark")  # still responsive
            await pilot.pause()
            assert app.screen.__class__.__name__ == "HelpScreen"
            await pilot.press("escape")
            await app.close_sources()
    finally:
        server.cleanup()
