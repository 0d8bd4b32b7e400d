"""A scrolled widget's content changing size, without a layout of the whole screen.

Textual's ``virtual_size`` is a layout reactive: every change lays out the screen, and the
frame that follows re-renders every widget whose region the layout touched. Under a flood
that was a 20-50 ms frame for each keystroke in the filter (``Input`` sets its virtual
width from the text), each slice of new subject-tree nodes (``Tree._invalidate`` and
``Tree._build``) and each new row count of a filtered event list: the slowest key echoes
of the dashboard.

For a widget whose own size comes from CSS (not ``auto``), the content's size only moves
its scrollbars and the scroll limits: Textual's ``Widget._scroll_update`` does that work
(visibility, thumb, clamp), and a scrollbar that appears or goes still lays the screen out
(``show_*_scrollbar`` and the scrollbar's ``display`` are layout properties too).
tests/test_tui_content_size.py fails if Textual stops doing it that way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Self

from textual.geometry import Region

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    # Not a DOMNode at run time: Textual follows a widget's first DOMNode base for its
    # CSS and component classes, which must stay the real widget class (Input, Tree).
    _Base = object

__all__ = ["ContentSized"]


class ContentSized(_Base):
    """Mixin, first among a widget's bases: a layout asked for inside
    ``content_changing()`` is a scrollbar update."""

    _content_change = False

    @contextmanager
    def content_changing(self) -> Iterator[None]:
        self._content_change = True
        try:
            yield
        finally:
            self._content_change = False

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if (
            layout
            and self._content_change
            and not recompose
            and self.container_size
            and not self.styles.auto_dimensions
        ):
            layout = False
            self._content_change = False  # a scrollbar appearing lays out, as it should
            try:
                self._scroll_update(self.virtual_size)
            finally:
                self._content_change = True
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
