"""SVG snapshots of the dashboard over a deterministic event set (``evmon.tui.sample``).

Nothing varies between runs: fixed event times, a store clock that stands still (rates are
count / 5 s), scripted connection statuses instead of brokers, no cursor blink. Update with
``pytest --snapshot-update`` after a deliberate visual change, and look at the report it
writes before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from evmon.model import ConnectionState
from evmon.tui.app import EvmonApp
from evmon.tui.sample import sample_events, sample_specs, sample_store

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
