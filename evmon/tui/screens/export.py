"""The export (``x``) modal and flow: marked events, or all matching the filter, to JSONL.

The file is what ``evmon replay`` reads. Export changes no broker, so it stays available in
read-only mode; ``evmon.actions.export`` records it in the audit log all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Input, Label, Static

from evmon.actions import ActionContext, default_export_path, export
from evmon.codec import safe_text
from evmon.errors import EvmonError
from evmon.model import Event
from evmon.tui import format as fmt
from evmon.tui.screens.form import FormModal

__all__ = ["ExportModal", "run_export"]


class ExportModal(FormModal[Path | None]):
    """Asks where to write ``events`` (``what`` says which: marked or filtered), naming them."""

    DEFAULT_CSS = """
    ExportModal > #export-box { width: 80%; max-width: 110; }
    ExportModal #export-events { height: auto; margin-top: 1; }
    """

    FORM = "export"
    OK_LABEL = "Export"

    def __init__(self, events: Sequence[Event], what: str, path: Path | None = None) -> None:
        super().__init__()
        self.events = events
        self.count = len(events)
        self.what = what
        self.path = path if path is not None else default_export_path()

    def box_title(self) -> str:
        return "Export to JSONL"

    def fields(self) -> ComposeResult:
        noun = "event" if self.count == 1 else "events"
        yield Label(f"{self.count} {noun} ({self.what})", id="export-count")
        yield Static(fmt.event_lines(self.events), id="export-events", markup=False)
        yield Label("File (for evmon replay)", classes="field-label")
        yield Input(str(self.path), id="export-path")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    def action_submit(self) -> None:
        raw = self.query_one("#export-path", Input).value.strip()
        if not raw:
            self.show_error("give a file name")
            return
        path = Path(raw).expanduser()
        if path.exists():
            self.show_error(f"{path} already exists; choose another file name")
            return
        self.dismiss(path)

    def cancel_result(self) -> Path | None:
        return None


async def run_export(app: App[Any], ctx: ActionContext, events: list[Event], what: str) -> None:
    """Ask for the path, write the file, report it (run in a worker: it waits on the modal)."""
    if not events:
        app.notify("No events to export.", severity="warning")
        return
    path = await app.push_screen_wait(ExportModal(events, what))
    if path is None:
        return
    try:
        result = await export(ctx, events, path)
    except EvmonError as err:
        app.notify(safe_text(str(err)), title="Export failed", severity="error", markup=False)
        return
    app.notify(safe_text(result.summary()), title="Exported", markup=False)
