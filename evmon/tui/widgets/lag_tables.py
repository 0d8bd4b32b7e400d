"""The lag screen's two tables: Kafka groups (expandable to partitions) and JetStream consumers.

Both are ``DataTable``s updated in place by diff (``sync_rows``): rows are keyed by what they
show, changed cells are updated with ``update_cell``, new rows added with ``add_row(key=)``,
gone ones removed, and the order fixed with one ``sort`` by the wanted position; the cursor
stays on its row. That keeps a refresh of hundreds of rows cheap and the operator's place.

What the rows say is computed from the rows of ``evmon.lag`` and the ``LagHistory`` windows by
the pure functions ``kafka_rows`` / ``jetstream_rows`` (tested without a screen).

At scale (200 groups x 50 partitions, 1,000 consumers) a refresh must not freeze the screen:
given a ``RowCache``, a row whose inputs did not change keeps its cells (no Rich ``Text``
built, nothing compared or updated); ``syncing`` applies the rows a slice at a time, for the
screen to yield to the event loop between slices; cells are updated without
``update_width`` (``DataTable`` re-measures the whole column for every updated cell
narrower than the column: 1,000 status cells turning STOP took 12 s), and each column's
width is set once per sync from the widest cell, through that one cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.geometry import Region

from evmon.codec import safe_text
from evmon.lag import (
    STATUSES,
    JetStreamLagRow,
    KafkaLagRow,
    LagHistory,
    Status,
)
from evmon.tui.widgets.table_cells import MemoCellsTable

__all__ = [
    "STATUS_STYLES",
    "JetStreamLagTable",
    "KafkaLagTable",
    "LagTable",
    "RowCache",
    "RowName",
    "jetstream_rows",
    "kafka_rows",
    "sparkline",
    "status_text",
]

#: How each status is drawn (OK green, NOCOMMIT cyan, WARN yellow, STALL red, STOP magenta,
#: ERR red reverse).
STATUS_STYLES: dict[Status, str] = {
    "OK": "bold green",
    "NOCOMMIT": "bold cyan",
    "WARN": "bold yellow",
    "STALL": "bold red",
    "STOP": "bold magenta",
    "ERR": "bold reverse red",
}
BLOCKS = "▁▂▃▄▅▆▇█"
SEP = "\x1f"  # joins the parts of a row key (never in group, topic, stream or consumer names)


class RowName(Text):
    """The first cell of a row; it carries the row key so ``DataTable.sort`` (which sees only
    cell values) can put rows in the order the screen wants."""

    row_key: str = ""


def _name(text: str, key: str, style: str = "") -> RowName:
    cell = RowName(text, style=style, no_wrap=True, overflow="ellipsis")
    cell.row_key = key
    return cell


def status_text(status: Status) -> Text:
    return Text(status, style=STATUS_STYLES[status])


def number(value: int | None) -> Text:
    """Exact, right-aligned (offsets are copied into commands); ``-`` when unknown."""
    return Text("-" if value is None else str(value), justify="right", no_wrap=True)


def committed_cell(row: KafkaLagRow) -> Text:
    """The committed offset; ``none`` (dim) where the group never committed (NOCOMMIT)."""
    if row.committed is None and row.status == "NOCOMMIT":
        return Text("none", style="dim", justify="right", no_wrap=True)
    return number(row.committed)


def sparkline(values: Sequence[int], width: int, style: str = "") -> Text:
    """Lag over the window, oldest left, scaled from 0 to the window's largest value (a flat
    top line is a steady lag, a flat bottom line none)."""
    values = list(values)[-width:] if width > 0 else []
    top = max(values, default=0)
    chars = "".join(
        BLOCKS[0] if v <= 0 or top <= 0 else BLOCKS[1 + round(v / top * (len(BLOCKS) - 2))]
        for v in values
    )
    return Text(chars.rjust(width), style=style, no_wrap=True)


def _spark(values: Sequence[int], width: int, status: Status) -> Text:
    return sparkline(values, width, "red" if status == "ERR" else STATUS_STYLES[status])


Cells = tuple[Text, ...]
ViewRow = tuple[str, Cells]
#: Row key -> (what the row was built from, its cells): the cells are reused while the
#: inputs compare equal (one cache per table; the screen keeps it between refreshes).
RowCache = dict[str, tuple[Hashable, Cells]]
#: Rows applied to a table per slice of ``LagTable.syncing``.
SYNC_SLICE = 200


def _cached(
    cache: RowCache | None,
    key: str,
    inputs: Hashable,
    build: Callable[..., Cells],
    *args: object,
) -> Cells:
    """The cells of ``key``: the cached ones if built from equal ``inputs``, else
    ``build(*args)``."""
    if cache is None:
        return build(*args)
    hit = cache.get(key)
    if hit is not None and hit[0] == inputs:
        return hit[1]
    cells = build(*args)
    cache[key] = (inputs, cells)
    return cells


# --------------------------------------------------------------------------- row views


def group_key(group: str) -> str:
    return f"g{SEP}{group}"


def partition_key(row: KafkaLagRow) -> str:
    return f"p{SEP}{row.group}{SEP}{row.topic}{SEP}{row.partition}"


def consumer_key(row: JetStreamLagRow) -> str:
    return f"{row.stream or ''}{SEP}{row.consumer or ''}"


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group with its partitions, as the Kafka table shows it."""

    group: str
    state: str
    members: int | None
    lag: int
    status: Status
    partitions: tuple[KafkaLagRow, ...]
    totals: tuple[int, ...]


