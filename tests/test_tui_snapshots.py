"""SVG snapshots of the dashboard over a deterministic event set (``evmon.tui.sample``).

Nothing varies between runs: fixed event times, a store clock that stands still (rates are
count / 5 s), scripted connection statuses instead of brokers, no cursor blink. Update with
``pytest --snapshot-update`` after a deliberate visual change, and look at the report it
writes before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Input

from evmon.config import KafkaSettings, NatsSettings
from evmon.lag import JetStreamLagRow, KafkaLagRow
from evmon.model import ConnectionState, Event
from evmon.tui.app import EvmonApp
from evmon.tui.sample import BASE_TIME, sample_events, sample_specs, sample_store
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.export import ExportModal
from evmon.tui.screens.lag import LagScreen
from evmon.tui.screens.republish import RepublishModal
from evmon.tui.screens.skip import SkipModal

SnapCompare = Callable[..., bool]


def dashboard(kafka_state: ConnectionState = "connected") -> EvmonApp:
    return EvmonApp(sample_store(), sample_specs(kafka_state), blink=False)


async def fed(pilot: Pilot[Any]) -> None:
    """Wait for the scripted statuses, then put the sample events in."""
    app = pilot.app
    assert isinstance(app, EvmonApp)
    while any(view.state == "connecting" for view in app.connections):
        await pilot.pause(0.01)
    app.feed(sample_events())


def test_main_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed)


def test_detail_pane_with_json(snap_compare: SnapCompare) -> None:
    # four rows up from the newest is an orders.*.created event with headers
    press = ["up", "up", "up", "up", "enter"]
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed, press=press)


def test_filter_in_use(snap_compare: SnapCompare) -> None:
    press = ["slash", *"orders.*.created !json:currency=USD", "enter"]
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed, press=press)


def test_bad_filter_error(snap_compare: SnapCompare) -> None:
    press = ["slash", *"orders.> json:total=", "enter"]
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed, press=press)


def test_help_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed, press=["?"])


def test_narrow_80x24(snap_compare: SnapCompare) -> None:
    app = dashboard(kafka_state="reconnecting")
    assert snap_compare(app, terminal_size=(80, 24), run_before=fed)


def test_narrow_80x24_detail(snap_compare: SnapCompare) -> None:
    assert snap_compare(dashboard(), terminal_size=(80, 24), run_before=fed, press=["enter"])


def test_paused_with_marks(snap_compare: SnapCompare) -> None:
    press = ["space", "up", "up", "space"]  # moving the cursor up pauses
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed, press=press)


# ------------------------------------------------------------------ screens and modals
# Each is opened over the fed dashboard. The modals are built from the sample events, as
# their keys would build them; none is submitted, so nothing reaches a broker. Text cursors
# are told not to blink, and the export path is fixed (by default it is named after now).

NATS_SETTINGS = NatsSettings(urls=("nats://10.1.4.20:4222",))
KAFKA_SETTINGS = KafkaSettings(bootstrap="kafka-1.prod:9092")


def connected_dashboard() -> EvmonApp:
    """The sample dashboard with connection settings (the lag screen watches both systems)."""
    nats, kafka = sample_specs()
    specs = [replace(nats, settings=NATS_SETTINGS), replace(kafka, settings=KAFKA_SETTINGS)]
    return EvmonApp(
        sample_store(),
        specs,
        blink=False,
        groups=["billing-worker", "ledger-sync"],
        streams=["INVENTORY"],
    )


async def no_blink(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def opened(open_it: Callable[[EvmonApp], Any]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """``run_before``: feed the dashboard, then push the screen ``open_it(app)`` returns."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await fed(pilot)
        app = pilot.app
        assert isinstance(app, EvmonApp)
        await pilot.pause()  # the dashboard is drawn before the modal covers it
        await app.push_screen(open_it(app))
        await no_blink(pilot)

    return run_before


def newest(source: str, app: EvmonApp) -> Event:
    """The newest sample event of ``source`` (``kafka`` or ``nats``)."""
    return next(ev for ev in reversed(sample_events()) if ev.source == source)


