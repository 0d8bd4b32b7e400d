"""``FormModal``: the box, fields, error line and buttons the action modals share.

The re-publish, skip, export and confirm modals are each a centred box with a bold border
title, the fields of the subclass, a one-line error (what to fix, shown in place) and an
OK / Cancel row; ``escape`` and Cancel dismiss with ``cancel_result()``, OK and ``enter`` in
an input call ``action_submit``. A subclass names its widget ids with ``FORM`` (``export``:
``#export-box``, ``#export-error``, ``#export-ok``, ``#export-cancel``), yields its fields
from ``fields()`` and sizes its box in its own ``DEFAULT_CSS``::

    class AskName(FormModal[str | None]):
        FORM = "name"
        OK_LABEL = "Save"
        def fields(self) -> ComposeResult:
            yield Input(id="name-value")
        def action_submit(self) -> None:
            self.dismiss(self.query_one("#name-value", Input).value)
        def cancel_result(self) -> str | None:
            return None
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static
from textual.widgets.button import ButtonVariant

__all__ = ["FormModal"]

ResultT = TypeVar("ResultT")


class FormModal(ModalScreen[ResultT]):
    """A centred form: ``fields()``, an error line, OK and Cancel (see the module doc)."""

    DEFAULT_CSS = """
    FormModal { align: center middle; }
    FormModal > .form-box {
        height: auto;
        border: round $primary; border-title-style: bold; background: $surface; padding: 0 1;
    }
    FormModal .field-label { margin-top: 1; color: $text-muted; }
    FormModal .form-error { color: $error; height: auto; }
    FormModal .form-buttons { height: auto; margin-top: 1; }
    FormModal .form-buttons Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    #: The prefix of the widget ids (``{FORM}-box``, ``{FORM}-error``, ``{FORM}-ok``...).
    FORM: ClassVar[str] = "form"
    OK_LABEL: ClassVar[str] = "OK"
    OK_VARIANT: ClassVar[ButtonVariant] = "primary"
    CANCEL_LABEL: ClassVar[str] = "Cancel"
    #: The buttons' ids are ``{FORM}-{OK_ID}`` and ``{FORM}-{CANCEL_ID}``.
    OK_ID: ClassVar[str] = "ok"
    CANCEL_ID: ClassVar[str] = "cancel"
    #: False: no error line (a question has nothing to fix).
    ERROR_LINE: ClassVar[bool] = True

    def box_title(self) -> str:
        return ""

    def box_subtitle(self) -> str:
        return ""

    def fields(self) -> ComposeResult:
        """The widgets between the border title and the error line."""
        yield from ()

    def ok_label(self) -> str:
        return self.OK_LABEL

    def compose(self) -> ComposeResult:
        form = self.FORM
        with Vertical(id=f"{form}-box", classes="form-box") as box:
            box.border_title = self.box_title()
            box.border_subtitle = self.box_subtitle()
            yield from self.fields()
            if self.ERROR_LINE:
                yield Static("", id=f"{form}-error", classes="form-error", markup=False)
            with Horizontal(id=f"{form}-buttons", classes="form-buttons"):
                ok, cancel = f"{form}-{self.OK_ID}", f"{form}-{self.CANCEL_ID}"
                yield Button(self.ok_label(), id=ok, classes="form-ok", variant=self.OK_VARIANT)
                yield Button(self.CANCEL_LABEL, id=cancel, classes="form-cancel")

    def show_error(self, text: str) -> None:
        """Say what to fix; the form stays open."""
        self.query_one(f"#{self.FORM}-error", Static).update(text)

    @on(Input.Submitted)
    @on(Button.Pressed, ".form-ok")
    def _ok(self) -> None:
        self.action_submit()

    @on(Button.Pressed, ".form-cancel")
    def _cancelled(self) -> None:
        self.action_cancel()

    def action_submit(self) -> None:
        raise NotImplementedError

    def cancel_result(self) -> ResultT:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(self.cancel_result())
