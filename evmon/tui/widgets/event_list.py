"""The live event list: a Line API ``ScrollView`` over the bounded store.

Only the rows on screen are ever rendered: ``render_line(y)`` maps the scroll offset to a
row of the ``EventIndex``, the row to a store sequence number, and the sequence number to a
cached ``Strip``. Because rows are cached by sequence number (not by row), rows that move
up as events arrive or are evicted are never rendered twice.

Following: while ``follow`` is on the cursor sits on the newest event and the view keeps
the bottom in sight. Moving the cursor up, scrolling up, clicking a row or ``pause()`` stop
it; new rows keep arriving below and are counted in ``new_rows`` ("+N new"); ``resume()``
(``end``) jumps back to the newest event and follows again.

Pinning: ``pin()`` stops following because an action took hold of the cursor's event (the
detail was opened, a mark or a modal): ``pinned`` says so until ``resume()``. Only the
operator moves the cursor of a pinned list (``EventHighlighted.operator``); rows arriving,
evicted or re-filtered never carry it to another event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from evmon.codec import preview, safe_text
from evmon.event_index import EventIndex, PollResult
from evmon.model import Event
from evmon.tui import format as fmt
from evmon.tui.messages import EventHighlighted, FollowChanged

__all__ = ["Columns", "EventList"]

#: Rows kept rendered; a few screens' worth plus the rows that scroll through while following.
STRIP_CACHE_SIZE = 2_000
HEADER_HEIGHT = 1
#: Column limits: the subject never below, the position never above, the payload's share.
MIN_SUBJECT = 16
MAX_POSITION = 24
MIN_PREVIEW = 16


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


#: Component styles a row may use (see ``_style``).
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


def _fit(text: str, width: int, right: bool = False) -> str:
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


def _no_badge(ev: Event) -> str:
    return ""


def _key_text(key: bytes | None) -> str:
    if key is None:
        return ""
    try:
        return safe_text(key.decode())
    except UnicodeDecodeError:
        return "0x" + key[:16].hex()


class EventList(ScrollView, can_focus=True):
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
        self._moving = False
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
        top = round(self.scroll_y)
        return range(top, min(top + self.rows_visible, len(self.index)))

    def row_text(self, row: int) -> str:
        """The plain text of a row as drawn (for tests and copy)."""
        return self._render_row(row, self._columns.width, cursor=False).text.rstrip()

    def visible_texts(self) -> list[str]:
        return [self.row_text(r) for r in self.visible_rows()]

    def _update_virtual_size(self) -> None:
        width = self.scrollable_content_region.width
        self.virtual_size = Size(width, len(self.index) + HEADER_HEIGHT)

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
        self._columns = self._fit(self.scrollable_content_region.width)
        self._cache.clear()
        self._update_virtual_size()
        if self.follow:
            self._scroll_end()
        else:
            self._scroll_to_cursor()

    # ----------------------------------------------------------------- updates from the app

    def rows_changed(self, change: PollResult) -> None:
        """Rows were added at the bottom, evicted from the top and/or found above the
        others by a re-filter in progress (after ``poll``); a paused view keeps its rows."""
        if not change:
            return
        if self.marks and change.evicted:
            first = self.index.store.first_seq
            self.marks = {s for s in self.marks if s >= first}
        self._update_virtual_size()
        if self.follow:
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

    def filter_changed(self) -> None:
        """The index now shows another filter's rows: keep the cursor's event if it is shown."""
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
        n = len(self.index)
        if not n:
            return
        row = min(max(row, 0), n - 1)
        if self.follow and row < n - 1:
            self.follow = False
        self._set_cursor_seq(self.index.seq_at(row), operator=True)
        self._scroll_to_cursor()
        self.refresh()

    def action_cursor_up(self) -> None:
        row = self.cursor_row
        if row is not None:
            self._go(row - 1)

    def action_cursor_down(self) -> None:
        row = self.cursor_row
        if row is not None:
            self._go(row + 1)

    def action_page_up(self) -> None:
        row = self.cursor_row
        if row is not None:
            self._go(row - self.rows_visible)

    def action_page_down(self) -> None:
        row = self.cursor_row
        if row is not None:
            self._go(row + self.rows_visible)

    def action_first(self) -> None:
        self._go(0)

    def action_resume(self) -> None:
        self.resume()

    def toggle_mark(self) -> bool | None:
        """Mark or unmark the cursor's event; the new state (None: nothing to mark)."""
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
        row = round(self.scroll_y) + offset.y - HEADER_HEIGHT
        if row < len(self.index):
            self.follow = False
            self._set_cursor_seq(self.index.seq_at(row), operator=True)
            self.refresh()
            if event.chain == 2:  # a double click opens the detail, like enter
                await self.run_action("screen.toggle_detail")

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # ----------------------------------------------------------------- rendering

    def notify_style_update(self) -> None:
        """Drop the rendered rows only when a style they use changed: focus moving to the
        filter and back updates the styles too, and re-rendering every row then would
        delay the frame that echoes the key."""
        super().notify_style_update()
        self._styles.clear()
        self._look_checked = False  # compared at the next render, when styles resolve

    def _check_look(self) -> None:
        self._look_checked = True
        look = (self.rich_style, *(self._style(name) for name in STYLED))
        if look != self._look:
            self._look = look
            self._cache.clear()

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

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y < HEADER_HEIGHT:
            return self._render_header(width)
        if not self._look_checked:
            self._check_look()
        row = round(self.scroll_y) + y - HEADER_HEIGHT
        if row >= len(self.index):
            return Strip.blank(width, self.rich_style)
        seq = self.index.seq_at(row)
        cursor = seq == self.cursor_seq
        state = (2 if self.has_focus else 1) if cursor else 0
        if seq in self.marks:
            state += 4
        key = (seq, width, state)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(row, width, cursor=cursor)
            self._cache[key] = strip
            self._rows_rendered += 1
            self.rows_redrawn.append(row)
        return strip

    def _render_header(self, width: int) -> Strip:
        cols = self._columns
        base = self.rich_style + self._style("header")
        segs = [Segment(" " * cols.GUTTER, base)]
        for name, w, right in cols.cells():
            segs.append(Segment(_fit(HEADINGS[name], w, right) + " ", base))
        return Strip(segs).adjust_cell_length(width, base)

    def _render_row(self, row: int, width: int, *, cursor: bool) -> Strip:
        seq = self.index.seq_at(row)
        ev = self.index.store.get(seq)
        marked = seq in self.marks
        overlay = Style()
        if marked:
            overlay += self._style("marked")
        if cursor:
            overlay += self._style("cursor" if self.has_focus else "cursor-blurred")
        rich_style = self.rich_style  # computed from the ancestors on every access
        base = rich_style + overlay

        def style(name: str) -> Style:
            return rich_style + self._style(name) + overlay

        cols = self._columns
        mark = Segment("● " if marked else "  ", style("mark"))
        if ev is None:
            text = _fit("(evicted)", max(width - cols.GUTTER, 0))
            return Strip([mark, Segment(text, style("evicted"))]).adjust_cell_length(width, base)
        source_style = style(ev.source)
        meta = style("meta")
        badge = _no_badge if self.index.lens is None else self.index.lens.badge  # dup, drift
        fields = () if self.index.filter is None else self.index.filter.json_paths  # json:
        values = {
            "time": (fmt.clock(ev.timestamp), style("time")),
            "source": (ev.source, source_style),
            "subject": (safe_text(ev.subject), source_style),
            "position": (ev.position, meta),
            "key": (_key_text(ev.key), meta),
            "size": (fmt.size(ev.size), meta),
            "preview": (badge(ev) + preview(ev.payload, cols.preview, fields), base),
        }
        segs = [mark]
        for name, w, right in cols.cells():
            text, seg_style = values[name]
            segs.append(Segment(_fit(text, w, right), seg_style))
            segs.append(Segment(" ", base))
        return Strip(segs).adjust_cell_length(width, base)