def group_views(rows: Iterable[KafkaLagRow], history: LagHistory[KafkaLagRow]) -> list[GroupView]:
    """Rows by group: total lag, the worst status, and the total lag of every refresh in the
    window (partition samples of one refresh share its time, so they add up by time)."""
    by_group: dict[str, list[KafkaLagRow]] = defaultdict(list)
    for row in rows:
        by_group[row.group].append(row)
    views = []
    for group, members in by_group.items():
        sums: dict[float, int] = defaultdict(int)
        for row in members:
            for at, _position, lag, _active in history.points(row.key):
                sums[at] += lag
        first = members[0]
        views.append(
            GroupView(
                group,
                first.state,
                first.members,
                sum(r.lag or 0 for r in members),
                max((r.status for r in members), key=STATUSES.index),
                tuple(r for r in members if r.partition is not None),
                tuple(sums[t] for t in sorted(sums)),
            )
        )
    return views


def _lag_order(lag: int | None, name: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    return (-(lag or 0), name)


def kafka_rows(
    rows: Iterable[KafkaLagRow],
    history: LagHistory[KafkaLagRow],
    expanded: set[str],
    by_lag: bool,
    width: int,
    cache: RowCache | None = None,
) -> list[ViewRow]:
    """Group rows (``▸``/``▾``), each followed by its partitions when expanded; by name, or
    by lag (largest first) for groups and for the partitions inside each."""
    return kafka_view_rows(group_views(rows, history), history, expanded, by_lag, width, cache)


def _group_cells(view: GroupView, open_: bool, width: int) -> Cells:
    topics = list(dict.fromkeys(r.topic for r in view.partitions if r.topic is not None))
    n = len(view.partitions)
    where = topics[0] if len(topics) == 1 else f"{len(topics)} topics"
    key = group_key(view.group)
    return (
        _name(f"{'▾' if open_ else '▸'} {safe_text(view.group)}", key, "bold"),
        Text(view.state, no_wrap=True),
        Text("?" if view.members is None else str(view.members), justify="right"),
        Text(f"{safe_text(where)} ({n})" if n else "no partitions", style="dim"),
        Text(""),
        Text(""),
        Text(""),
        number(view.lag),
        _spark(view.totals, width, view.status),
        status_text(view.status),
    )


def _partition_cells(row: KafkaLagRow, lags: Sequence[int], width: int) -> Cells:
    return (
        _name("  └", partition_key(row), "dim"),
        Text(""),
        Text(""),
        Text(safe_text(row.topic or ""), no_wrap=True),
        number(row.partition),
        committed_cell(row),
        number(row.end),
        number(row.lag),
        _spark(lags, width, row.status),
        status_text(row.status),
    )


def kafka_view_rows(
    views: list[GroupView],
    history: LagHistory[KafkaLagRow],
    expanded: set[str],
    by_lag: bool,
    width: int,
    cache: RowCache | None = None,
) -> list[ViewRow]:
    """``kafka_rows`` from the ``group_views`` of the rows (which a screen may compute a
    slice of groups at a time). Sorts ``views`` in place."""
    views.sort(key=(lambda v: _lag_order(v.lag, (v.group,))) if by_lag else (lambda v: v.group))
    out: list[ViewRow] = []
    for view in views:
        open_ = view.group in expanded
        key = group_key(view.group)
        # The partitions' own fields decide the group's topic column: equal rows, equal text.
        inputs = (open_, width, view)
        out.append((key, _cached(cache, key, inputs, _group_cells, view, open_, width)))
        if not open_:
            continue
        parts = sorted(
            view.partitions,
            key=(lambda r: _lag_order(r.lag, (r.topic or "", f"{r.partition:09}")))
            if by_lag
            else (lambda r: (r.topic or "", r.partition or 0)),
        )
        for row in parts:
            pkey = partition_key(row)
            lags = tuple(p[2] for p in history.points(row.key))
            built = _cached(cache, pkey, (row, lags, width), _partition_cells, row, lags, width)
            out.append((pkey, built))
    return out


def _consumer(row: JetStreamLagRow) -> Text:
    """The consumer's name; ``(ephemeral)`` after it when it has no durable name (the name is
    often random: a client's, gone with it)."""
    cell = Text(safe_text(row.consumer or "?"), no_wrap=True)
    if row.ephemeral:
        cell.append(" (ephemeral)", style="dim")
    return cell


def _consumer_cells(row: JetStreamLagRow, lags: Sequence[int], width: int) -> Cells:
    return (
        _name(safe_text(row.stream or "?"), consumer_key(row)),
        _consumer(row),
        number(row.num_pending),
        number(row.num_ack_pending),
        number(row.num_redelivered),
        number(row.num_waiting),
        number(row.delivered_stream_seq),
        number(row.ack_floor_stream_seq),
        number(row.last_stream_seq),
        _spark(lags, width, row.status),
        status_text(row.status),
    )


def jetstream_order(rows: Iterable[JetStreamLagRow], by_lag: bool) -> list[JetStreamLagRow]:
    """The consumers in the table's order: by stream and name, or by lag first."""

    def name(r: JetStreamLagRow) -> tuple[str, str]:
        return (r.stream or "", r.consumer or "")

    return sorted(rows, key=(lambda r: _lag_order(r.lag_value, name(r))) if by_lag else name)


def jetstream_rows(
    rows: Iterable[JetStreamLagRow],
    history: LagHistory[JetStreamLagRow],
    by_lag: bool,
    width: int,
    cache: RowCache | None = None,
    *,
    ordered: bool = False,
) -> list[ViewRow]:
    """One row per consumer; by stream and name, or by lag (pending + ack pending) first.
    ``ordered``: the rows are already in ``jetstream_order`` (a screen builds a slice at a
    time)."""
    out: list[ViewRow] = []
    for row in rows if ordered else jetstream_order(rows, by_lag):
        key = consumer_key(row)
        lags = tuple(p[2] for p in history.points(row.key))
        # The row's equality leaves out only active_at, which no cell shows.
        built = _cached(cache, key, (row, lags, width), _consumer_cells, row, lags, width)
        out.append((key, built))
    return out


# --------------------------------------------------------------------------- tables


def _same(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


class LagTable(MemoCellsTable):
    """A row-cursor ``DataTable`` whose rows are replaced by diff (see module doc)."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: While a sync updates cells, the whole-table repaint each ``update_cell`` asks for is
    #: owed instead (``refresh``) and paid once, when the sync is done. (Class defaults:
    #: ``DataTable.__init__`` already refreshes.)
    _quiet = False
    _owed = False
    #: The columns drawn first when the rows are wider than the table (80 columns): the name,
    #: then the verdict (status, trend, lag) before the numbers behind it; the rest follow.
    NARROW_FIRST: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self._shown: dict[str, Cells] = {}
        #: The rows last synced, and the width they need (cells plus padding).
        self._rows: list[ViewRow] = []
        self._needed = 0
        #: Per column (``COLUMNS`` order): the widest cell's width and row key.
        self._widest: list[tuple[int, str | None]] = []
        #: The cells built for each row key, reused while their inputs are equal.
        self.cache: RowCache = {}
        #: Counts syncs begun: a sliced sync stops when another one began meanwhile.
        self.generation = 0
        #: True: columns in the ``NARROW_FIRST`` order.
        self.narrow = False
        self._add_columns()

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        """Every ``update_cell`` repaints the whole table, and also invalidates every cached
        line (``DataTable`` keys its render caches by an update count), so a sync drawn in
        slices painted the whole visible table again in the frame after each slice: 50-70 ms
        a frame at 1,000 rows, most of a round. Its cell updates now owe one repaint, paid
        when the sync ends; other repaints (the cursor, scrolling, a resize) pass."""
        whole = repaint and not (regions or layout or recompose)
        if whole and self._quiet:
            self._owed = True
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _pay(self) -> None:
        if self._owed:
            self._owed = False
            super().refresh()

    def _order(self) -> list[int]:
        """Indexes into ``COLUMNS`` (and into each row's cells) in the drawn order."""
        keys = [key for key, _ in self.COLUMNS]
        if not self.narrow:
            return list(range(len(keys)))
        first = [keys.index(key) for key in self.NARROW_FIRST if key in keys]
        return first + [i for i in range(len(keys)) if i not in first]

    def _add_columns(self) -> None:
        for i in self._order():
            key, label = self.COLUMNS[i]
            self.add_column(label, key=key)

    def _fits(self) -> bool | None:
        """Whether the rows fit the table's width (None: not laid out yet)."""
        width = self.scrollable_content_region.width
        return None if width <= 0 else self._needed <= width

    def _relayout(self) -> bool:
        """Switch the column order if the rows stopped (or started) fitting; True if it did.
        A ``DataTable`` cannot move a column, so the columns are re-added and every row with
        them (a rare event: a resize, or names that grew)."""
        fits = self._fits()
        if fits is None or self.narrow == (not fits):
            return False
        self.narrow = not fits
        self.clear(columns=True)
        self._shown = {}
        self._add_columns()
        return True

    def on_resize(self) -> None:
        cursor = self.cursor_key
        if self._relayout():
            self.generation += 1
            for _ in self._applying(self._rows, cursor, self.generation, len(self._rows) + 1):
                pass

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None: empty table)."""
        if not self.row_count:
            return None
        row = min(self.cursor_row, self.row_count - 1)
        return self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value

    def row_keys(self) -> list[str]:
        """Every row key, top to bottom."""
        return [str(row.key.value) for row in self.ordered_rows]

    def cells(self, key: str) -> Cells:
        """What row ``key`` shows (for the screen and for tests)."""
        return self._shown[key]

    def sync_rows(self, rows: Sequence[ViewRow]) -> None:
        """Show exactly ``rows`` in this order, touching only what changed."""
        for _ in self.syncing(rows, len(rows) + 1):
            pass

    def syncing(self, rows: Sequence[ViewRow], size: int = SYNC_SLICE) -> Iterator[None]:
        """``sync_rows``, yielding after every ``size`` rows applied (the caller lets the
        event loop turn there; the table may be drawn half updated meanwhile). Stops early
        when another sync begins before it is done: that one shows newer rows."""
        self.generation += 1
        generation = self.generation
        cursor = self.cursor_key
        self._rows = list(rows)
        pad = 2 * self.cell_padding
        widest: list[tuple[int, str | None]] = []
        for i, (_, label) in enumerate(self.COLUMNS):
            width, where = len(label), None
            for key, cells in rows:
                if cells[i].cell_len > width:
                    width, where = cells[i].cell_len, key
            widest.append((width, where))
        self._needed = sum(pad + width for width, _ in widest)
        if self._relayout():
            self._widest = []
        yield from self._applying(rows, cursor, generation, size)
        if generation != self.generation:
            return
        self._fit_columns(widest)

    def _fit_columns(self, widest: list[tuple[int, str | None]]) -> None:
        """Give each column whose widest cell changed the width of that cell: updated with
        ``update_width``, which grows the column to it, or (narrower) re-measures it once."""
        for i, (column, _) in enumerate(self.COLUMNS):
            before = self._widest[i] if i < len(self._widest) else None
            width, key = widest[i]
            if before is not None and before[0] == width:
                continue
            if key is None:  # the label is the widest: re-measure through any row
                key = next(iter(self._shown), None)
            if key is not None:
                self.update_cell(key, column, self._shown[key][i], update_width=True)
        self._widest = widest

    def _applying(
        self, rows: Sequence[ViewRow], cursor: str | None, generation: int, size: int
    ) -> Iterator[None]:
        wanted = dict(rows)
        for key in [k for k in self._shown if k not in wanted]:
            self.remove_row(key)
            del self._shown[key]
        for key in [k for k in self.cache if k not in wanted]:
            del self.cache[key]  # gone (or folded): the cache holds only what is shown
        columns = [key for key, _ in self.COLUMNS]
        drawn = self._order()
        for n, (key, cells) in enumerate(rows, 1):
            old = self._shown.get(key)
            if old is None:
                self.add_row(*(cells[i] for i in drawn), key=key)
            elif old is not cells:
                self._quiet = True
                try:
                    for column, before, after in zip(columns, old, cells, strict=True):
                        if before is not after and not _same(before, after):
                            self.update_cell(key, column, after)
                finally:
                    self._quiet = False
            self._shown[key] = cells
            if n % size == 0:
                self.keep_cursor_on(cursor)
                yield
                if generation != self.generation:
                    return  # the newer sync pays what is owed
                cursor = self.cursor_key  # the operator may have moved it meanwhile
        self._pay()
        order = {key: i for i, (key, _) in enumerate(rows)}
        if self.row_keys() != [key for key, _ in rows]:
            self.sort(columns[0], key=lambda cell: order[cell.row_key])
        self.keep_cursor_on(cursor)

    def keep_cursor_on(self, key: str | None) -> None:
        if key is None or key not in self._shown:
            return
        index = self.get_row_index(key)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)


class KafkaLagTable(LagTable):
    """One row per group; ``enter``/``right`` expand it to its partitions, ``left`` folds."""

    COLUMNS = (
        ("group", "group"),
        ("state", "state"),
        ("members", "members"),
        ("topic", "topic"),
        ("partition", "partition"),
        ("committed", "committed"),
        ("end", "end"),
        ("lag", "lag"),
        ("trend", "trend"),
        ("status", "status"),
    )
    NARROW_FIRST = ("group", "status", "trend", "lag", "topic", "partition")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "screen.expand", "Expand", show=False),
        Binding("left", "screen.collapse", "Collapse", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.expanded: set[str] = set()

    @staticmethod
    def parse_key(key: str) -> tuple[str, str | None, int | None]:
        """``(group, topic, partition)`` of a row key; topic and partition None on group rows."""
        kind, group, *rest = key.split(SEP)
        if kind == "g":
            return group, None, None
        topic, partition = rest
        return group, topic, int(partition)


class JetStreamLagTable(LagTable):
    """One row per consumer, with its stream's last sequence."""

    COLUMNS = (
        ("stream", "stream"),
        ("consumer", "consumer"),
        ("pending", "pending"),
        ("ack_pending", "ack pending"),
        ("redelivered", "redelivered"),
        ("waiting", "waiting"),
        ("delivered", "delivered seq"),
        ("ack_floor", "ack floor"),
        ("last_seq", "last seq"),
        ("trend", "trend"),
        ("status", "status"),
    )
    NARROW_FIRST = ("stream", "consumer", "status", "trend", "pending")

    @staticmethod
    def parse_key(key: str) -> tuple[str | None, str | None]:
        stream, consumer = key.split(SEP)
        return stream or None, consumer or None
