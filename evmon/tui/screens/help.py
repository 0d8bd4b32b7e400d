"""The help screen (``?``): every key binding, grouped by where it works, and the filter
language at a glance.

The app builds the sections from the ``BINDINGS`` of itself and its widgets
(``EvmonApp.help_sections``), so a binding added anywhere shows up here without editing
this file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["FILTER_HELP", "HelpScreen", "HelpSection"]

#: (title, [(keys, description), ...])
HelpSection = tuple[str, Sequence[tuple[str, str]]]

FILTER_HELP: Sequence[tuple[str, str]] = [
    ("orders.*.created  orders.>", "subject or topic, NATS wildcards (any of several)"),
    ('"some text"  text:word', "payload contains it (any case)"),
    ("/regex/", "payload matches the regular expression"),
    ("key:VALUE", "Kafka key equals VALUE"),
    ("header:NAME[=VALUE]", "header present / equal"),
    ("json:path.to.field=VALUE", "JSON field equals VALUE"),
    ("partition:N  source:nats|kafka  stream:NAME", "as named"),
    ('subject:"!odd.name"  subject:"a b".>', "a subject exactly / below it (quoted: literal)"),
    ("!TERM", "not TERM; all terms must match"),
]


class HelpScreen(ModalScreen[None]):
    """Key bindings and the filter language."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__()
        self.sections = list(sections)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "evmon · keys"
            box.border_subtitle = "escape to close"
            yield Static(self._render_help(), id="help-body")

    def _render_help(self) -> RenderableType:
        parts: list[RenderableType] = []
        for title, rows in [*self.sections, ("Filter language (/)", FILTER_HELP)]:
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True, min_width=14)
            table.add_column()
            for keys, description in rows:
                table.add_row(keys, description)
            parts += [Text(title, style="bold underline"), table, Text("")]
        return Group(*parts[:-1])

    def binding_texts(self) -> list[str]:
        """Every (keys, description) line shown, as text (for tests)."""
        return [f"{keys} {description}" for _, rows in self.sections for keys, description in rows]

    def action_close(self) -> None:
        self.dismiss(None)
