"""The dashboard's export (x) modal, driven by Pilot: the filtered or marked events are
written as JSON lines that read back identical, an existing file is not overwritten, and
every export leaves one audit line.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input, Static

from evmon.actions import identity
from evmon.codec import decode_record
from evmon.model import Event
from evmon.tui.screens.export import ExportModal
from tests.tui_actions_kit import (
    SIZE,
    _isolated,  # noqa: F401 - autouse: the audit log and the exports under tmp_path
    audit,
    main_screen,
    make_app,
    mark,
    note,
    screen_is,
)
from tests.waiting import async_wait_for

# --------------------------------------------------------------------------- export


def sample_events(unique: str) -> list[Event]:
    now = 1_700_000_000.5
    return [
        Event("nats", f"{unique}.a", b'{"id": 1}', now, (("H", b"1"), ("H", b"2"))),
        Event("kafka", f"{unique}-t", None, now + 1, (), b"\x00k", None, 2, 41),
        Event("nats", f"{unique}.b", bytes(range(256)), now + 2, (("X", b"\xff\xfe"),)),
        Event("nats", f"{unique}.a", "żółw".encode(), now + 3, (), None, "ST", None, 7),
    ]


async def test_export_filtered_then_marked_events_read_back_identical(
    tmp_path: Path, unique: str
) -> None:
    events = sample_events(unique)
    app = make_app(read_only=True)  # export changes no broker: allowed in read-only mode
    async with app.run_test(size=SIZE) as pilot:
        app.feed(events)
        app.filter_bar.set_text(f"{unique}.a")
        await async_wait_for(lambda: len(app.index) == 2, message="filter applied")

        await pilot.press("x")
        modal = await screen_is(app, ExportModal)
        assert "2 events (matching the filter)" in str(
            modal.query_one("#export-count", Static).render()
        )
        path_input = modal.query_one("#export-path", Input)
        default = Path(path_input.value)
        assert default.parent == tmp_path / "data" / "evmon" / "exports"
        assert default.name.startswith("evmon-export-")
        await pilot.press("enter")
        await note(app, f"exported 2 events to {default}")
        await main_screen(app)
        lines = (await asyncio.to_thread(default.read_bytes)).splitlines()
        assert [decode_record(line) for line in lines] == [events[0], events[3]]

        app.filter_bar.set_text("")
        await async_wait_for(lambda: len(app.index) == 4, message="filter cleared")
        await mark(pilot, app, [1, 2])
        await pilot.press("x")
        modal = await screen_is(app, ExportModal)
        marked = tmp_path / "marked.jsonl"
        modal.query_one("#export-path", Input).value = str(marked)
        await pilot.press("enter")
        await note(app, f"exported 2 events to {marked}")
        assert [
            decode_record(line)
            for line in (await asyncio.to_thread(marked.read_bytes)).splitlines()
        ] == events[1:3]

        # an existing file is not overwritten: the modal says so and stays open
        await pilot.press("x")
        modal = await screen_is(app, ExportModal)
        modal.query_one("#export-path", Input).value = str(marked)
        await pilot.press("enter")
        error = modal.query_one("#export-error", Static)
        await async_wait_for(lambda: "already exists" in str(error.render()), message="error")
        await pilot.press("escape")
        await main_screen(app)
    entries = audit()
    assert [(e["action"], e["outcome"]) for e in entries] == [("export", "ok"), ("export", "ok")]
    assert entries[1]["events"] == [identity(ev) for ev in events[1:3]]
    assert entries[1]["target"] == str(marked.resolve())
