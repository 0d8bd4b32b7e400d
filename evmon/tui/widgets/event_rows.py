"""How one row of the event list is laid out and styled: the columns, their headings, the
cell fitting and the row styles.

``RowStyles`` holds every style a row is drawn with, summed once per look: a row's cells
are ``widget style + component style + overlay`` (marked, cursor), and summing Rich styles
and reading the widget's ``rich_style`` (computed from every ancestor on each access) per
row cost more than the row's own text while events flood in.

    looks = RowStyles(widget.rich_style, component_style)
    base, cells = looks.get(marked=False, cursor="")   # cells["time"], cells["nats"], ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.style import Style

from evmon.codec import safe_text
from evmon.model import Event

__all__ = ["HEADINGS", "STYLED", "Columns", "RowStyles", "fit", "key_text", "no_badge"]

#: Column limits: the subject never below, the position never above, the payload's share.
MIN_SUBJECT = 16
MAX_POSITION = 24
MIN_PREVIEW = 16

#: Component styles a row may use (see ``EventList._style``).
STYLED = ("cursor", "cursor-blurred", "marked", "mark", "nats", "kafka", "time", "meta", "evicted")

HEADINGS = {
    "time": "TIME (UTC)",
    "source": "SRC",
    "subject": "SUBJECT / TOPIC",
    "position": "POSITION",
    "key": "KEY",
    "size": "SIZE",
    "preview": "PAYLOAD",
}


@dataclass(frozen=True, slots=True)
class Columns:
    """Column widths for one list width; 0 hides a column. One space separates columns."""

    width: int
    time: int
    source: int
    subject: int
    position: int
    key: int
    size: int
    preview: int

    GUTTER: ClassVar[int] = 2

    @classmethod
    def fit(
        cls,
        width: int,
        position: bool = True,
        key: bool = True,
        *,
        subject_seen: int = 0,
        position_seen: int = 0,
    ) -> Columns:
        """Fixed columns first; the payload preview gets the rest, or when too little is
        left for it (a narrow list beside the detail pane), the subject does. ``position``
        and ``key`` False drop columns that would stay empty (core NATS only).

        ``subject_seen``/``position_seen`` are the widest values seen so far: the subject
        column is that wide (up to 40% of the list) and the position column shows whole
        positions (``PAYMENTS#10421``), so the payload gets every other cell.
        """
        time, source = 12, 5
        size = 6 if width >= 70 else 5
        key_width = 12 if key and width >= 100 else 0
        if not position:
            position_width = 0
        elif position_seen:
            position_width = min(max(position_seen, 8), MAX_POSITION)
        else:
            position_width = 14 if width >= 80 else 11
        if subject_seen:
            subject = min(max(subject_seen, MIN_SUBJECT), max(MIN_SUBJECT, width * 2 // 5))
        else:
            subject = max(MIN_SUBJECT, min(40, width // 4))

        def rest() -> int:
            widths = (time, source, subject, position_width, key_width, size)
            return width - cls.GUTTER - sum(w + 1 for w in widths if w) - 1

        if rest() < MIN_PREVIEW:  # the payload keeps some room before the subject grows
            subject = max(MIN_SUBJECT, subject - (MIN_PREVIEW - rest()))
        if rest() < 16 and width < 60:
            position_width = 0
        preview = rest()
        if preview < 12:
            subject += max(preview + 1, 0)
            preview = 0
        return cls(width, time, source, subject, position_width, key_width, size, preview)

    def cells(self) -> list[tuple[str, int, bool]]:
        """(name, width, align right) of the visible columns, in order."""
        spec = [
            ("time", self.time, False),
            ("source", self.source, False),
            ("subject", self.subject, False),
            ("position", self.position, True),
            ("key", self.key, False),
            ("size", self.size, True),
            ("preview", self.preview, False),
        ]
        return [c for c in spec if c[1] > 0]


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` in exactly ``width`` cells, cut with an ellipsis."""
    n = cell_len(text)
    if n == width:
        return text
    if n < width:
        pad = " " * (width - n)
        return pad + text if right else text + pad
    if width <= 1:
        return "…"[:width]
    if right:  # keep the end: the offset matters more than the partition
        cut = text
        while cell_len(cut) > width - 1:
            cut = cut[1:]
        return "…" + cut
    return set_cell_size(text, width - 1) + "…"


def no_badge(ev: Event) -> str:
    return ""


def key_text(key: bytes | None) -> str:
    if key is None:
        return ""
    try:
        return safe_text(key.decode())
    except UnicodeDecodeError:
        return "0x" + key[:16].hex()


#: The component styles a row's cells are drawn in, besides the source's own colour.
CELL_STYLES = ("mark", "time", "meta", "evicted", "nats", "kafka")


class RowStyles:
    """The styles of a row in each of its states, summed once (see the module doc).

    ``component(name)`` gives the partial style of ``event-list--NAME``; ``base`` is the
    widget's own ``rich_style``. A new look (theme, focus styles) needs a new ``RowStyles``.
    """

    __slots__ = ("_base", "_component", "_states")

    def __init__(self, base: Style, component: Callable[[str], Style]) -> None:
        self._base = base
        self._component = component
        self._states: dict[tuple[bool, str], tuple[Style, dict[str, Style]]] = {}

    def get(self, marked: bool, cursor: str) -> tuple[Style, dict[str, Style]]:
        """(row style, cell styles by name) for a row; ``cursor`` is ``""`` (not the
        cursor's row), ``"cursor"`` or ``"cursor-blurred"``. Summed in the order a row
        always summed them: widget + component + overlay, overlay = marked + cursor."""
        state = (marked, cursor)
        found = self._states.get(state)
        if found is None:
            overlay = Style()
            if marked:
                overlay += self._component("marked")
            if cursor:
                overlay += self._component(cursor)
            rich_style = self._base
            cells = {name: rich_style + self._component(name) + overlay for name in CELL_STYLES}
            found = self._states[state] = (rich_style + overlay, cells)
        return found
