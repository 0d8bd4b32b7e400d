"""SVG snapshots of the dashboard over a deterministic event set (``evmon.tui.sample``).

Nothing varies between runs: fixed event times, a store clock frozen at 0 (rates read 0/s),
no brokers, no cursor blink. Update with ``pytest --snapshot-update`` after a deliberate
visual change, and look at the report it writes before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.sample import sample_events

SnapCompare = Callable[..., bool]


def dashboard() -> EvmonApp:
    return EvmonApp(EventStore(1_000, clock=lambda: 0.0), blink=False)


def fed(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, EvmonApp)
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
    assert snap_compare(dashboard(), terminal_size=(80, 24), run_before=fed)


def test_narrow_80x24_detail(snap_compare: SnapCompare) -> None:
    assert snap_compare(dashboard(), terminal_size=(80, 24), run_before=fed, press=["enter"])


def test_paused_with_marks(snap_compare: SnapCompare) -> None:
    press = ["space", "up", "up", "space"]  # moving the cursor up pauses
    assert snap_compare(dashboard(), terminal_size=(120, 36), run_before=fed, press=press)
