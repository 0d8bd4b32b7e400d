"""``DashboardScreen``: the live view of ``evmon connect``, the app's default screen.

Data flow: the app's sources append to the bounded ``EventStore``; a timer (``TICK``, 15 Hz)
polls the store through the ``EventIndex`` (only new events are filtered) and tells the
``EventList`` what changed; the subject tree and the status bar are refreshed from the
store's counters at a lower rate. No message is ever posted per event.

The screen holds the layout, the timer, the re-filter and the pane toggles, and (through
``OperatorActions``, ``operator.py``) the ``r``/``s``/``x`` keys. What it shares with the
rest of the app (the store, the connection statuses, the read-only guard, the palette)
belongs to ``EvmonApp``.

Adding to the dashboard:

- a key: a ``Binding`` in ``DashboardScreen.BINDINGS`` and an ``action_*`` method here. It
  appears in the footer (``show=True``), the help screen and the command palette by itself.
- an action without a key: an entry in ``EvmonApp.EXTRA_COMMANDS`` (palette only) and an
  ``action_*`` method here.
- what the actions work on: ``highlighted_event()``, ``marked_events()`` (falls back to the
  highlighted one) and ``filtered_events()`` (``targets.py``), taken when the key is pressed,
  after ``pin()`` stopped the list following.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from evmon.event_index import EventIndex, Refilter
from evmon.heap import HeapKeeper
from evmon.lenses import Lens, parse_dedupe_key
from evmon.model import Event
from evmon.store import EventStore
from evmon.tui import format as fmt
from evmon.tui.connections import StatusBoard
from evmon.tui.echo import EchoGate
from evmon.tui.messages import (
    EventHighlighted,
    FilterChanged,
    FollowChanged,
    RefilterDone,
)
from evmon.tui.operator import OperatorActions
from evmon.tui.options import DashboardOptions
from evmon.tui.screens.interest import InterestScreen
from evmon.tui.screens.lag import LagScreen
from evmon.tui.screens.payload import PayloadScreen
from evmon.tui.targets import follow_note
from evmon.tui.widgets.detail import DetailPane
from evmon.tui.widgets.event_list import EventList
from evmon.tui.widgets.filter_bar import FilterBar, focus_now
from evmon.tui.widgets.footer import KeyFooter
from evmon.tui.widgets.hint import HintPanel
from evmon.tui.widgets.status_bar import StatusBar, StatusLine
from evmon.tui.widgets.subject_tree import SubjectTree

if TYPE_CHECKING:
    from evmon.tui.app import EvmonApp

__all__ = ["DashboardScreen"]

#: The UI timer: how often new events are taken from the store.
TICK = 1 / 15
#: Seconds of judging and filtering a tick may spend on new events (a backlog takes
#: several ticks), in slices of ``SLICE_BUDGET`` with ``SLICE_GAP`` between them, where a
#: key and its echo frame get the event loop: a key never waits long for a tick.
TICK_BUDGET = 0.02
SLICE_BUDGET = 0.004
SLICE_GAP = 0.001
#: Status bar and subject tree refresh every this many ticks.
STATUS_EVERY = 4
TREE_EVERY = 15
#: Up to this many retained events are re-filtered on the spot; more in slices.
SYNC_REFILTER = 10_000
#: Seconds a re-filter may take before the first frame (it stops at a screenful of rows
#: when the list follows the tail), and per later slice. After each slice the re-filter
#: sleeps as long again: keys, frames and ingest get at least half of the event loop.
FIRST_SLICE = 0.03
SLICE = 0.002
#: Below this width the footer is compact (the ``-narrow`` breakpoint).
NARROW = 100


class DashboardScreen(OperatorActions, Screen[None]):
    """The live view over the app's ``EventStore`` (see the module doc)."""

    #: The event list has the focus from the first frame: Textual's default focuses the first
    #: focusable widget, the filter, until ``on_mount``'s deferred focus call runs, so the
    #: first frames showed the filter's keys in the footer. ``on_mount`` still focuses the
    #: list, since Textual applies this only while the terminal has the focus.
    AUTO_FOCUS: ClassVar[str | None] = "#events"

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: handled as the key is read, so the keys read with it go to the filter.
        Binding("slash", "focus_filter", "Filter", priority=True),
        Binding("enter", "toggle_detail", "Detail"),
        Binding("space", "mark", "Mark", show=False),  # the footer must fit 80 columns
        Binding("p", "toggle_pause", "Pause"),
        Binding("f", "full_payload", "Full payload", show=False),
        Binding("t", "toggle_tree", "Subjects", show=False),
        Binding("h", "toggle_hint", "First-run hint", show=False),
        Binding(
            "r",
            "republish",
            "Re-publish",
            tooltip="Re-publish marked (or highlighted) events; disabled in read-only mode",
        ),
        Binding(
            "s",
            "skip",
            "Skip",
            tooltip="Move a group or consumer past this message; disabled in read-only mode",
        ),
        Binding(
            "x", "export", "Export", tooltip="Export the marked (or all filtered) events to JSONL"
        ),
        Binding("l", "lag", "Lag"),
        Binding("i", "interest", "Who listens", show=False),  # the footer must fit 80 columns
    ]

    def __init__(
        self, store: EventStore, connections: StatusBoard, options: DashboardOptions
    ) -> None:
        super().__init__()
        self.store = store
        self.connections = connections
        self.options = options
        #: The duplicate and drift lenses: each event judged once, as the index takes it.
        self.lens = Lens(parse_dedupe_key(options.dedupe_key), keep=store.capacity)
        self.index = EventIndex(store, lens=self.lens)
        self.heap = HeapKeeper()
        #: Keys' echoes go first: the tick and the re-filter wait at their slice boundaries.
        self.echo = EchoGate()
        self._ticks = 0
        self._generation = 0
        self._filtering = False
        self._timer: Timer | None = None
        self._detail_open = False
        self._status_version = -1
        self._has_positions = False
        self._has_keys = False
        self._subject_seen = 0
        self._position_seen = 0
        # The widgets are made here, not looked up: the timer may fire while they unmount.
        self.filter_bar = FilterBar(options.initial_filter, blink=options.blink, id="filter-bar")
        self.filter_bar.lens = self.lens
        self.subject_tree = SubjectTree(id="tree")
        self.subject_tree.border_title = "Subjects"
        self.event_list = EventList(self.index, id="events")
        self.event_list.border_title = "Events"
        self.detail = DetailPane(id="detail")
        self.detail.lens = self.lens
        self.detail.border_title = "Event"
        self.status_bar = StatusBar(id="status")
        self.footer = KeyFooter()
        kafka = any(view.system == "kafka" for view in connections)  # the hint's Kafka steps
        self.hint = HintPanel(id="hint", kafka=kafka) if options.first_run_hint else None

    @property
    def evmon(self) -> EvmonApp:
        """The app, typed (its guard, sources and action workers)."""
        return cast("EvmonApp", self.app)

    @property
    def filtering(self) -> bool:
        """A re-filter is still looking at older events (``RefilterDone`` ends it)."""
        return self._filtering

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield self.filter_bar
        with Horizontal(id="main"):
            yield self.subject_tree
            yield self.event_list
            yield self.detail
        if self.hint is not None:
            yield self.hint
        yield self.status_bar
        yield self.footer

    def fit_footer(self, width: int) -> None:
        """Under ``NARROW`` columns the footer goes compact and drops the palette hint, so
        every key up to ``q Quit`` fits in 80 columns (ctrl+p still works; help lists it)."""
        narrow = width < NARROW
        footer = self.footer
        if footer.compact != narrow:
            footer.compact = narrow
            footer.show_command_palette = not narrow

    def on_mount(self) -> None:
        self.event_list.focus()
        self.sync()
        self._timer = self.set_interval(TICK, self._tick)
        self.heap.start()

    def stop(self) -> None:
        """No more ticks (the app is closing its sources)."""
        if self._timer is not None:
            self._timer.stop()

    def on_unmount(self) -> None:
        self.heap.stop()

    # ----------------------------------------------------------------- the timer

    async def _tick(self) -> None:
        """Take the new events in slices (each poll is whole: a re-filter's install or a
        ``sync`` between two slices finds the index consistent), then the counters."""
        self._ticks += 1
        self.heap.tick()
        index = self.index
        started = time.perf_counter()
        round_size = index.backlog
        echo = self.echo
        while True:
            await echo.wait()
            before = index.next_seq
            change = index.poll(budget=SLICE_BUDGET, round_size=round_size)
            if change.added:
                self._notice_columns(before)
            if change:
                self.event_list.rows_changed(change, live=True)
                self._update_counts()
            if not index.behind or time.perf_counter() - started >= TICK_BUDGET:
                break
            await asyncio.sleep(SLICE_GAP)
        await echo.wait()
        if self._ticks % STATUS_EVERY == 0 or self.connections.version != self._status_version:
            self._update_status()
        self._update_tree(fetch=self._ticks % TREE_EVERY == 0, limit=SubjectTree.KEYS_PER_SLICE)

    def sync(self) -> None:
        """Take everything from the store and redraw every counter now (tests, screenshots)."""
        before = self.index.next_seq
        change = self.index.poll()
        self._notice_columns(before)
        self.event_list.rows_changed(change)
        self._update_status()
        self._update_tree()

    def feed(self, events: Iterable[Event]) -> None:
        """Put events straight into the store and show them (tests, screenshots, demo)."""
        self.store.extend(events)
        self.sync()

    def _update_tree(self, *, fetch: bool = True, limit: int | None = None) -> None:
        """Take the store's changes (``fetch``) and apply them, ``limit`` keys a call: the
        tick spreads a second's new subjects over its ticks; ``sync`` applies them all."""
        tree = self.subject_tree
        if fetch:
            tree.take(self.store.changes())
            tree.update_lens(self.lens.changed_counts())
        tree.apply(limit)

    def _notice_columns(self, since: int) -> None:
        """Show the position and key columns once events have them (core NATS alone never
        does), and widen the subject and position columns to the widest values seen; only
        the newest events of a poll are looked at (up to the index's: a tick's slice looks
        at its own), and the columns never shrink back."""
        end = self.index.next_seq
        start = max(since, end - 2_000)
        recent, _ = self.store.since(start, end - start)
        if recent:
            self._has_positions = self._has_positions or any(ev.offset is not None for ev in recent)
            self._has_keys = self._has_keys or any(ev.source == "kafka" for ev in recent)
            self._subject_seen = max(self._subject_seen, max(len(ev.subject) for ev in recent))
            if self._has_positions:
                widest = max(len(ev.position) for ev in recent)
                self._position_seen = max(self._position_seen, widest)
        self.event_list.show_columns(
            self._has_positions, self._has_keys, self._subject_seen, self._position_seen
        )

    def _update_status(self) -> None:
        store, events, flt = self.store, self.event_list, self.index.filter
        self._status_version = self.connections.version
        self.status_bar.set_line(
            StatusLine(
                connections=StatusLine.connection_rows(list(self.connections)),
                total=store.total,
                rate=fmt.rate(store.total_rate()),
                retained=len(store),
                capacity=store.capacity,
                dropped=store.dropped,
                follow=events.follow,
                new_rows=events.new_rows,
                marked=len(events.marks),
                read_only=self.options.read_only,
                # events a /regex/ term ran out of its time budget on: counted, never hidden
                regex_over=flt.budget.exceeded if flt is not None and flt.budget else 0,
            )
        )
        self._update_counts()

    def _update_counts(self) -> None:
        index, events = self.index, self.event_list
        if self._filtering and not index.refiltering:
            subtitle = "filtering…"  # a paused list shows the old filter meanwhile
        elif index.filter is None:
            subtitle = f"{fmt.count(len(index))} events"
        else:
            subtitle = f"matching {fmt.count(len(index))} of {fmt.count(index.scanned)}"
            if self._filtering:
                subtitle += " · filtering…"  # older rows are still being looked for
        subtitle += follow_note(events)
        if events.border_subtitle != subtitle:
            events.border_subtitle = subtitle

    # ----------------------------------------------------------------- filtering

    @on(Worker.StateChanged)
    def _refilter_failed(self, event: Worker.StateChanged) -> None:
        """A failed re-filter ends the "filtering…" state (the app notifies the error)."""
        if event.worker.group == "refilter" and event.worker.state is WorkerState.ERROR:
            self._filtering = False
            self._update_counts()

    @on(FilterChanged)
    def _filter_changed(self, message: FilterChanged) -> None:
        """Show the new filter's newest rows in the next frame, the older ones as found.

        The first slice of the re-filter runs here, just long enough to fill the list when
        it follows the tail; the rest runs on the event loop in slices of ``SLICE`` seconds
        (``_finish_refilter``). A list paused on an event keeps the old rows until the
        re-filter is done, so that its cursor can stay on that event.
        """
        self._generation += 1
        job = self.index.refilter(message.filter)
        events = self.event_list
        if len(self.store) <= SYNC_REFILTER:
            job.run()
        else:
            job.step(FIRST_SLICE, want=events.rows_visible if events.follow else None)
        if job.done or events.follow:
            self._install(job)
        self._filtering = not job.done
        if self._filtering:
            self._finish_refilter(self._generation, job)
        else:
            self.post_message(RefilterDone(message.expr, len(self.index)))
        self._update_counts()

    def _install(self, job: Refilter) -> None:
        self.index.install(job)
        self.index.poll()
        self.event_list.filter_changed()

    @work(exclusive=True, group="refilter", exit_on_error=False)
    async def _finish_refilter(self, generation: int, job: Refilter) -> None:
        """Re-filter the older events between keys and frames, on the event loop: in a
        thread it would hold the GIL against the loop (which then waits up to the 5 ms switch
        interval after every ``select``). The installed rows grow upwards (``poll`` reports
        them); a paused list gets them all at the end."""
        while not job.done:
            await asyncio.sleep(SLICE)
            await self.echo.wait()
            if generation != self._generation:
                return  # typed on: a newer filter is on its way
            job.step(SLICE)
        if generation == self._generation:
            self._filtering = False
            if self.index.filter is not job.filter:
                self._install(job)
            self._update_counts()
            expr = "" if job.filter is None else job.filter.expr
            self.post_message(RefilterDone(expr, len(self.index)))

    def action_submit_filter(self) -> None:
        """``enter`` in the filter: apply it now; the list gets the focus at once, unless the
        filter is bad (the focus stays for fixing it)."""
        self.filter_bar.apply()
        if self.filter_bar.error is None:
            focus_now(self.event_list)

    # ----------------------------------------------------------------- list and detail

    @on(EventHighlighted)
    def _highlighted(self, message: EventHighlighted) -> None:
        """A pinned detail keeps its event unless the operator moved the cursor."""
        if self.detail_visible and (message.operator or self.event_list.follow):
            seq = message.seq
            self.detail.show(seq, None if seq is None else self.store.get(seq))

    @on(FollowChanged)
    def _follow_changed(self) -> None:
        self.show_pinned()
        self._update_status()

    # ----------------------------------------------------------------- actions
    # (r, s, x: ``OperatorActions`` in operator.py; the read-only guard is the app's)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.evmon.check_action(action, parameters)

    def action_focus_filter(self) -> None:
        """``/``: a priority binding that moves the focus at once (``focus_now``), so that
        keys read in the same batch (fast typing, SSH) are typed into the filter instead of
        running as commands. Elsewhere (modals, the lag screen, any text field) ``/`` is
        left to the focused widget."""
        if self.app.screen is not self or isinstance(self.focused, Input | TextArea):
            raise SkipAction()
        focus_now(self.filter_bar.input)

    def action_leave_filter(self) -> None:
        focus_now(self.event_list)

    def action_focus_events(self) -> None:
        self.event_list.focus()

    def action_focus_tree(self) -> None:
        self.remove_class("-tree-off")
        if self.has_class("-narrow"):
            self.add_class("-tree-on")
        self.subject_tree.focus()

    def action_toggle_detail(self) -> None:
        self._detail_open = not self._detail_open
        self.set_class(self._detail_open, "-detail")
        if not self._detail_open:
            if not self.event_list.has_focus:
                self.event_list.focus()
            return
        self.pin()  # the detail keeps this event while new ones arrive
        seq = self.event_list.cursor_seq
        self.detail.show(seq, None if seq is None else self.store.get(seq))
        if self.has_class("-narrow"):
            self.detail.focus()

    def action_mark(self) -> None:
        self.pin()
        if self.event_list.toggle_mark() is not None:
            self._update_status()

    def action_clear_marks(self) -> None:
        self.event_list.clear_marks()
        self._update_status()

    def action_toggle_pause(self) -> None:
        events = self.event_list
        events.follow = not events.follow

    def action_resume(self) -> None:
        self.event_list.resume()

    def action_clear_filter(self) -> None:
        self.filter_bar.set_text("")

    def action_toggle_tree(self) -> None:
        if self.subject_tree.display:
            self.remove_class("-tree-on")
            self.add_class("-tree-off")
        else:
            self.remove_class("-tree-off")
            self.add_class("-tree-on")

    def action_toggle_hint(self) -> None:
        """``h``: hide or show the first-run hint (``evmon demo`` only)."""
        if self.hint is not None:
            self.hint.display = not self.hint.display

    def action_full_payload(self) -> None:
        ev = self.highlighted_event()
        if ev is None:
            self.app.notify("No event highlighted.", severity="warning")
            return
        self.app.push_screen(PayloadScreen(ev))

    def action_interest(self) -> None:
        """``i``: the interest screen, installed once (tests install their own first)."""
        app = self.app
        if not app.is_screen_installed("interest"):
            app.install_screen(InterestScreen(interval=self.options.lag_interval), "interest")
        if app.get_screen("interest") not in app.screen_stack:
            app.push_screen("interest")

    def action_lag(self) -> None:
        """``l``: the lag screen, installed once so its windows of samples outlive a visit
        (tests install their own ``LagScreen(interval=...)`` under ``"lag"`` first)."""
        app, options = self.app, self.options
        if not app.is_screen_installed("lag"):
            app.install_screen(
                LagScreen(interval=options.lag_interval, window=options.lag_window), "lag"
            )
        if app.get_screen("lag") not in app.screen_stack:
            app.push_screen("lag")
