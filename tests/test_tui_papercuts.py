"""Papercuts of the dashboard tour: the lag screen at 80 columns (status first), ``escape`` out
of the full-screen payload view, the help naming Tab for the subject tree, and a ``json:``
filter shown in the payload preview. Deterministic sample data (``evmon.tui.sample``)."""

from __future__ import annotations

from evmon.tui.screens.lag import LagScreen
from evmon.tui.widgets.lag_tables import LagTable
from tests.test_tui_snapshots import connected_dashboard, lag_screen


def drawn_columns(table: LagTable) -> list[str]:
    return [str(column.key.value) for column in table.ordered_columns]


async def test_the_lag_tables_put_status_first_when_narrow_and_back_when_wide() -> None:
    app = connected_dashboard()
    async with app.run_test(size=(140, 36)) as pilot:
        await lag_screen(pilot)
        screen = app.screen
        assert isinstance(screen, LagScreen)
        kafka, js = screen.kafka_table, screen.jetstream_table
        assert not kafka.narrow and drawn_columns(kafka)[-2:] == ["trend", "status"]
        kafka.focus()
        kafka.move_cursor(row=1)
        await pilot.pause()
        assert kafka.cursor_key is not None and "ledger-sync" in kafka.cursor_key

        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert kafka.narrow and js.narrow
        assert drawn_columns(kafka)[:4] == ["group", "status", "trend", "lag"]
        assert drawn_columns(js)[:4] == ["stream", "consumer", "status", "trend"]
        assert "ledger-sync" in (kafka.cursor_key or "")  # the cursor kept its row
        row = [cell.plain.strip() for cell in kafka.get_row(kafka.cursor_key or "")]
        assert row[:3] == ["▸ ledger-sync", "STOP", "█████"]
        # what each row shows is still by column key (tests and the screen read it so)
        assert kafka.get_cell(kafka.cursor_key or "", "state").plain == "Empty"

        await pilot.press("o")  # a redraw in the narrow order keeps it
        assert drawn_columns(kafka)[1] == "status"

        await pilot.resize_terminal(140, 36)
        await pilot.pause()
        assert not kafka.narrow and drawn_columns(kafka)[-1] == "status"
        assert "ledger-sync" in (kafka.cursor_key or "")
