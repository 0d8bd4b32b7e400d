"""Papercuts of the dashboard tour: the lag screen at 80 columns (status first), ``escape`` out
of the full-screen payload view, the help naming Tab for the subject tree, and a ``json:``
filter shown in the payload preview. Deterministic sample data (``evmon.tui.sample``)."""

from __future__ import annotations

from evmon.codec.display import preview
from evmon.filter import parse_filter
from evmon.tui.screens.help import HelpScreen
from evmon.tui.screens.lag import LagScreen
from evmon.tui.screens.payload import PayloadScreen
from evmon.tui.widgets.lag_tables import LagTable
from tests.test_tui_snapshots import connected_dashboard, dashboard, fed, lag_screen
from tests.waiting import async_wait_for


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


# --------------------------------------------------------------------------- detail, payload, help


async def test_escape_leaves_the_full_screen_detail_and_the_payload_view() -> None:
    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:
        await fed(pilot)
        events, detail = app.event_list, app.dashboard.detail
        await pilot.press("enter")  # under 100 columns the detail takes the list's place
        await pilot.pause()
        assert detail.display and detail.has_focus and not events.display

        await pilot.press("f")  # the full payload over it
        await async_wait_for(lambda: isinstance(app.screen, PayloadScreen), message="payload")
        await pilot.press("escape")
        await async_wait_for(lambda: app.screen is app.dashboard, message="payload closed")
        assert detail.display and detail.has_focus  # back in the detail

        await pilot.press("escape")
        await pilot.pause()
        assert not detail.display and events.display and events.has_focus
        assert not app.detail_visible

        await pilot.press("escape")  # with no detail open, escape changes nothing
        await pilot.pause()
        assert app.screen is app.dashboard and events.has_focus and not detail.display


async def test_shift_tab_reaches_the_subject_tree_as_help_says() -> None:
    app = dashboard()
    async with app.run_test(size=(120, 36)) as pilot:
        await fed(pilot)
        assert app.event_list.has_focus
        await pilot.press("shift+tab")
        assert app.subject_tree.has_focus
        await pilot.press("tab")
        assert app.event_list.has_focus

        await pilot.press("question_mark")
        await async_wait_for(lambda: isinstance(app.screen, HelpScreen), message="help")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        lines = screen.binding_texts()
        assert "tab shift+tab Move the focus: filter, subject tree, events, detail" in lines
        assert any(line.startswith("shift+tab Reach it from the event list") for line in lines)
        assert "escape Close the detail" in lines

    app = dashboard()
    async with app.run_test(size=(80, 24)) as pilot:  # no tree under 100 columns until t
        await fed(pilot)
        assert not app.subject_tree.display
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("shift+tab")
        assert app.subject_tree.has_focus


# --------------------------------------------------------------------------- json: in the preview


async def test_a_json_filter_shows_its_fields_first_in_the_preview() -> None:
    app = dashboard()
    async with app.run_test(size=(220, 36)) as pilot:  # room for the payload after the fields
        await fed(pilot)
        events = app.event_list
        before = events.visible_texts()[-1]
        assert "total=" not in before  # no json: term: the payload as it comes

        await pilot.press("slash", *"orders.*.created json:currency=EUR !json:total=0", "enter")
        await async_wait_for(lambda: not app.dashboard.filtering, message="re-filter")
        await pilot.pause()
        rows = events.visible_texts()
        assert rows and all(" currency=EUR · total=" in row for row in rows)
        first = rows[-1].split("currency=EUR · ", 1)[1]
        assert first.split(" · ")[0].startswith("total=") and '{"order_id":' in first

        # a path into a list, a field some payloads lack (left out), another filter's field
        await pilot.press("slash", "ctrl+u", *"json:items.0.qty=1 !json:nope=1", "enter")
        await async_wait_for(lambda: not app.dashboard.filtering, message="re-filter")
        await pilot.pause()
        rows = events.visible_texts()
        assert rows and all("items.0.qty=1 · {" in row and "nope=" not in row for row in rows)

        await pilot.press("slash", "ctrl+u", "enter")  # no filter: back to the plain preview
        await async_wait_for(lambda: not app.dashboard.filtering, message="re-filter")
        await pilot.pause()
        assert events.visible_texts()[-1] == before


def test_preview_fields_fit_the_width_and_are_escaped() -> None:
    paths = parse_filter('json:type="x" json:a.b=1').json_paths
    payload = b'{"a":{"b":[1, 2]},"type":"Order\\u001b[31mPaid"}'
    # the escape character decoded from the JSON is shown escaped, never sent to the terminal
    assert preview(payload, 100, paths) == (
        r'type=Order\x1b[31mPaid · a.b=[1,2] · {"a":{"b":[1, 2]},"type":"Order\u001b[31mPaid"}'
    )
    assert preview(payload, 24, paths) == r"type=Order\x1b[31mPaid…"  # cut to the width
    assert preview(b"not json", 40, paths) == "not json"  # nothing to show first
    assert preview(b'{"other":1}', 40, paths) == '{"other":1}'
    big = b'{"type":"x","pad":"' + b"y" * 300_000 + b'"}'
    assert preview(big, 20, paths) == preview(big, 20)  # too big to parse per row
