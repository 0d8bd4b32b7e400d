"""The status bar: connections on the left, counters and the live/paused state on the right.

The app hands it a ``StatusLine`` on the UI timer; it redraws only when the text it would
show changes. On narrow screens the connections lose their URLs, then their details.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from evmon.tui import format as fmt
from evmon.tui.connections import ConnectionView

__all__ = ["StatusBar", "StatusLine"]

STATE_COLOURS = {
    "connected": "success",
    "connecting": "warning",
    "reconnecting": "warning",
    "failed": "error",
    "closed": "error",
}


@dataclass(frozen=True, slots=True)
class StatusLine:
    """Everything the bar shows, as plain values (so equal lines need no redraw)."""

    connections: tuple[tuple[str, str, str, str], ...] = ()
    total: int = 0
    rate: str = "0/s"
    retained: int = 0
    capacity: int = 1
    dropped: int = 0
    follow: bool = True
    new_rows: int = 0
    marked: int = 0
    read_only: bool = False
    #: Events the filter left out because a ``/regex/`` term ran out of its time budget.
    regex_over: int = 0

    @staticmethod
    def connection_rows(views: Sequence[ConnectionView]) -> tuple[tuple[str, str, str, str], ...]:
        # the context rides with the system name, so it stays when the URL has no room
        return tuple(
            (f"{v.system} [{v.context}]" if v.context else v.system, v.url, v.state, v.describe())
            for v in views
        )


class StatusBar(Widget):
    """One line: ``● nats nats://… connected │ 12,345 events 1.2k/s │ buffer 12% │ LIVE``."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.line = StatusLine()

    def set_line(self, line: StatusLine) -> None:
        if line != self.line:
            self.line = line
            self.refresh()

    def _colour(self, name: str) -> str:
        return self.app.theme_variables.get(name, "")

    def _stats(self) -> Text:
        line = self.line
        sep = (" │ ", "dim")
        fill = 100 * line.retained / line.capacity if line.capacity else 0
        parts: list[tuple[str, str] | Text] = [
            (f"{fmt.count(line.total)} events ", "bold"),
            (line.rate, ""),
            sep,
            (f"buffer {fill:.0f}%", "bold" if fill >= 99.5 else ""),
        ]
        if line.dropped:
            parts += [sep, (f"dropped {fmt.count(line.dropped)}", f"bold {self._colour('error')}")]
        if line.regex_over:
            over = f"regex budget exceeded on {fmt.count(line.regex_over)} events"
            parts += [sep, (over, f"bold {self._colour('warning')}")]
        if line.marked:
            parts += [sep, (f"{line.marked} marked", f"bold {self._colour('accent')}")]
        if line.read_only:
            parts += [sep, ("read-only", "bold")]
        parts.append(sep)
        if line.follow:
            parts.append(("● LIVE", f"bold {self._colour('success')}"))
        else:
            parts.append(
                (" PAUSED ", f"bold {self._colour('background')} on {self._colour('warning')}")
            )
            if line.new_rows:
                parts.append(
                    (f" +{fmt.count(line.new_rows)} new", f"bold {self._colour('warning')}")
                )
        text = Text()
        for part in parts:
            if isinstance(part, Text):
                text.append_text(part)
            else:
                text.append(*part)
        text.append(" ")
        return text

    def _connections(self, room: int) -> Text:
        rows = self.line.connections
        if not rows:
            return Text(" no connections", style="dim")
        for level in range(3):
            text = Text(" ")
            for i, (system, url, state, described) in enumerate(rows):
                if i:
                    text.append("  ")
                text.append("● ", style=self._colour(STATE_COLOURS.get(state, "error")))
                text.append(system, style="bold")
                if level == 0:
                    text.append(f" {url}", style="dim")
                text.append(f" {described if level < 2 else state}")
            if cell_len(text.plain) <= room or level == 2:
                text.truncate(max(room, 0), overflow="ellipsis")
                return text
        raise AssertionError("unreachable")

    def render(self) -> Text:
        width = self.size.width
        stats = self._stats()
        room = width - stats.cell_len - 1
        left = self._connections(room)
        gap = max(width - left.cell_len - stats.cell_len, 1)
        return Text.assemble(left, " " * gap, stats, no_wrap=True, overflow="ellipsis")
