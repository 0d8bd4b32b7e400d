"""The full payload of one event in a scrollable modal.

Formatting a 1 MiB payload (pretty JSON or a hex dump of tens of thousands of lines) runs
in a thread worker while the modal shows "formatting…"; the lines are then drawn by a Line
API ``TextView``, so neither opening nor scrolling blocks the dashboard.
"""

from __future__ import annotations

from typing import ClassVar

from rich.highlighter import JSONHighlighter
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, LoadingIndicator

from evmon.codec import PayloadKind, classify, safe_text
from evmon.model import Event
from evmon.tui import format as fmt
from evmon.tui.widgets.detail import payload_text
from evmon.tui.widgets.text_view import TextView

__all__ = ["PayloadScreen"]


class PayloadScreen(ModalScreen[None]):
    """Every byte of one event's payload, formatted like the detail pane."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f", "close", "Close"),
    ]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
        self.kind = PayloadKind.EMPTY
        self.line_count = 0

    def compose(self) -> ComposeResult:
        ev = self.event
        with Vertical(id="payload-box") as box:
            # Content, never str: a str title is parsed as markup (the subject is not ours).
            box.border_title = Content(f"payload of {safe_text(ev.subject)}")
            box.border_subtitle = f"{fmt.count(ev.size)} bytes"
            yield LoadingIndicator(id="payload-loading")
            yield TextView(id="payload-text")
            yield Label("", id="payload-info")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextView).display = False
        self.format_payload()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def format_payload(self) -> None:
        payload = self.event.payload
        kind = classify(payload)
        text, _ = payload_text(payload, max(len(payload or b""), 1), kind)
        lines = text.split("\n")
        self.app.call_from_thread(self._show, kind, lines)

    def _show(self, kind: PayloadKind, lines: list[str]) -> None:
        if not self.is_mounted:  # closed before the formatting finished
            return
        self.kind = kind
        self.line_count = len(lines)
        view = self.query_one(TextView)
        view.set_lines(lines, JSONHighlighter() if kind is PayloadKind.JSON else None)
        self.query_one(LoadingIndicator).display = False
        view.display = True
        view.focus()
        info = f"{kind.value} · {fmt.count(len(lines))} lines · escape to close"
        self.query_one("#payload-info", Label).update(info)

    def action_close(self) -> None:
        self.dismiss(None)
