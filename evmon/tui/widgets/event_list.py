"""The live event list: a Line API ``ScrollView`` over the bounded store.

Only the rows on screen are ever rendered: ``render_line(y)`` maps the scroll offset to a
row of the ``EventIndex``, the row to a store sequence number, and the sequence number to a
cached ``Strip``. Because rows are cached by sequence number (not by row), rows that move
up as events arrive or are evicted are never rendered twice.

Following: while ``follow`` is on the cursor sits on the newest event and the view keeps
the bottom in sight. Moving the cursor up, scrolling up, clicking a row or ``pause()`` stop
it; new rows keep arriving below and are counted in ``new_rows`` ("+N new"); ``resume()``
(``end``) jumps back to the newest event and follows again.

Floods: while the list follows and every tick brings more rows than it shows, it is drawn
at most every ``FLOOD_FRAME`` seconds instead of at every tick (``rows_changed(live=True)``
holds the change back; a timer shows it). A tick with fewer new rows, a key, a click or a
resize shows the held rows at once, so the list at rest is the same.

Focus: the list's look changes with the focus (its border, the cursor row), and that
repaint is the costliest part of a screen. It is drawn in the frame after the one that
shows where the focus went (the filter's caret after ``/``), so the echo of the key is not
held up by it; held flood rows wait for their own frame then too.

Pinning: ``pin()`` stops following because an action took hold of the cursor's event (the
detail was opened, a mark or a modal): ``pinned`` says so until ``resume()``. Only the
operator moves the cursor of a pinned list (``EventHighlighted.operator``); rows arriving,
evicted or re-filtered never carry it to another event.
"""

from __future__ import annotations

import time
from collections import deque
from typing import ClassVar, Self

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from evmon.codec import preview, safe_text
from evmon.event_index import EventIndex, PollResult
from evmon.model import Event
from evmon.tui import format as fmt
from evmon.tui.messages import EventHighlighted, FollowChanged
from evmon.tui.widgets.content_size import ContentSized
from evmon.tui.widgets.event_rows import (
    HEADINGS,
    STYLED,
    Columns,
    RowStyles,
    fit,
    key_text,
    no_badge,
)

__all__ = ["Columns", "EventList"]

#: Rows kept rendered: two screens of a tall terminal, five of the usual 48 rows, so rows that
#: stay on screen while following and a page scrolled back and forth are not drawn again. Not
#: more: each row holds its Strip and what Textual derives from it (filtered, cropped, divided
#: strips, each with seven small caches of its own), about 4 KB, and the cache fills only
#: once enough rows went by: at 2,000 rows that was +13 MB over a flood's first 400,000
#: events, which the RSS benchmark counted as growth (bench/README.md, "RSS and the row cache").
STRIP_CACHE_SIZE = 256
HEADER_HEIGHT = 1
#: Seconds between frames of a list following a flood (the status bar's own pace, 4 ticks).
FLOOD_FRAME = 0.25


