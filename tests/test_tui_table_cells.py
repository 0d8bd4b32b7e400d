"""``MemoCellsTable`` (evmon/tui/widgets/table_cells.py): the private parts of Textual's
``DataTable`` it hooks, its cells equal ``DataTable``'s own rendering after updates, sorts,
cursor moves and a theme change, and after one cell changes the next frame renders that
cell only (no brokers)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable, Input

from evmon.lag import JetStreamLagRow, LagHistory
from evmon.tui.widgets.lag_tables import JetStreamLagTable, ViewRow, jetstream_rows
from evmon.tui.widgets.table_cells import MemoCellsTable

# --------------------------------------------------------------------------- the hooks


def test_hook_datatable_render_cell_takes_the_arguments_the_override_passes() -> None:
    assert list(inspect.signature(DataTable._render_cell).parameters) == [
        "self",
        "row_index",
        "column_index",
        "base_style",
        "width",
        "cursor",
        "hover",
    ]


def test_hook_datatable_renders_every_cell_through_render_cell() -> None:
    """The override is only reached if the row renderer still calls it for every cell."""
    source = inspect.getsource(DataTable._render_line_in_row)
    assert "render_cell = self._render_cell" in source
    assert source.count("render_cell(") >= 3  # the label, the fixed and the scrollable cells


def test_hook_datatable_render_cell_reads_what_the_memo_key_holds() -> None:
    """Every instance state ``DataTable._render_cell`` reads is part of the memo's key."""
    source = inspect.getsource(DataTable._render_cell)
    for name in (
        "self._update_count",  # the one the memo replaces by the value's identity
        "self._show_hover_cursor",
        "self._pseudo_class_state",
        "self.fixed_rows",
        "self.fixed_columns",
        "self.show_cursor",
        "self.cursor_foreground_priority",
        "self.cursor_background_priority",
        "self.header_height",
        "self.cell_padding",
        "row.height",
    ):
        assert name in source, name


# --------------------------------------------------------------------------- behaviour


class OneTable(App[None]):
    CSS = "MemoCellsTable.alarm > .datatable--cursor { background: red; }"

    def compose(self) -> ComposeResult:
        yield MemoCellsTable(cursor_type="row", zebra_stripes=True)
        yield Input()


def fill(table: MemoCellsTable, rows: int) -> None:
    table.add_column("name", key="name")
    table.add_column(Text("count", justify="right"), key="count")
    table.add_column("status", key="status")
    for i in range(rows):
        table.add_row(
            Text(f"consumer-{i}", no_wrap=True, overflow="ellipsis"),
            Text(str(i * 7), justify="right"),
            Text.assemble(("OK", "bold green"), " ", ("x", "dim")),
            key=f"r{i}",
        )


def frame(table: MemoCellsTable) -> list[str]:
    """Render the visible table now (what the compositor would ask for)."""
    width, height = table.size
    return [strip.text for strip in table.render_lines(Region(0, 0, width, height))]


def assert_cells_equal_datatables(table: MemoCellsTable) -> None:
    """Every cell on screen (and the header), in every cursor and hover state, equals what
    ``DataTable._render_cell`` renders for the same table: segments, styles and mouse meta."""
    style = table.rich_style
    for row in range(-1, table.row_count):
        for column, col in enumerate(table.ordered_columns):
            width = col.get_render_width(table)
            for cursor in (False, True):
                for hover in (False, True):
                    args = (row, column, style, width, cursor, hover)
                    ours = table._render_cell(*args)
                    theirs = DataTable._render_cell(table, *args)
                    assert ours == theirs, (row, column, cursor, hover)
                    assert [s.style.meta if s.style else None for s in ours[0]] == [
                        s.style.meta if s.style else None for s in theirs[0]
                    ]


async def test_cells_equal_datatables_own_after_updates_sorts_cursor_and_theme() -> None:
    app = OneTable()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MemoCellsTable)

        def sort() -> None:  # rows move: the meta follows
            table.sort("name", key=lambda cell: cell.plain, reverse=True)
            table.move_cursor(row=4)

        def theme() -> None:
            app.theme = "textual-light" if app.theme != "textual-light" else "nord"

        def update() -> None:
            table.update_cell("r3", "count", Text("99999", justify="right", style="red"))
            table.update_cell("r5", "status", Text("STALL", style="bold red"), update_width=True)

        steps: list[Callable[[], object]] = [
            lambda: fill(table, 12),
            update,
            sort,
            lambda: app.query_one(Input).focus(),  # the table's pseudo-classes: no focus
            lambda: table.add_class("alarm"),  # only the cursor's component style changes
            theme,
            lambda: table.remove_row("r0"),
        ]
        for step in steps:
            step()
            await pilot.pause()
            frame(table)
            assert_cells_equal_datatables(table)


async def test_after_one_cell_changes_the_next_frame_renders_that_cell_only() -> None:
    app = OneTable()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(MemoCellsTable)
        fill(table, 30)
        await pilot.pause()
        first = frame(table)
        before = table.cells_rendered
        assert frame(table) == first
        table.update_cell("r2", "count", Text("5", justify="right"))
        await pilot.pause()
        again = frame(table)
        assert table.cells_rendered - before == 1  # DataTable alone: the 3 x 18 on screen
        assert again[3].split() == ["consumer-2", "5", "OK", "x"]  # header, then r0, r1, r2
        assert again[:3] == first[:3] and again[4:] == first[4:]


async def test_a_lag_refresh_renders_only_the_cells_it_changed() -> None:
    """A refresh that changes one cell of each row (the usual lag round): the frame after it
    renders one cell a visible row, not the whole visible table."""

    class Lag(App[None]):
        def compose(self) -> ComposeResult:
            yield JetStreamLagTable()

    def rows(pending: int) -> list[ViewRow]:
        lag = [
            JetStreamLagRow("S", f"c{i:02d}", pending, 0, 0, 0, 1, 1, 9, "OK") for i in range(40)
        ]
        history: LagHistory[JetStreamLagRow] = LagHistory(3)
        history.observe(lag, now=0.0)
        return jetstream_rows(lag, history, False, 3, None)

    app = Lag()
    async with app.run_test(size=(200, 20)) as pilot:
        table = app.query_one(JetStreamLagTable)
        table.sync_rows(rows(5))
        await pilot.pause()
        frame(table)
        before = table.cells_rendered
        table.sync_rows(rows(6))  # same widths: only the pending cells change
        await pilot.pause()
        screen = frame(table)
        visible = table.size.height - 1  # under the header
        assert table.cells_rendered - before == visible
        assert all(line.split()[2] == "6" for line in screen[1:])
        assert table.get_cell_at(Coordinate(0, 2)).plain == "6"
