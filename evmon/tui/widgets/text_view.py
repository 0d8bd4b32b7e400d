"""A read-only Line API view of many lines of text (the full payload view).

A pretty-printed 1 MiB JSON payload is tens of thousands of lines: only the lines on screen
are turned into strips (highlighted per line, cached), so opening and scrolling stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["TextView"]

#: Lines wider than this are cut (a minified 1 MiB JSON line would be one huge strip).
MAX_LINE = 4_000


class TextView(ScrollView, can_focus=True):
    """Scrollable lines with an optional per-line highlighter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("left,h", "scroll_left", "Left", show=False),
        Binding("right,l", "scroll_right", "Right", show=False),
        Binding("home,g", "scroll_home", "Top", show=False),
        Binding("end,G", "scroll_end", "Bottom", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
    ]

    DEFAULT_CSS = """
    TextView {
        overflow: auto;
    }
    """

    def __init__(
        self,
        lines: Sequence[str] = (),
        highlighter: Highlighter | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._cache: LRUCache[int, Strip] = LRUCache(1_000)
        self.highlighter = highlighter
        self.lines: Sequence[str] = ()
        self.set_lines(lines)

    def set_lines(self, lines: Sequence[str], highlighter: Highlighter | None = None) -> None:
        self.lines = [line.expandtabs(4)[:MAX_LINE] for line in lines]
        if highlighter is not None:
            self.highlighter = highlighter
        self._cache.clear()
        width = max((len(line) for line in self.lines), default=0)
        self.virtual_size = Size(width + 1, len(self.lines))
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            text = Text(self.lines[index], no_wrap=True, end="")
            if self.highlighter is not None:
                self.highlighter.highlight(text)
            segments = [
                Segment(seg.text, base + seg.style if seg.style else base)
                for seg in text.render(self.app.console)
            ]
            strip = Strip(segments)
            self._cache[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)