class EventList(ContentSized, ScrollView, can_focus=True):
    """Rows of the ``EventIndex`` with a fixed header line; newest at the bottom."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "Oldest event", show=False),
        Binding("end,G", "resume", "Newest event, follow", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-list--header",
        "event-list--cursor",
        "event-list--cursor-blurred",
        "event-list--marked",
        "event-list--mark",
        "event-list--nats",
        "event-list--kafka",
        "event-list--time",
        "event-list--meta",
        "event-list--evicted",
    }

    DEFAULT_CSS = """
    EventList {
        overflow-x: hidden;
        overflow-y: scroll;
        & > .event-list--header { color: $text-muted; text-style: bold; }
        & > .event-list--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
        & > .event-list--cursor-blurred {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        & > .event-list--marked { background: $accent 18%; }
        & > .event-list--mark { color: $accent; text-style: bold; }
        & > .event-list--nats { color: $success; }
        & > .event-list--kafka { color: $warning; }
        & > .event-list--time { color: $text-muted; }
        & > .event-list--meta { color: $text-secondary; }
        & > .event-list--evicted { color: $text-disabled; text-style: italic; }
    }
    """

    follow: reactive[bool] = reactive(True, init=False)

    def __init__(
        self,
        index: EventIndex,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.index = index
        self.cursor_seq: int | None = None
        self.marks: set[int] = set()
        #: Rows that arrived since the follow stopped: the "+N new".
        self.new_rows = 0
        #: Following stopped because an action holds the cursor's event (``pin``).
        self.pinned = False
        self._cache: LRUCache[tuple[int, int, int], Strip] = LRUCache(STRIP_CACHE_SIZE)
        self._columns = Columns.fit(80)
        #: (position, key) columns shown; widest subject and position seen.
        self._optional = (True, True, 0, 0)
        self._styles: dict[str, Style] = {}
        #: The styles the cached rows were rendered with.
        self._look: tuple[Style, ...] = ()
        self._look_checked = False
        self._rows: RowStyles | None = None  # the row styles of that look
        self._header: tuple[int, Columns, Strip] | None = None
        #: (width, top row, rows, focus) while ``render_lines`` draws.
        self._frame: tuple[int, int, int, bool] | None = None
        self._moving = False
        #: A flood's rows not shown yet (evicted rows among them), since when it was drawn.
        self._held: tuple[bool, bool] = (False, False)
        self._drawn = 0.0
        self._held_timer: Timer | None = None
        self._held_refresh = False
        self._look_later = False  # a focus change's repaint waits for the next frame
        self._rows_rendered, self.rows_redrawn = 0, deque[int](maxlen=64)  # rows, newest last

    @property
    def rows_rendered(self) -> int:
        """Rows drawn afresh so far (not from the strip cache): what a repaint cost."""
        return self._rows_rendered

    # ----------------------------------------------------------------- geometry

    @property
    def rows_visible(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_HEIGHT)

    @property
    def cursor_row(self) -> int | None:
        """Row of the cursor, or None when the list is empty."""
        n = len(self.index)
        if not n:
            return None
        if self.cursor_seq is None:
            return n - 1
        return min(self.index.row_of(self.cursor_seq), n - 1)

    @property
    def cursor_event(self) -> Event | None:
        row = self.cursor_row
        return None if row is None else self.index.event_at(row)

    def visible_rows(self) -> range:
        self._release()
        top = round(self.scroll_y)
        return range(top, min(top + self.rows_visible, len(self.index)))

    def row_text(self, row: int) -> str:
        """The plain text of a row as drawn (for tests and copy)."""
        return self._render_row(row, self._columns.width, cursor=False).text.rstrip()

    def visible_texts(self) -> list[str]:
        return [self.row_text(r) for r in self.visible_rows()]

    def _update_virtual_size(self) -> None:
        """A new row count moves the scrollbar, no layout of the screen (content_size)."""
        with self.content_changing():
            self.virtual_size = Size(
                self.scrollable_content_region.width, len(self.index) + HEADER_HEIGHT
            )

    def show_columns(
        self, position: bool, key: bool, subject_seen: int = 0, position_seen: int = 0
    ) -> None:
        """Show or drop the position and key columns, and size the subject and position
        columns to the widest values seen (the app decides from the data)."""
        wanted = (position, key, subject_seen, position_seen)
        if wanted != self._optional:
            self._optional = wanted
            self._columns = self._fit(self.scrollable_content_region.width)
            self._cache.clear()
            self.refresh()

    def _fit(self, width: int) -> Columns:
        position, key, subject_seen, position_seen = self._optional
        return Columns.fit(
            width, position, key, subject_seen=subject_seen, position_seen=position_seen
        )

    def on_resize(self, event: events.Resize) -> None:
        self._release()
        self._columns = self._fit(self.scrollable_content_region.width)
        self._cache.clear()
        self._update_virtual_size()
        if self.follow:
            self._scroll_end()
        else:
            self._scroll_to_cursor()

    # ----------------------------------------------------------------- updates from the app

    def rows_changed(self, change: PollResult, live: bool = False) -> None:
        """Rows were added at the bottom, evicted from the top and/or found above the
        others by a re-filter in progress (after ``poll``); a paused view keeps its rows.
        ``live``: the UI timer's poll, which a flood may hold back (see the module doc)."""
        if not change:
            return
        evicted = change.evicted > 0 or self._held[1]
        if live and self.follow and change.added >= self.rows_visible:
            wait = self._drawn + FLOOD_FRAME - time.monotonic()
            if wait > 0:
                self._held = (True, evicted)
                if self._held_timer is None:
                    self._held_timer = self.set_timer(wait, self._release, name="flood frame")
                return
        self._release(show=False)  # this change shows them too
        if self.marks and evicted:
            first = self.index.store.first_seq
            self.marks = {s for s in self.marks if s >= first}
        self._update_virtual_size()
        if self.follow:
            self._drawn = time.monotonic()
            self._set_cursor_seq(self._last_seq())
            self._scroll_end()
        else:
            self.new_rows += change.added
            shift = change.prepended - change.evicted
            if shift:
                self._move(y=max(0, round(self.scroll_y) + shift))
            if self.cursor_seq is not None and self.cursor_seq < self.index.store.first_seq:
                self._set_cursor_seq(self._seq_at(0))
        self.refresh()

    def _release(self, show: bool = True) -> None:
        """Show the rows a flood held back, as the tick that brought them would have (the
        list followed then, even when ``follow`` just went off)."""
        if self._held_timer is not None:
            self._held_timer.stop()
            self._held_timer = None
        (held, evicted), self._held = self._held, (False, False)
        if held and show:
            if self.marks and evicted:
                first = self.index.store.first_seq
                self.marks = {s for s in self.marks if s >= first}
            self._update_virtual_size()
            self._drawn = time.monotonic()
            self._set_cursor_seq(self._last_seq())
            self._scroll_end()
        if self._held_refresh or (held and show):
            self._held_refresh = False
            self.refresh()

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        """While a flood's rows are held, a redraw of the whole list (a new subtitle) waits
        for them: drawn now it would cost as much as the frame the hold saves. After a
        focus change it waits for the one repaint of the frame after (``on_focus``)."""
        whole = repaint and not (regions or layout or recompose)
        if whole and self._look_later:
            return self
        if whole and self._held[0]:
            self._held_refresh = True
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def filter_changed(self) -> None:
        """The index now shows another filter's rows: keep the cursor's event if it is shown."""
        self._release()
        self.new_rows = 0
        self._cache.clear()
        self._update_virtual_size()
        if self.follow or self.cursor_seq is None:
            self._set_cursor_seq(self._last_seq())
            self._scroll_end()
        else:
            row = self.cursor_row
            self._set_cursor_seq(None if row is None else self.index.seq_at(row))
            self._scroll_to_cursor(center=True)
        self.refresh()

    def _last_seq(self) -> int | None:
        n = len(self.index)
        return self.index.seq_at(n - 1) if n else None

    def _seq_at(self, row: int) -> int | None:
        n = len(self.index)
        return self.index.seq_at(min(max(row, 0), n - 1)) if n else None

    def _set_cursor_seq(self, seq: int | None, operator: bool = False) -> None:
        if seq == self.cursor_seq:
            return
        self.cursor_seq = seq
        self.post_message(EventHighlighted(seq, operator))

    # ----------------------------------------------------------------- follow / pause

    def watch_follow(self, follow: bool) -> None:
        self._release()
        if follow:
            self.new_rows = 0
            self.pinned = False
            self._set_cursor_seq(self._last_seq())
            self._scroll_end()
        self.refresh()
        self.post_message(FollowChanged(follow))

    def pause(self) -> None:
        self.follow = False

    def pin(self) -> None:
        """Stop following and keep the cursor's event (``pinned`` until ``resume``)."""
        self.pinned = True
        self.follow = False
        self.refresh()

    def resume(self) -> None:
        self.follow = True

    def _move(self, y: float) -> None:
        """Scroll without it counting as the operator scrolling away."""
        self._moving = True
        try:
            self.scroll_to(y=y, animate=False, force=True)
        finally:
            self._moving = False

    def _scroll_end(self) -> None:
        self._move(y=self.max_scroll_y)

    def _scroll_to_cursor(self, center: bool = False) -> None:
        row = self.cursor_row
        if row is None:
            return
        top = round(self.scroll_y)
        height = self.rows_visible
        if center:
            self._move(y=max(0, row - height // 2))
        elif row < top:
            self._move(y=row)
        elif row >= top + height:
            self._move(y=row - height + 1)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if (
            not self._moving
            and self.follow
            and new_value < old_value
            and new_value < self.max_scroll_y
        ):
            self.follow = False  # the operator scrolled up to read

    # ----------------------------------------------------------------- actions

    def _go(self, row: int) -> None:
        self._release()
        n = len(self.index)
        if not n:
            return
        row = min(max(row, 0), n - 1)
        if self.follow and row < n - 1:
            self.follow = False
        self._set_cursor_seq(self.index.seq_at(row), operator=True)
        self._scroll_to_cursor()
        self.refresh()

    def _step(self, rows: int) -> None:
        self._release()  # from the row the cursor is on now
        row = self.cursor_row
        if row is not None:
            self._go(row + rows)

    def action_cursor_up(self) -> None:
        self._step(-1)

    def action_cursor_down(self) -> None:
        self._step(1)

    def action_page_up(self) -> None:
        self._step(-self.rows_visible)

    def action_page_down(self) -> None:
        self._step(self.rows_visible)

    def action_first(self) -> None:
        self._go(0)

    def action_resume(self) -> None:
        self.resume()

    def toggle_mark(self) -> bool | None:
        """Mark or unmark the cursor's event; the new state (None: nothing to mark)."""
        self._release()
        seq = self.cursor_seq if self.cursor_seq is not None else self._last_seq()
        if seq is None or self.index.store.get(seq) is None:
            return None
        marked = seq not in self.marks
        if marked:
            self.marks.add(seq)
        else:
            self.marks.discard(seq)
        self.refresh()
        return marked

    def clear_marks(self) -> None:
        self.marks.clear()
        self.refresh()

    async def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_HEIGHT:
            return
        self._release()  # rows held back by a flood first
        row = round(self.scroll_y) + offset.y - HEADER_HEIGHT
        if row < len(self.index):
            self.follow = False
            self._set_cursor_seq(self.index.seq_at(row), operator=True)
            self.refresh()
            if event.chain == 2:  # a double click opens the detail, like enter
                await self.run_action("screen.toggle_detail")

    def on_focus(self) -> None:
        self._repaint_after_frame()

    def on_blur(self) -> None:
        self._repaint_after_frame()

    def _repaint_after_frame(self) -> None:
        """Repaint the whole list once the next frame is on screen (see the module doc):
        Textual's own repaints for the focus change (``Widget._on_blur``, the restyle of
        ``:focus``) arrive after this handler and are folded into that one."""
        if not self._look_later:
            self._look_later = True
            self.call_after_refresh(self._repaint_look)

    def _repaint_look(self) -> None:
        self._look_later = False
        self.refresh()

    # ----------------------------------------------------------------- rendering

    def notify_style_update(self) -> None:
        """Drop the rendered rows only when a style they use changed: focus moving to the
        filter and back updates the styles too, and re-rendering every row then would
        delay the frame that echoes the key."""
        super().notify_style_update()
        self._styles.clear()
        self._header = None  # its style is not part of the look
        self._look_checked = False  # compared at the next render, when styles resolve

    def _check_look(self) -> None:
        self._look_checked = True
        look = (self.rich_style, *(self._style(name) for name in STYLED))
        if look != self._look:
            self._look = look
            self._cache.clear()
            self._header = None
            self._rows = RowStyles(look[0], self._style)

    def _style(self, name: str) -> Style:
        """The partial style of a component, with its background blended (``$accent 18%``
        is only resolved against the widget's background in the full style)."""
        style = self._styles.get(name)
        if style is None:
            component = f"event-list--{name}"
            style = self.get_component_rich_style(component, partial=True)
            if style.bgcolor is not None:
                full = self.get_component_rich_style(component)
                style += Style(bgcolor=full.bgcolor)
            self._styles[name] = style
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        """Lines drawn with what they share read once (width, top row, focus, look): read
        per line, those cost more than taking the line from the strip cache."""
        if not self._look_checked:
            self._check_look()
        width = self.scrollable_content_region.width
        self._frame = (width, round(self.scroll_y), len(self.index), self.has_focus)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        if not self._look_checked:
            self._check_look()
        frame = self._frame
        if frame is None:  # called by itself, not through render_lines
            width = self.scrollable_content_region.width
            frame = (width, round(self.scroll_y), len(self.index), self.has_focus)
        width, top, rows, focus = frame
        if y < HEADER_HEIGHT:
            return self._render_header(width)
        row = top + y - HEADER_HEIGHT
        if row >= rows:
            return Strip.blank(width, self._look[0])
        seq = self.index.seq_at(row)
        cursor = seq == self.cursor_seq
        state = (2 if focus else 1) if cursor else 0
        if seq in self.marks:
            state += 4
        key = (seq, width, state)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(row, width, cursor=cursor, focus=focus)
            self._cache[key] = strip
            self._rows_rendered += 1
            self.rows_redrawn.append(row)
        return strip

    def _render_header(self, width: int) -> Strip:
        cols = self._columns
        header = self._header
        if header is not None and header[0] == width and header[1] is cols:
            return header[2]
        base = self._look[0] + self._style("header")
        segs = [Segment(" " * cols.GUTTER, base)]
        for name, w, right in cols.cells():
            segs.append(Segment(fit(HEADINGS[name], w, right) + " ", base))
        strip = Strip(segs).adjust_cell_length(width, base)
        self._header = (width, cols, strip)
        return strip

    def _render_row(
        self, row: int, width: int, *, cursor: bool, focus: bool | None = None
    ) -> Strip:
        seq = self.index.seq_at(row)
        ev = self.index.store.get(seq)
        marked = seq in self.marks
        if focus is None:
            focus = self.has_focus
        if self._rows is None:
            self._rows = RowStyles(self.rich_style, self._style)
        base, style = self._rows.get(
            marked, ("cursor" if focus else "cursor-blurred") if cursor else ""
        )
        cols = self._columns
        mark = Segment("● " if marked else "  ", style["mark"])
        if ev is None:
            text = fit("(evicted)", max(width - cols.GUTTER, 0))
            return Strip([mark, Segment(text, style["evicted"])]).adjust_cell_length(width, base)
        source_style = style[ev.source]
        meta = style["meta"]
        badge = no_badge if self.index.lens is None else self.index.lens.badge  # dup, drift
        fields = () if self.index.filter is None else self.index.filter.json_paths  # json:
        values = {
            "time": (fmt.clock(ev.timestamp), style["time"]),
            "source": (ev.source, source_style),
            "subject": (safe_text(ev.subject), source_style),
            "position": (ev.position, meta),
            "key": (key_text(ev.key), meta),
            "size": (fmt.size(ev.size), meta),
            "preview": (badge(ev) + preview(ev.payload, cols.preview, fields), base),
        }
        segs = [mark]
        for name, w, right in cols.cells():
            text, seg_style = values[name]
            segs.append(Segment(fit(text, w, right), seg_style))
            segs.append(Segment(" ", base))
        return Strip(segs).adjust_cell_length(width, base)
