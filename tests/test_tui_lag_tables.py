"""The lag tables' fast paths: cached cells equal fresh ones, a sync's column widths equal a
fresh table's, and a sliced sync superseded by another stops (no brokers)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from evmon.lag import JetStreamLagRow, LagHistory, Status
from evmon.tui.widgets.lag_tables import (
    JetStreamLagTable,
    RowCache,
    ViewRow,
    jetstream_rows,
)


def consumers(n: int, status: Status, pending: int = 5, width: int = 1) -> list[JetStreamLagRow]:
    return [
        JetStreamLagRow("S", f"c{i:0{width}d}", pending, 0, 0, 0, 1, 1, 9, status) for i in range(n)
    ]


def view(rows: list[JetStreamLagRow], cache: RowCache | None = None) -> list[ViewRow]:
    history: LagHistory[JetStreamLagRow] = LagHistory(3)
    history.observe(rows, now=0.0)
    return jetstream_rows(rows, history, False, 3, cache)


def plain(rows: list[ViewRow]) -> list[tuple[str, list[tuple[str, str]]]]:
    return [(k, [(c.plain, str(c.style)) for c in cells]) for k, cells in rows]


def test_cached_cells_equal_fresh_ones_and_are_reused_while_unchanged() -> None:
    cache: RowCache = {}
    first = view(consumers(4, "OK"), cache)
    again = view(consumers(4, "OK"), cache)
    assert all(a[1] is b[1] for a, b in zip(first, again, strict=True))
    changed = consumers(4, "OK")
    changed[2] = JetStreamLagRow("S", "c2", 99, 0, 0, 0, 1, 1, 9, "OK")
    after = view(changed, cache)
    assert after[2][1] is not first[2][1]
    assert plain(after) == plain(view(changed))  # what the uncached path builds


class Tables(App[None]):
    def compose(self) -> ComposeResult:
        yield JetStreamLagTable(id="a")
        yield JetStreamLagTable(id="b")


def widths(table: JetStreamLagTable) -> list[int]:
    return [column.content_width for column in table.columns.values()]


async def test_column_widths_equal_a_fresh_tables_after_cells_narrow_and_widen() -> None:
    app = Tables()
    async with app.run_test(size=(200, 30)) as pilot:
        table = app.query_one("#a", JetStreamLagTable)
        for rows in (
            consumers(30, "NOCOMMIT", pending=123456, width=6),
            consumers(30, "OK"),  # every cell narrower than the column (and than "status")
            consumers(12, "STALL", pending=7, width=3),
        ):
            table.sync_rows(view(rows))
            fresh = JetStreamLagTable()
            await app.mount(fresh)
            fresh.sync_rows(view(rows))  # Textual's own widths: every row added anew
            await pilot.pause()
            assert widths(table) == widths(fresh)
            assert table.row_keys() == [key for key, _ in view(rows)]
            await fresh.remove()


async def test_a_sliced_sync_stops_when_another_sync_begins() -> None:
    app = Tables()
    async with app.run_test(size=(200, 30)) as pilot:
        table = app.query_one("#a", JetStreamLagTable)
        old, new = view(consumers(10, "OK")), view(consumers(4, "STALL"))
        steps = table.syncing(old, size=2)
        next(steps)
        table.sync_rows(new)  # a key drew newer rows meanwhile
        assert list(steps) == []
        await pilot.pause()
        assert table.row_keys() == [key for key, _ in new]
        assert [table.cells(k)[-1].plain for k in table.row_keys()] == ["STALL"] * 4


async def test_a_sliced_syncs_cell_updates_repaint_the_table_once_when_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every ``update_cell`` asks for a repaint of the whole table (and invalidates its
    cached lines): between the slices of a sync none reaches the widget, one at the end."""
    app = Tables()
    async with app.run_test(size=(200, 30)) as pilot:
        table = app.query_one("#a", JetStreamLagTable)
        table.sync_rows(view(consumers(20, "OK")))
        await pilot.pause()
        whole: list[int] = []
        original = Widget.refresh

        def counting(self: Widget, *regions: Any, **kw: Any) -> Widget:
            if self is table and not regions and not kw.get("layout"):
                whole.append(1)
            return original(self, *regions, **kw)

        monkeypatch.setattr(Widget, "refresh", counting)
        steps = table.syncing(view(consumers(20, "STALL")), size=5)
        for _ in steps:  # three yields between four slices
            assert whole == []
        assert len(whole) == 1
        assert [table.cells(k)[-1].plain for k in table.row_keys()] == ["STALL"] * 20
