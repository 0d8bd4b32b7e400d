"""The filter bar: the whole filter language, applied as the operator types.

Typing is debounced; then the expression is parsed. A valid one is posted as
``FilterChanged``; a bad one is shown under the input (the expression, a caret under the
failing term and the reason) while the last good filter stays applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from evmon.codec import safe_text
from evmon.filter import Filter, FilterError, parse_filter
from evmon.tui.messages import FilterChanged
from evmon.tui.widgets.content_size import ContentSized

if TYPE_CHECKING:
    from evmon.lenses import Lens

__all__ = ["FilterBar", "FilterInput"]

DEBOUNCE = 0.25
PLACEHOLDER = (
    "press / to filter:  orders.*.created  source:kafka  key:42  "
    '"text"  json:status=paid  !orders.>'
)


def focus_now(widget: Widget) -> None:
    """Move the keyboard focus to ``widget`` before the next key is routed.

    ``Widget.focus()`` defers the move until the messages already queued are handled, so
    keys read in the same batch as ``/`` (fast typing, SSH) would still reach the old widget
    and run as dashboard commands. The filter's keys are priority bindings that call this.
    """
    widget.screen.set_focus(widget)


class FilterInput(ContentSized, Input):
    """The filter's input line; ``enter`` applies and ``escape`` leaves, both giving the
    focus back to the event list at once (priority bindings: see ``focus_now``)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter", "screen.submit_filter", "Apply and go to the list", show=False, priority=True
        ),
        Binding("escape", "screen.leave_filter", "Leave filter", show=True, priority=True),
    ]

    def _watch_value(self, value: str) -> None:
        """Textual's, but the new text width is no layout of the screen (content_size)."""
        with self.content_changing():
            super()._watch_value(value)


class FilterBar(Vertical):
    """A prompt, the input and (when the expression is bad) the error under it."""

    def __init__(
        self,
        expr: str = "",
        *,
        blink: bool = True,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._initial = expr
        self._blink = blink
        #: The expression in force (the last one that parsed).
        self.applied = ""
        self.error: FilterError | None = None
        self._error_shown = False
        self._timer: Timer | None = None
        #: What the ``dup`` and ``drift`` terms read (the dashboard's lens).
        self.lens: Lens | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-line"):
            yield Label("filter", id="filter-prompt")
            yield FilterInput(
                self._initial,
                placeholder=PLACEHOLDER,
                id="filter-input",
                select_on_focus=False,
            )
        yield Static(id="filter-error")

    @property
    def input(self) -> Input:
        return self.query_one(FilterInput)

    def on_mount(self) -> None:
        self.input.cursor_blink = self._blink
        self.apply()  # the initial expression: applied if valid, else shown as an error

    @property
    def text(self) -> str:
        return self.input.value

    def set_text(self, expr: str) -> None:
        """Replace the expression and apply it at once (a tree selection, a command)."""
        with self.input.prevent(Input.Changed):
            self.input.value = expr
        self.input.cursor_position = len(expr)
        self.apply()

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self.apply)

    def apply(self) -> None:
        """Parse the input now; post ``FilterChanged`` when it is valid and new."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        expr = self.input.value.strip()
        try:
            flt: Filter | None = parse_filter(expr, self.lens) if expr else None
        except FilterError as err:
            self._show_error(err)
            return
        self._show_error(None)
        if flt is not None and flt.is_empty:
            flt = None
        if expr != self.applied:
            self.applied = expr
            self.post_message(FilterChanged(expr, flt))

    def _show_error(self, err: FilterError | None) -> None:
        """One line under the input: carets under the bad term, the reason, what stays."""
        self.error = err
        self.set_class(err is not None, "-error")
        box = self.query_one("#filter-error", Static)
        if err is None:
            if self._error_shown:
                self._error_shown = False
                box.update("")  # a Static's update lays the screen out: only when it was shown
            return
        self._error_shown = True
        field = self.input
        text_x = field.region.x - self.region.x + field.styles.padding.left
        start = cell_len(safe_text(err.expr[: err.position])) - round(field.scroll_x)
        width = max(1, cell_len(safe_text(err.term)))
        line = Text(" " * max(text_x + start, 0), no_wrap=True, overflow="ellipsis")
        line.append("^" * width, style="bold")
        line.append(f" column {err.position + 1}: {err.reason}")
        line.append(f"  · still applied: {safe_text(self.applied) or '(none)'}", style="dim")
        box.update(line)
