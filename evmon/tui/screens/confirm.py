"""``ConfirmModal``: a yes/no question answered with y / n / escape (or the buttons).

Every action that writes to a broker asks through this last step, naming what will happen
("Re-publish 3 events to payments.card.failed?"); the typed result (``ModalScreen[bool]``)
lets callers ``await self.app.push_screen_wait(ConfirmModal(...))`` in a worker.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["ConfirmModal"]


class ConfirmModal(ModalScreen[bool]):
    """``True`` when confirmed (y, the confirm button), ``False`` otherwise (n, escape)."""

    DEFAULT_CSS = """
    ConfirmModal {
        align: center middle;
    }
    ConfirmModal > #confirm-box {
        width: auto;
        min-width: 40;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: round $warning;
        border-title-style: bold;
        background: $surface;
        padding: 1 2;
    }
    ConfirmModal #confirm-title {
        width: auto;
        max-width: 100%;
        text-style: bold;
        margin-bottom: 1;
    }
    ConfirmModal #confirm-body {
        width: auto;
        max-width: 100%;
        margin-bottom: 1;
    }
    ConfirmModal #confirm-buttons {
        width: auto;
        height: auto;
    }
    ConfirmModal #confirm-buttons Button {
        margin-right: 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", show=False),
        Binding("n,escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, title: str, body: str = "", confirm_label: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box") as box:
            box.border_title = "Confirm"
            yield Static(self.title_text, id="confirm-title", markup=False)
            if self.body:
                yield Static(self.body, id="confirm-body", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.confirm_label} (y)", id="confirm-yes", variant="warning")
                yield Button("Cancel (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()  # enter alone does not confirm

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
