"""The key footer: one widget, one line, repainted (never re-laid out) when its keys change.

Textual's ``Footer`` is a container with a ``FooterKey`` widget per key, and it rebuilds
itself (every key unmounted and mounted again) when the keys change. That rebuild forces a
layout of the whole screen: under a 20,000 msgs/s flood with 100,000 events retained, the
frame after ``/`` (the filter takes the focus, so the keys change) cost 40-85 ms, the
slowest key echoes of the dashboard. ``KeyFooter`` draws the same line itself: the keys'
text and styles are Textual's (the ``footer-key--*`` component classes and the theme's
``$footer-*`` variables), a click or a hover finds its key by column, and a change of keys is
a repaint of one line.

What the rebuilt footer had and this one does not: binding groups (no evmon screen uses
them) and a tooltip per key widget (the hovered key's tooltip is the widget's tooltip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["FooterEntry", "KeyFooter"]

#: The separator before the command palette's key, docked right (``border-left: vkey``).
PALETTE_BAR = "▏"


@dataclass(frozen=True, slots=True)
class FooterEntry:
    """One key as the footer shows it (the binding's first key for an action)."""

    key: str
    display: str
    description: str
    action: str
    enabled: bool
    tooltip: str


class KeyFooter(Widget, can_focus=False):
    """The screen's active bindings on one line; ``shown`` is what is drawn."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "footer-key--key",
        "footer-key--description",
        "footer-key--hover",
        "footer-key--bar",
    }
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .footer-key--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-key--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .footer-key--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        .footer-key--bar {
            color: $foreground 20%;
        }
    }
    """

    compact = reactive(False)
    """Less whitespace (narrow screens): ``/ Filter`` instead of `` / Filter ``."""
    show_command_palette = reactive(True)
    """The command palette's key on the right."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.shown: tuple[FooterEntry, ...] = ()
        self.palette: FooterEntry | None = None
        #: How many times the keys shown changed (each one a repaint of this line).
        self.changes = 0
        self._spans: list[tuple[int, int, FooterEntry]] = []
        self._hover: FooterEntry | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen[object]) -> None:
        """Take the screen's active keys; repaint only if what is shown changes."""
        if not self.is_attached or screen is not self.screen:
            return
        app = self.app
        shown: list[FooterEntry] = []
        actions: set[str] = set()
        active = screen.active_bindings
        for _, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in actions:
                continue  # an action bound to several keys is shown once, as Footer does
            actions.add(binding.action)
            display = app.get_key_display(binding)
            shown.append(
                FooterEntry(
                    binding.key,
                    display,
                    binding.description,
                    binding.action,
                    enabled,
                    tooltip or binding.tooltip,
                )
            )
        palette = None
        found = active.get(app.COMMAND_PALETTE_BINDING) if app.ENABLE_COMMAND_PALETTE else None
        if found is not None:
            _, binding, enabled, tooltip = found
            palette = FooterEntry(
                binding.key,
                app.get_key_display(binding),
                binding.description,
                binding.action,
                enabled,
                binding.tooltip or binding.description,
            )
        entries = tuple(shown)
        if entries != self.shown or palette != self.palette:
            self.shown, self.palette = entries, palette
            self.changes += 1
            self.refresh()

    # ----------------------------------------------------------------- drawing

    def render(self) -> Text:
        key_style = self.get_component_rich_style("footer-key--key")
        desc_style = self.get_component_rich_style("footer-key--description")
        hover_style = self.get_component_rich_style("footer-key--hover")
        dim = Style(dim=True)
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, FooterEntry]] = []
        compact = self.compact

        def add(entry: FooterEntry) -> None:
            start = line.cell_len
            pad = "" if compact else " "
            line.append(f"{pad}{entry.display}{pad}", key_style)
            if entry.description:
                text = f" {entry.description}" if compact else f"{entry.description} "
                line.append(text, desc_style)
            if entry is self._hover and entry.enabled:
                line.stylize(hover_style, start)
            if not entry.enabled:
                line.stylize(dim, start)
            spans.append((start, line.cell_len, entry))

        for entry in self.shown:
            add(entry)
            if compact:
                line.append(" ")
        palette = self.palette if self.show_command_palette else None
        if palette is not None:
            # Docked right, as Textual draws it: a bar, then the key in the compact style.
            text = f"{palette.display} {palette.description}" if palette.description else ""
            gap = self.size.width - line.cell_len - (1 + cell_len(text) + 1)
            if gap >= 0:
                line.append(" " * gap)
                line.append(PALETTE_BAR, self.get_component_rich_style("footer-key--bar"))
                start = line.cell_len
                line.append(palette.display, key_style)
                line.append(f" {palette.description}", desc_style)
                if palette is self._hover:
                    line.stylize(hover_style, start)
                spans.append((start, line.cell_len, palette))
                line.append(" ")
        self._spans = spans
        return line

    # ----------------------------------------------------------------- mouse

    def _entry_at(self, x: int) -> FooterEntry | None:
        for start, end, entry in self._spans:
            if start <= x < end:
                return entry
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        entry = self._entry_at(event.x)
        if entry is None:
            return
        if entry.enabled:
            self.app.simulate_key(entry.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        entry = self._entry_at(event.x)
        if entry is not self._hover:
            self._hover = entry
            self.tooltip = entry.tooltip if entry is not None and entry.tooltip else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()
