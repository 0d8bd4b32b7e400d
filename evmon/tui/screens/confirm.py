"""``ConfirmModal``: a yes/no question answered with y / n / escape (or the buttons).

Every action that writes to a broker asks through this last step, naming what will happen
("Re-publish 3 events to payments.card.failed?"); the typed result (``ModalScreen[bool]``)
lets callers ``await self.app.push_screen_wait(ConfirmModal(...))`` in a worker.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Button, Static

from evmon.tui.screens.form import FormModal

__all__ = ["ConfirmModal"]


class ConfirmModal(FormModal[bool]):
    """``True`` when confirmed (y, the confirm button), ``False`` otherwise (n, escape)."""

    DEFAULT_CSS = """
    ConfirmModal > #confirm-box {
        width: auto;
        min-width: 40;
        max-width: 90%;
        max-height: 90%;
        border: round $warning;
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
        margin-top: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", show=False),
        Binding("n,escape", "answer(False)", "No", show=False),
    ]

    FORM = "confirm"
    OK_VARIANT = "warning"
    CANCEL_LABEL = "Cancel (n)"
    OK_ID, CANCEL_ID = "yes", "no"
    ERROR_LINE = False

    def __init__(self, title: str, body: str = "", confirm_label: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def box_title(self) -> str:
        return "Confirm"

    def ok_label(self) -> str:
        return f"{self.confirm_label} (y)"

    def fields(self) -> ComposeResult:
        yield Static(self.title_text, id="confirm-title", markup=False)
        if self.body:
            yield Static(self.body, id="confirm-body", markup=False)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()  # enter alone does not confirm

    def action_submit(self) -> None:
        self.dismiss(True)

    def cancel_result(self) -> bool:
        return False

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
