"""Content that grows does not lay the screen out (evmon/tui/widgets/content_size.py).

Each test spies on the screen's layout (``Screen._refresh_layout``, Textual's private
method that every layout of the screen runs) and checks what the layout used to do for
these widgets, now done by Textual's ``Widget._scroll_update``: scrollbars, scroll
limits, the cursor kept in view, the rows drawn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from evmon.model import Event
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from tests.waiting import async_wait_for

T0 = 1_700_000_000.0


def nats(subject: str, i: int = 0) -> Event:
    return Event("nats", subject, b"{}", T0 + i)


@pytest.fixture
async def app() -> AsyncIterator[EvmonApp]:
    yield EvmonApp(EventStore(1000, clock=lambda: 0.0), blink=False)


def spy_layouts(app: EvmonApp) -> list[int]:
    screen = app.screen
    layouts: list[int] = []
    lay_out = screen._refresh_layout

    def counted(*args: Any, **kwargs: Any) -> None:
        layouts.append(1)
        lay_out(*args, **kwargs)

    screen._refresh_layout = counted  # type: ignore[method-assign]
    return layouts


async def test_typing_in_the_filter_echoes_without_a_layout_and_keeps_the_cursor_in_view(
    app: EvmonApp,
) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        field = app.filter_bar.input
        typed = "orders." + "".join(chr(ord("a") + i % 26) for i in range(140))
        await pilot.press("slash", *typed[:120])  # past the field's width: Textual turns
        await pilot.pause()  # the input's (invisible) horizontal scrollbar on, a layout
        layouts = spy_layouts(app)
        await pilot.press(*typed[120:])
        await pilot.pause()
        assert field.value == typed and layouts == []
        width = field.content_size.width
        assert field.virtual_size.width > width
        assert field.scroll_x == field.max_scroll_x > 0  # the cursor at the end is in view
        shown = field.render_line(0).text.strip()
        assert shown and typed.endswith(shown)  # the tail of the text is what is drawn
        await pilot.press("home")
        await pilot.pause()
        assert field.scroll_x == 0 and field.render_line(0).text.strip().startswith("orders.")


async def test_new_subject_tree_nodes_scroll_without_a_layout(app: EvmonApp) -> None:
    """Once the tree scrolls, new nodes move its scrollbar and scroll limit, no layout."""
    async with app.run_test(size=(120, 36)) as pilot:
        tree = app.subject_tree

        async def feed(n: int) -> None:
            app.feed([nats(f"orders.{i:03d}", i) for i in range(n)])
            await async_wait_for(
                lambda: tree.virtual_size.height == n + 2, message="tree rebuilt"
            )  # the source's root, "orders" and n leaves
            await pilot.pause()

        await feed(60)  # names of one width: the labels' width settles
        await feed(90)
        assert tree.show_vertical_scrollbar
        layouts = spy_layouts(app)
        for n in (120, 180):
            await feed(n)
            assert tree.vertical_scrollbar.window_virtual_size == n + 2
        assert layouts == []
        tree.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert tree.scroll_y == tree.max_scroll_y == 182 - tree.scrollable_content_region.height