def kafka_lag_rows(t: int) -> list[KafkaLagRow]:
    at = BASE_TIME + t
    return [
        KafkaLagRow(
            "billing-worker", "Stable", 2, "orders.events", 0, 9_410 + t, 9_412 + t, 2, active_at=at
        ),
        KafkaLagRow(
            "billing-worker",
            "Stable",
            2,
            "orders.events",
            1,
            8_807,
            8_807 + 40 * t,
            40 * t,
            active_at=at,
        ),
        KafkaLagRow(
            "billing-worker", "Stable", 2, "orders.events", 2, 1_126, 1_128 + t, 2 + t, active_at=at
        ),
        KafkaLagRow("ledger-sync", "Empty", 0, "payments.ledger", 0, 52_300, 52_315, 15),
    ]


def jetstream_lag_rows(t: int) -> list[JetStreamLagRow]:
    at = BASE_TIME + t
    return [
        JetStreamLagRow(
            "INVENTORY", "reserver", 3 * t, 1, 0, 1, 8_225, 8_224, 8_225 + 3 * t, active_at=at
        ),
        JetStreamLagRow("INVENTORY", "audit", 0, 0, 0, 1, 8_225, 8_225, 8_225, active_at=at),
    ]


async def lag_screen(pilot: Pilot[Any]) -> None:
    """The lag screen over five scripted refreshes, 5 s apart, instead of brokers."""
    await fed(pilot)
    app = pilot.app
    assert isinstance(app, EvmonApp)
    screen = LagScreen(interval=5, window=5, live=False)
    app.install_screen(screen, "lag")
    await pilot.press("l")
    await pilot.pause()
    for t in range(0, 25, 5):
        screen.observe(kafka_lag_rows(t), jetstream_lag_rows(t), now=BASE_TIME + t)
    await pilot.pause()


def test_lag_screen(snap_compare: SnapCompare) -> None:
    app = connected_dashboard()
    assert snap_compare(app, terminal_size=(120, 36), run_before=lag_screen)


def test_republish_modal(snap_compare: SnapCompare) -> None:
    run_before = opened(lambda app: RepublishModal([newest("nats", app)]))
    assert snap_compare(connected_dashboard(), terminal_size=(120, 36), run_before=run_before)


def test_skip_modal(snap_compare: SnapCompare) -> None:
    run_before = opened(lambda app: SkipModal(newest("kafka", app), app.groups))
    assert snap_compare(connected_dashboard(), terminal_size=(120, 36), run_before=run_before)


def test_export_modal(snap_compare: SnapCompare) -> None:
    def export(app: EvmonApp) -> ExportModal:
        events = sample_events()[-3:]
        return ExportModal(events, "marked", Path("evmon-export-20250314-092653.jsonl"))

    run_before = opened(export)
    assert snap_compare(connected_dashboard(), terminal_size=(120, 36), run_before=run_before)


def test_confirm_modal(snap_compare: SnapCompare) -> None:
    body = (
        "telemetry.raw partition 1 offset 30118\nbefore: committed 30118\nafter:  committed 30119"
    )
    question = "Skip offset 30118 of telemetry.raw partition 1 for group billing-worker?"
    run_before = opened(lambda app: ConfirmModal(question, body, "Skip"))
    assert snap_compare(connected_dashboard(), terminal_size=(120, 36), run_before=run_before)


def test_payload_screen(snap_compare: SnapCompare) -> None:
    # four rows up from the newest is an orders.*.created event with headers (as above)
    press = ["up", "up", "up", "up", "f"]
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed, press=press)


async def palette(pilot: Pilot[Any]) -> None:
    await fed(pilot)
    await pilot.press("ctrl+p")
    await no_blink(pilot)
    await pilot.press(*"lag")
    # the palette searches in a worker: wait for the four commands that match "lag"
    while pilot.app.screen.query_one(CommandList).option_count < 4:
        await pilot.pause(0.01)
    await pilot.pause()


def test_command_palette(snap_compare: SnapCompare) -> None:
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=palette)


def test_lag_screen_80x24(snap_compare: SnapCompare) -> None:
    # narrower than its rows: each table draws status, trend and lag right after the name
    app = connected_dashboard()
    assert snap_compare(app, terminal_size=(80, 24), run_before=lag_screen)
