"""The lag screen (``l``): Kafka consumer groups and JetStream consumers, refreshed in place.

Refreshing follows dolphie: one polling worker runs a round of the headless ``LagPoller``
(``evmon.lag.poller``, the one ``evmon lag`` uses: both brokers at once through long-lived
clients opened on the first refresh), the screen then redraws by diff and schedules the next
poll with ``set_timer``. Polls never overlap, and none is scheduled while the screen is hidden
or covered by a modal: the next one runs when it is shown again (``ScreenResume``). The app
installs the screen once, so its windows of samples (``LagHistory``, the status and the
sparklines) carry on between visits, while the live view underneath keeps ingesting.

A failed query turns that system's rows ``ERR`` (their last values kept) with the cause shown
above its table; the next good refresh recovers. Rows whose group or consumer disappeared turn
``ERR`` too (``LagHistory`` keeps them for one window).

Keys: ``enter``/``right`` expand a Kafka group to its partitions, ``left`` folds it; ``enter``
on a partition or consumer row (or ``f`` on any row) filters the live view to that topic
(``TOPIC partition:N``) or stream (``stream:NAME``) and returns to it; ``o`` sorts by lag or
by name; ``s`` skips the message a partition or consumer is stuck on, after a confirmation
(``evmon.actions``, refused in read-only mode); ``m`` shows or hides, for every row, the
lines under the Kafka table (``widgets.lag_detail``: the highlighted group's members, client
id, host and assigned partitions, and what NOCOMMIT means), which a NOCOMMIT row shows
anyway; ``escape``/``l`` go back.

The app is reached through ``LagHost`` (its groups, streams and ``action_context()``) and
filtered with the ``SubjectChosen`` message it already handles, so this module needs nothing
else from ``app.py``. Tests install their own ``LagScreen(interval=...)`` under ``"lag"``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import ClassVar, Literal, Protocol, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from evmon.actions import (
    ActionContext,
    inspect_kafka_skip,
    skip_kafka,
)
from evmon.codec import safe_text
from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import EvmonError
from evmon.lag import (
    DEFAULT_REFRESH,
    DEFAULT_WINDOW,
    JetStreamLagRow,
    KafkaLagRow,
    LagHistory,
    LagPoller,
)
from evmon.tui.messages import LagRoundDone, SubjectChosen
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.skip import skip_stuck_message
from evmon.tui.widgets.lag_detail import KafkaDetail
from evmon.tui.widgets.lag_tables import (
    SYNC_SLICE,
    GroupView,
    JetStreamLagTable,
    KafkaLagTable,
    LagTable,
    group_key,
    group_views,
    jetstream_order,
    jetstream_rows,
    kafka_view_rows,
)

__all__ = ["LagHost", "LagScreen"]

SkipTarget = tuple[Literal["kafka"], str, str, int] | tuple[Literal["jetstream"], str, str]
#: A refresh's drawing, per turn of the event loop: the group views of this many groups...
GROUPS_PER_SLICE = 20
#: ... or the cells of this many consumers (then ``SYNC_SLICE`` rows applied per turn).
CONSUMERS_PER_SLICE = 250


class LagHost(Protocol):
    """What the lag screen needs from the app (``EvmonApp`` provides it)."""

    groups: list[str]
    streams: list[str]

    def action_context(self) -> ActionContext: ...


def _escaped(line: str | None) -> str | None:
    return None if line is None else safe_text(line)


def _why(err: BaseException) -> str:
    """One line, escaped: errors quote broker names (shown as text, never as markup)."""
    return safe_text(str(err) if isinstance(err, EvmonError) else f"{type(err).__name__}: {err}")


class LagScreen(Screen[None]):
    """Consumer lag of every Kafka group and JetStream consumer of interest (see module doc)."""

    CSS_PATH = "../lag.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l", "close", "Back"),
        Binding("o", "toggle_sort", "Sort lag/name"),
        Binding("f", "filter_live", "Filter live view"),
        Binding("s", "skip", "Skip message"),
        Binding("m", "toggle_members", "Members", show=False),
        # The live view's own keys would act on the hidden event list (re-publish the event
        # highlighted there...): here they only say where they work.
        Binding("slash,space,p,r,x,t", "live_only", show=False),
    ]

    def __init__(
        self,
        *,
        interval: float = DEFAULT_REFRESH,
        window: int = DEFAULT_WINDOW,
        allowed_lag: int = 0,
        live: bool = True,
    ) -> None:
        super().__init__()
        self.interval = interval
        #: False: never query the brokers; rows come only from ``observe`` (screenshots).
        self.live = live
        self.window = window
        self.by_lag = False
        #: The rows, their windows and why a refresh failed, per system.
        self.poller = LagPoller(window=window, allowed_lag=allowed_lag)
        #: Completed refreshes (each also posts ``LagRoundDone``; tests wait on either).
        self.refreshes = 0
        self.kafka_settings: KafkaSettings | None = None
        self.nats_settings: NatsSettings | None = None
        self.kafka_table = KafkaLagTable(id="kafka-lag")
        self.jetstream_table = JetStreamLagTable(id="jetstream-lag")
        self.kafka_detail = KafkaDetail(id="kafka-detail")
        self._timer: Timer | None = None
        self._polling = False
        self._again = False
        #: When the rows shown were taken (None: now, from the wall clock).
        self._taken_at: float | None = None

    @property
    def host(self) -> LagHost:
        return cast(LagHost, self.app)

    @property
    def kafka_history(self) -> LagHistory[KafkaLagRow]:
        return self.poller.kafka.history

    @property
    def jetstream_history(self) -> LagHistory[JetStreamLagRow]:
        return self.poller.jetstream.history

    @property
    def kafka_rows(self) -> list[KafkaLagRow]:
        return self.poller.kafka.rows

    @property
    def jetstream_rows(self) -> list[JetStreamLagRow]:
        return self.poller.jetstream.rows

    @property
    def kafka_error(self) -> str | None:
        """Why the last refresh of Kafka failed, escaped (None: it did not)."""
        return _escaped(self.poller.kafka.error)

    @property
    def jetstream_error(self) -> str | None:
        """Why the last refresh of JetStream failed, escaped (None: it did not)."""
        return _escaped(self.poller.jetstream.error)

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static("", id="lag-note")
        with Vertical(id="kafka-box") as box:
            box.border_title = "Kafka consumer groups"
            yield Static("", id="kafka-error", classes="lag-error")
            yield self.kafka_table
            yield self.kafka_detail
        with Vertical(id="jetstream-box") as box:
            box.border_title = "JetStream consumers"
            yield Static("", id="jetstream-error", classes="lag-error")
            yield self.jetstream_table
        yield Footer()

    def on_mount(self) -> None:
        ctx = self.host.action_context()
        self.kafka_settings, self.nats_settings = ctx.kafka, ctx.nats
        if ctx.kafka is not None:
            self.poller.watch_kafka(ctx.kafka, self.host.groups)
        if ctx.nats is not None:
            self.poller.watch_jetstream(ctx.nats, self.host.streams)
        kafka, nats = ctx.kafka is not None, ctx.nats is not None
        self.query_one("#kafka-box").display = kafka
        self.query_one("#jetstream-box").display = nats
        note = ""
        if not kafka and not nats:
            note = "No Kafka or NATS connection: start evmon with --kafka and/or --nats."
        elif not kafka:
            note = "No Kafka connection (--kafka): JetStream consumers only."
        elif not nats:
            note = "No NATS connection (--nats): Kafka consumer groups only."
        notice = self.query_one("#lag-note", Static)
        notice.update(note)
        notice.display = bool(note)
        (self.kafka_table if kafka else self.jetstream_table).focus()
        self._draw_kafka()
        self._draw_jetstream()

    async def on_unmount(self) -> None:
        self._stop_timer()
        await self.poller.close()

    # ----------------------------------------------------------------- polling

    def on_screen_resume(self) -> None:
        self._stop_timer()
        if self.live:
            self._poll_due()

    def observe(
        self,
        kafka: list[KafkaLagRow] | None = None,
        jetstream: list[JetStreamLagRow] | None = None,
        now: float | None = None,
    ) -> None:
        """Take one refresh's rows from the caller instead of the brokers (a scripted,
        reproducible screen: ``live=False`` and a fixed ``now``)."""
        self._taken_at = now
        self.refreshes += 1
        if kafka is not None:
            self.poller.kafka.observe(kafka, now)
            self._draw_kafka()
        if jetstream is not None:
            self.poller.jetstream.observe(jetstream, now)
            self._draw_jetstream()

    def on_screen_suspend(self) -> None:
        self._stop_timer()  # hidden or under a modal: no polls until shown again

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _poll_due(self) -> None:
        self._timer = None
        if not self._polling and self.is_active:
            self.poll()  # (a poll in flight schedules the next one itself)

    def refresh_now(self) -> None:
        """Poll now (after a skip), or right after the poll in flight."""
        self._stop_timer()
        if self._polling:
            self._again = True
        else:
            self._poll_due()

    @work(group="lag-poll", exit_on_error=False)
    async def poll(self) -> None:
        """One refresh of both systems; then the next is scheduled (never two at once)."""
        self._polling = True
        try:
            await self.poller.poll()  # a failure turns that system's rows ERR, with its cause
        finally:
            self._polling = False
        try:  # in slices between turns of the event loop: keys are answered meanwhile
            if self.poller.kafka.watched:
                await self._sliced(self._drawing_kafka(sliced=True))
            if self.poller.jetstream.watched:
                await self._sliced(self._drawing_jetstream(sliced=True))
        finally:  # a drawing bug is notified by the app; the polling goes on
            self.refreshes += 1
            self.post_message(LagRoundDone(self.refreshes))
            again, self._again = self._again, False
            if self.is_active:
                # Not 0: a Textual timer divides by its interval when it runs late.
                self._timer = self.set_timer(0.01 if again else self.interval, self._poll_due)

    # ----------------------------------------------------------------- drawing

    # A draw is a generator that yields where a refresh lets the event loop turn (``_sliced``);
    # a key's draw runs it through at once (``_draw_kafka``). A key drawn during a refresh's
    # draw supersedes it: the table's ``generation`` moved, the sliced one stops.

    def _draw_kafka(self) -> None:
        for _ in self._drawing_kafka(sliced=False):
            pass

    def _draw_jetstream(self) -> None:
        for _ in self._drawing_jetstream(sliced=False):
            pass

    @staticmethod
    async def _sliced(steps: Iterator[None]) -> None:
        for _ in steps:
            await asyncio.sleep(0)

    def _syncing(
        self, table: LagTable, rows: list[tuple[str, tuple[Text, ...]]], sliced: bool
    ) -> Iterator[None]:
        """Apply ``rows`` to ``table``, one batch of screen updates per slice."""
        steps = table.syncing(rows, SYNC_SLICE if sliced else len(rows) + 1)
        while True:
            with self.app.batch_update():
                more = next(steps, False) is None
            if not more:
                return
            yield

    def _drawing_kafka(self, sliced: bool) -> Iterator[None]:
        table, history, rows = self.kafka_table, self.kafka_history, self.kafka_rows
        generation = table.generation
        views: list[GroupView] = []
        if sliced:
            by_group: dict[str, list[KafkaLagRow]] = {}
            for row in rows:
                by_group.setdefault(row.group, []).append(row)
            groups = list(by_group.values())
            for lo in range(0, len(groups), GROUPS_PER_SLICE):
                chunk = itertools.chain.from_iterable(groups[lo : lo + GROUPS_PER_SLICE])
                views += group_views(chunk, history)
                yield
            if table.generation != generation:
                return  # a key drew these rows meanwhile
        else:
            views = group_views(rows, history)
        shown = kafka_view_rows(
            views, history, table.expanded, self.by_lag, self.window, table.cache
        )
        yield from self._syncing(table, shown, sliced)
        if table.generation != generation + 1:
            return
        with self.app.batch_update():
            self.kafka_detail.show(rows, table.cursor_key)
        groups_n = len(views)
        self._caption("kafka", f"{groups_n} group{'' if groups_n == 1 else 's'}", self.kafka_error)

    def _drawing_jetstream(self, sliced: bool) -> Iterator[None]:
        table, history, rows = self.jetstream_table, self.jetstream_history, self.jetstream_rows
        generation = table.generation
        ordered = jetstream_order(rows, self.by_lag)
        step = CONSUMERS_PER_SLICE if sliced else len(ordered) + 1
        shown: list[tuple[str, tuple[Text, ...]]] = []
        for lo in range(0, len(ordered), step):
            part = ordered[lo : lo + step]
            shown += jetstream_rows(
                part, history, self.by_lag, self.window, table.cache, ordered=True
            )
            if sliced:
                yield
        if table.generation != generation:
            return  # a key drew these rows meanwhile
        yield from self._syncing(table, shown, sliced)
        if table.generation != generation + 1:
            return
        n = len(rows)
        self._caption("jetstream", f"{n} consumer{'' if n == 1 else 's'}", self.jetstream_error)

    def _caption(self, system: str, count: str, error: str | None) -> None:
        box = self.query_one(f"#{system}-box")
        if not (self.refreshes or error):
            when = "waiting"
        elif self._taken_at is None:
            when = time.strftime("%H:%M:%S")
        else:  # scripted rows: their own time, in UTC like the event list
            when = time.strftime("%H:%M:%S", time.gmtime(self._taken_at))
        order = "lag" if self.by_lag else "name"
        box.border_subtitle = (
            f"{count} · by {order} · every {self.interval:g} s · window {self.window} · {when}"
        )
        line = self.query_one(f"#{system}-error", Static)
        if error is None:
            line.display = False
            return
        line.update(Text(f"query failed, rows shown as ERR until it recovers: {safe_text(error)}"))
        line.display = True

    # ----------------------------------------------------------------- keys

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_live_only(self) -> None:
        self.notify("That key works in the live view: escape goes back to it.", timeout=3)

    def action_toggle_sort(self) -> None:
        self.by_lag = not self.by_lag
        self._draw_kafka()
        self._draw_jetstream()
        self.notify(f"Sorted by {'lag, largest first' if self.by_lag else 'name'}.", timeout=2)

    def action_expand(self) -> None:
        key = self.kafka_table.cursor_key
        if key is None:
            return
        group, topic, _ = KafkaLagTable.parse_key(key)
        if topic is None and group not in self.kafka_table.expanded:
            self.kafka_table.expanded.add(group)
            self._draw_kafka()

    def action_collapse(self) -> None:
        key = self.kafka_table.cursor_key
        if key is None:
            return
        group, _, _ = KafkaLagTable.parse_key(key)
        if group in self.kafka_table.expanded:
            self.kafka_table.expanded.discard(group)
            self._draw_kafka()
            self.kafka_table.keep_cursor_on(group_key(group))

    @on(DataTable.RowHighlighted, "#kafka-lag")
    def _kafka_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.kafka_detail.show(self.kafka_rows, self.kafka_table.cursor_key)

    def action_toggle_members(self) -> None:
        detail = self.kafka_detail
        detail.enabled = not detail.enabled
        detail.show(self.kafka_rows, self.kafka_table.cursor_key)
        shown = "shown on every row" if detail.enabled else "shown on NOCOMMIT rows only"
        self.notify(f"Group members {shown}.", timeout=2)

    @on(DataTable.RowSelected, "#kafka-lag")
    def _kafka_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        group, topic, _ = KafkaLagTable.parse_key(str(event.row_key.value))
        if topic is not None:
            self.action_filter_live()
        elif group in self.kafka_table.expanded:
            self.action_collapse()
        else:
            self.action_expand()

    @on(DataTable.RowSelected, "#jetstream-lag")
    def _jetstream_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_filter_live()

    def _table(self) -> LagTable:
        """The table the keys act on: the focused one, else the one shown."""
        focused = self.focused
        if isinstance(focused, LagTable):
            return focused
        return self.kafka_table if self.kafka_settings is not None else self.jetstream_table

    def live_filter(self) -> str | None:
        """The live view's filter for the row under the cursor (None: nothing to filter on)."""
        table = self._table()
        key = table.cursor_key
        if key is None:
            return None
        if isinstance(table, KafkaLagTable):
            group, topic, partition = KafkaLagTable.parse_key(key)
            if topic is not None:
                return f"{topic} partition:{partition}"
            topics = dict.fromkeys(
                r.topic for r in self.kafka_rows if r.group == group and r.topic is not None
            )
            return " ".join(topics) or None
        stream, _ = JetStreamLagTable.parse_key(key)
        return None if stream is None else f"stream:{stream}"

    def action_filter_live(self) -> None:
        expr = self.live_filter()
        if expr is None:
            self.notify("Nothing to filter on in this row.", severity="warning")
            return
        self.app.post_message(SubjectChosen(expr))  # the app puts it in the filter bar
        self.app.pop_screen()

    # ----------------------------------------------------------------- skip

    def skip_target(self) -> SkipTarget | str:
        """What ``s`` would skip on the row under the cursor, or why it cannot."""
        table = self._table()
        key = table.cursor_key
        if key is None:
            return "No row selected."
        if isinstance(table, KafkaLagTable):
            group, topic, partition = KafkaLagTable.parse_key(key)
            if topic is None or partition is None:
                return "Skip works on one partition: expand the group (enter) and pick a row."
            return ("kafka", group, topic, partition)
        stream, consumer = JetStreamLagTable.parse_key(key)
        if stream is None or consumer is None:
            return "This row names no existing consumer."
        return ("jetstream", stream, consumer)

    def action_skip(self) -> None:
        ctx = self.host.action_context()
        reason = ctx.disabled_reason("skip")
        if reason is not None:
            self.notify(reason, title="Skip", severity="warning")
            return
        target = self.skip_target()
        if isinstance(target, str):
            self.notify(target, title="Skip", severity="warning", markup=False)
            return
        self.run_skip(ctx, target)

    @work(group="lag-skip", exclusive=True, exit_on_error=False)
    async def run_skip(self, ctx: ActionContext, target: SkipTarget) -> None:
        """Show the message, ask, skip, show before/after; refusals are one line."""
        if target[0] == "jetstream":
            _, stream, consumer = target
            try:  # finds and holds the stuck message; the confirmation names it
                found = await skip_stuck_message(self.app, ctx, stream, consumer, self.notify)
            except Exception as err:
                self.notify(_why(err), title="Cannot skip", severity="error", markup=False)
                return
            if found is not None:
                self.notify(found.summary(), title="Skipped", timeout=15, markup=False)
                self.refresh_now()
            return
        _, group, topic, partition = target
        try:
            kplan = await inspect_kafka_skip(ctx, group, topic, partition)
            question = kplan.question()
            body = (
                f"{kplan.preview()}\nThe group resumes at offset {kplan.new_offset} when it "
                "next starts. Recorded in the audit log."
            )
        except Exception as err:
            self.notify(_why(err), title="Cannot skip", severity="error", markup=False)
            return
        if not await self.app.push_screen_wait(ConfirmModal(safe_text(question), body, "Skip")):
            self.notify("Nothing skipped.", title="Skip", timeout=3)
            return
        try:
            result = await skip_kafka(ctx, group, topic, partition)
        except Exception as err:
            self.notify(_why(err), title="Skip failed", severity="error", markup=False)
            return
        self.notify(result.summary(), title="Skipped", timeout=15, markup=False)
        self.refresh_now()
