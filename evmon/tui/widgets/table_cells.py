"""A ``DataTable`` that keeps each cell's rendering while the cell's value is the same object.

Why: ``DataTable`` keys its cell render cache by a table-wide update count, and every
``update_cell`` bumps it. A lag refresh changes one cell of each row (the trend, usually),
so the next frame rendered every visible cell again through Rich (``Padding`` in ``Styled``
in ``render_lines``, about 0.3 ms a cell): 40-70 ms a frame for the two lag tables, the
largest part of a refresh's event-loop stall at 200 groups and 1,000 consumers.

``MemoCellsTable`` keeps what ``DataTable._render_cell`` returned for a data cell, keyed by
the cell value's identity and everything else the rendering reads (the row and column index,
which the segments carry as mouse meta, width, base style, cursor, hover, the pseudo-class
state, the cursor settings, the fixed rows and columns, padding and the row's height). A
changed cell is a new value object, so only it is rendered again; the output is what
``DataTable`` itself returns, byte for byte (``tests/test_tui_table_cells.py`` compares the
two). The header's cells are kept by their label the same way; row labels (evmon's tables
have none) go to ``DataTable`` unchanged. Style updates (a theme or
CSS change) clear the memo, as they clear ``DataTable``'s own caches.

This module is the one place evmon touches private parts of Textual: it overrides
``DataTable._render_cell`` and reads ``_show_hover_cursor`` and ``_pseudo_class_state``.
pyproject.toml bounds Textual (``>=8.2.8,<9``), and ``tests/test_tui_table_cells.py``
names each hook, broker-free, so a Textual that moves one fails there by name.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widgets import DataTable

__all__ = ["MEMO_CELLS", "MemoCellsTable"]

#: What ``DataTable._render_cell`` returns: a cell's lines of segments.
SegmentLines = list[list[Segment]]

#: Cells kept: two screens of a wide table in every cursor and hover state they were drawn
#: in, many times over (a cell's entry is a few segments).
MEMO_CELLS = 8192


class MemoCellsTable(DataTable[Text]):
    """``DataTable`` whose data cells are rendered again only when their value changes."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: key -> (the value rendered, its lines); the value is kept so its id stays unique.
        self._cell_memo: LRUCache[Hashable, tuple[object, SegmentLines]] = LRUCache(MEMO_CELLS)
        #: Cells rendered through ``DataTable`` (memo misses and row labels), for tests.
        self.cells_rendered = 0

    def notify_style_update(self) -> None:
        self._cell_memo.clear()
        super().notify_style_update()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if column_index < 0:  # a row label
            self.cells_rendered += 1
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value: object
        if row_index < 0:  # the header
            value, height = self.ordered_columns[column_index].label, self.header_height
        else:
            row_key, column_key = self.coordinate_to_cell_key(Coordinate(row_index, column_index))
            value, height = self.get_cell(row_key, column_key), self.rows[row_key].height
        key = (
            id(value),
            row_index,
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.show_cursor,
            self.cursor_foreground_priority,
            self.cursor_background_priority,
            self.fixed_rows,
            self.fixed_columns,
            self.cell_padding,
            height,
        )
        hit = self._cell_memo.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        self.cells_rendered += 1
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_memo[key] = (value, lines)
        return lines
