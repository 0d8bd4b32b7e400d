"""``EvmonApp``: the dashboard of ``evmon connect``.

Data flow: sources (opened in workers, one per ``SourceSpec``) append to the bounded
``EventStore``; a timer (``TICK``, 15 Hz) polls the store through the ``EventIndex`` (only new
events are filtered) and tells the ``EventList`` what changed; the subject tree and the
status bar are refreshed from the store's counters at a lower rate. No message is ever
posted per event.

Adding to the dashboard:

- a key: a ``Binding`` in ``EvmonApp.BINDINGS`` and an ``action_*`` method. It appears in
  the footer (``show=True``), the help screen and the command palette by itself.
- an action without a key: an entry in ``EXTRA_COMMANDS`` (palette only).
- a modal or screen: a ``ModalScreen[T]`` subclass in ``screens/``; an action pushes it
  with ``self.push_screen(Screen(...), callback)`` (or ``await self.push_screen_wait`` in a
  ``@work`` method). See ``screens/payload.py``.
- what the actions work on: ``highlighted_event()``, ``marked_events()`` (falls back to the
  highlighted one) and ``filtered_events()`` (``targets.py``), taken when the key is pressed,
  after ``pin()`` stopped the list following; ``action_context()`` gives
  ``evmon.actions`` its connection settings and the read-only flag, and ``check_action``
  greys out the actions named in ``GUARDED_ACTIONS`` in read-only mode (both in
  ``operator.py``, with the ``r``/``s``/``x`` actions).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual import events, on, work
from textual.actions import SkipAction
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from evmon.codec import safe_text
from evmon.errors import ConnectError, EvmonError
from evmon.event_index import EventIndex, Refilter
from evmon.heap import HeapKeeper
from evmon.lag import DEFAULT_REFRESH, DEFAULT_WINDOW
from evmon.model import Event
from evmon.sources import Source
from evmon.store import EventStore
from evmon.tui import format as fmt
from evmon.tui.commands import EvmonCommands, help_sections, palette_commands
from evmon.tui.connections import SourceSpec, StatusBoard
from evmon.tui.messages import (
    EventHighlighted,
    FilterChanged,
    FollowChanged,
    SubjectChosen,
)
from evmon.tui.operator import OperatorActions
from evmon.tui.screens.help import HelpScreen, HelpSection
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

__all__ = ["EvmonApp"]

#: The UI timer: how often new events are taken from the store.
TICK = 1 / 15
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
#: A source whose broker refuses us (auth, TLS) is tried again after this long.
RETRY_AFTER = 5.0
CLOSE_TIMEOUT = 5.0
#: Below this width the footer is compact (the ``-narrow`` breakpoint).
NARROW = 100


class EvmonApp(OperatorActions, App[int]):
    """The live dashboard over one ``EventStore`` fed by the given sources."""

    CSS_PATH = "app.tcss"
    TITLE = "evmon"
    COMMANDS = App.COMMANDS | {EvmonCommands}
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (100, "-normal"),
        (160, "-wide"),
    ]

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
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    #: Palette-only commands: (name, help, action).
    EXTRA_COMMANDS: ClassVar[list[tuple[str, str, str]]] = [
        ("Resume following the newest events", "Jump to the newest event (end)", "resume"),
        ("Clear the filter", "Show every retained event", "clear_filter"),
        ("Clear marks", "Unmark every marked event", "clear_marks"),
        ("Focus the event list", "Move the keyboard focus to the events", "focus_events"),
        ("Focus the subject tree", "Move the keyboard focus to the subjects", "focus_tree"),
    ]

    def __init__(
        self,
        store: EventStore,
        sources: Sequence[SourceSpec] = (),
        *,
        initial_filter: str = "",
        read_only: bool = False,
        groups: Sequence[str] = (),
        streams: Sequence[str] = (),
        first_run_hint: bool = False,
        lag_interval: float = DEFAULT_REFRESH,
        lag_window: int = DEFAULT_WINDOW,
        blink: bool = True,
        nats_monitor: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        #: ``--nats-monitor``: where a re-publish asks who subscribes to a core target.
        self.nats_monitor = nats_monitor
        self.specs = list(sources)
        self.read_only = read_only
        #: Kafka groups and JetStream streams of interest (for the lag screen).
        self.groups = list(groups)
        self.streams = list(streams)
        self.first_run_hint = first_run_hint
        #: The lag screen's refresh interval (seconds) and window of samples (issue 4).
        self.lag_interval = lag_interval
        self.lag_window = lag_window
        self.connections = StatusBoard(self.specs)
        self.index = EventIndex(store)
        self.initial_filter = initial_filter
        self._sources: dict[int, Source] = {}
        self._ticks = 0
        self._generation = 0
        self._filtering = False
        self._stopping = False
        self._timer: Timer | None = None
        self.heap = HeapKeeper()
        self._detail_open = False
        self._status_version = -1
        self._has_positions = False
        self._has_keys = False
        self._subject_seen = 0
        self._position_seen = 0
        # The widgets are made here, not looked up: the timer may fire while they unmount.
        self.filter_bar = FilterBar(initial_filter, blink=blink, id="filter-bar")
        self.subject_tree = SubjectTree(id="tree")
        self.subject_tree.border_title = "Subjects"
        self.event_list = EventList(self.index, id="events")
        self.event_list.border_title = "Events"
        self.detail = DetailPane(id="detail")
        self.detail.border_title = "Event"
        self.status_bar = StatusBar(id="status")
        self.footer = KeyFooter()
        self.hint = HintPanel(id="hint") if first_run_hint else None

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

    def on_resize(self, event: events.Resize) -> None:
        """Under ``NARROW`` columns the footer goes compact and drops the palette hint, so
        every key up to ``q Quit`` fits in 80 columns (ctrl+p still works; help lists it)."""
        narrow = event.size.width < NARROW
        footer = self.footer
        if footer.compact != narrow:
            footer.compact = narrow
            footer.show_command_palette = not narrow
            footer.refresh(recompose=True)

    @property
    def main_screen(self) -> Screen[object]:
        """The dashboard itself (``self.screen`` may be a modal or the palette)."""
        return self.screen_stack[0]

    def on_mount(self) -> None:
        self.event_list.focus()
        self.sync()
        self._timer = self.set_interval(TICK, self._tick)
        self.heap.start()
        for i, spec in enumerate(self.specs):
            self.open_source(i, spec)

    # ----------------------------------------------------------------- sources

    @work(group="sources", exit_on_error=False)
    async def open_source(self, index: int, spec: SourceSpec) -> None:
        """Open one source, retrying until its broker answers; never blocks the UI."""
        board = self.connections
        while not self._stopping:
            try:
                source = spec.factory(self.store, board.callback(index))
            except EvmonError as err:
                board.record(index, "failed", str(err))
                return
            self._sources[index] = source
            try:
                await source.start(wait=None)
                return  # running: the source's own tasks feed the store from now on
            except ConnectError as err:
                board.record(index, "failed", f"{err}; retrying")
            except EvmonError as err:
                board.record(index, "failed", str(err))
                await self._close_source(index)
                return
            except Exception as err:  # a client bug must not take the dashboard down
                board.record(index, "failed", f"{type(err).__name__}: {err}")
                await self._close_source(index)
                return
            await self._close_source(index)
            await asyncio.sleep(RETRY_AFTER)

    async def _close_source(self, index: int) -> None:
        source = self._sources.pop(index, None)
        if source is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(source.close(), CLOSE_TIMEOUT)

    async def close_sources(self) -> None:
        """Stop connecting and close every source (drains the clients)."""
        self._stopping = True
        if self._timer is not None:
            self._timer.stop()
        self.workers.cancel_group(self, "sources")
        await asyncio.gather(*(self._close_source(i) for i in list(self._sources)))

    async def action_quit(self) -> None:
        await self.close_sources()
        self.exit(0)

    # ----------------------------------------------------------------- the timer

    async def on_unmount(self) -> None:
        self.heap.stop()
        if self._sources:  # exits other than `q` (a test's run_test, an error): close too
            await self.close_sources()

    def _tick(self) -> None:
        self._ticks += 1
        self.heap.tick()
        before = self.index.next_seq
        change = self.index.poll()
        if change.added:
            self._notice_columns(before)
        if change:
            self.event_list.rows_changed(change)
            self._update_counts()
        if self._ticks % STATUS_EVERY == 0 or self.connections.version != self._status_version:
            self._update_status()
        if self._ticks % TREE_EVERY == 0:
            self._update_tree()

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

    def _update_tree(self) -> None:
        self.subject_tree.update_counts(self.store.activity())

    def _notice_columns(self, since: int) -> None:
        """Show the position and key columns once events have them (core NATS alone never
        does), and widen the subject and position columns to the widest values seen; only
        the newest events of a poll are looked at, and the columns never shrink back."""
        recent, _ = self.store.since(max(since, self.store.total - 2_000))
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
                read_only=self.read_only,
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
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Workers run with exit_on_error=False: a failure is shown, never silent."""
        worker = event.worker
        if worker.state is not WorkerState.ERROR:
            return
        if worker.group == "refilter":
            self._filtering = False
            self._update_counts()
        error = worker.error
        self.notify(
            safe_text(f"{type(error).__name__}: {error}"),
            title=f"{worker.name} failed",
            severity="error",
            markup=False,  # the error may quote broker data
        )

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
            if generation != self._generation:
                return  # typed on: a newer filter is on its way
            job.step(SLICE)
        if generation == self._generation:
            self._filtering = False
            if self.index.filter is not job.filter:
                self._install(job)
            self._update_counts()

    @on(SubjectChosen)
    def _subject_chosen(self, message: SubjectChosen) -> None:
        self.filter_bar.set_text(message.expr)

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
    # (r, s, x and the read-only guard: ``OperatorActions`` in operator.py)

    def action_focus_filter(self) -> None:
        """``/``: a priority binding that moves the focus at once (``focus_now``), so that
        keys read in the same batch (fast typing, SSH) are typed into the filter instead of
        running as commands. Elsewhere (modals, the lag screen, any text field) ``/`` is
        left to the focused widget."""
        if self.screen is not self.main_screen or isinstance(self.focused, Input | TextArea):
            raise SkipAction()
        focus_now(self.filter_bar.input)

    def action_leave_filter(self) -> None:
        focus_now(self.event_list)

    def action_focus_events(self) -> None:
        self.event_list.focus()

    def action_focus_tree(self) -> None:
        self.main_screen.remove_class("-tree-off")
        if self.main_screen.has_class("-narrow"):
            self.main_screen.add_class("-tree-on")
        self.subject_tree.focus()

    def action_toggle_detail(self) -> None:
        screen = self.main_screen
        self._detail_open = not self._detail_open
        screen.set_class(self._detail_open, "-detail")
        if not self._detail_open:
            if not self.event_list.has_focus:
                self.event_list.focus()
            return
        self.pin()  # the detail keeps this event while new ones arrive
        seq = self.event_list.cursor_seq
        self.detail.show(seq, None if seq is None else self.store.get(seq))
        if screen.has_class("-narrow"):
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
        screen = self.main_screen
        if self.subject_tree.display:
            screen.remove_class("-tree-on")
            screen.add_class("-tree-off")
        else:
            screen.remove_class("-tree-off")
            screen.add_class("-tree-on")

    def action_toggle_hint(self) -> None:
        """``h``: hide or show the first-run hint (``evmon demo`` only)."""
        if self.hint is not None:
            self.hint.display = not self.hint.display

    def action_full_payload(self) -> None:
        ev = self.highlighted_event()
        if ev is None:
            self.notify("No event highlighted.", severity="warning")
            return
        self.push_screen(PayloadScreen(ev))

    def action_lag(self) -> None:
        """``l``: the lag screen, installed once so its windows of samples outlive a visit
        (tests install their own ``LagScreen(interval=...)`` under ``"lag"`` first)."""
        if not self.is_screen_installed("lag"):
            self.install_screen(
                LagScreen(interval=self.lag_interval, window=self.lag_window), "lag"
            )
        if self.get_screen("lag") not in self.screen_stack:
            self.push_screen("lag")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    # ----------------------------------------------------------------- help and palette

    def help_sections(self) -> list[HelpSection]:
        """Every binding, grouped by where it works (built from the BINDINGS lists)."""
        return help_sections(self)

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(name, help, action) of every command in the palette."""
        return palette_commands(self)
