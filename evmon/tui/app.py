"""``EvmonApp``: the dashboard of ``evmon connect``.

The app owns what outlives a screen: the ``EventStore`` and the sources that feed it
(opened in workers, one per ``SourceSpec``, retried while a broker refuses us), the
connection statuses (``StatusBoard``), the read-only guard (``ReadOnlyGuard``,
``operator.py``), the command palette and help, and quitting. What is on screen (the layout,
the 15 Hz timer, the re-filter, the pane toggles and the operator keys) is the default
screen, ``DashboardScreen`` (``screens/dashboard.py``); its widgets and helpers are also
reached from here (``app.event_list``, ``app.feed(...)``) for tests, scripts and benches.

Adding to the app (a key or action of the live view: see ``screens/dashboard.py``):

- a modal or screen: a ``ModalScreen[T]`` subclass in ``screens/`` (a form: ``FormModal``,
  ``screens/form.py``); an action pushes it with ``self.app.push_screen(Screen(...),
  callback)`` (or ``await self.app.push_screen_wait`` in a worker). See
  ``screens/payload.py``.
- workers post typed messages (``messages.py``: ``SourceOpened``, ``SourceFailed``,
  ``RefilterDone``, ``LagRoundDone``); one ``Worker.StateChanged`` handler notifies failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from textual import events, on, work
from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.driver import Driver
from textual.screen import Screen
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from evmon.codec import safe_text
from evmon.errors import ConnectError, EvmonError
from evmon.event_index import EventIndex
from evmon.heap import HeapKeeper
from evmon.model import Event
from evmon.sources import Source
from evmon.store import EventStore
from evmon.tui.commands import EvmonCommands, help_sections, palette_commands
from evmon.tui.connections import SourceSpec, StatusBoard
from evmon.tui.driver import quick_exit_driver
from evmon.tui.messages import SourceFailed, SourceOpened, SubjectChosen
from evmon.tui.operator import ReadOnlyGuard
from evmon.tui.options import DashboardOptions
from evmon.tui.screens.dashboard import DashboardScreen
from evmon.tui.screens.help import HelpScreen, HelpSection
from evmon.tui.widgets.detail import DetailPane
from evmon.tui.widgets.event_list import EventList
from evmon.tui.widgets.filter_bar import FilterBar
from evmon.tui.widgets.footer import KeyFooter
from evmon.tui.widgets.hint import HintPanel
from evmon.tui.widgets.status_bar import StatusBar
from evmon.tui.widgets.subject_tree import SubjectTree

__all__ = ["EvmonApp"]

#: A source whose broker refuses us (auth, TLS) is tried again after this long.
RETRY_AFTER = 5.0
CLOSE_TIMEOUT = 5.0
#: Seconds ``q`` gives the sources to close, all at once, before the dashboard leaves: the
#: dashboard reads without groups, acks or commits, so there is nothing to lose, and a
#: broker that went away (or a fetch long-poll) must not keep the operator waiting.
QUIT_CLOSE_WAIT = 0.2


#: Refreshes after a key before the dashboard's background work resumes (``_echo_painted``).
ECHO_HOPS = 2


class EvmonApp(ReadOnlyGuard, App[int]):
    """The live dashboard over one ``EventStore`` fed by the given sources.

    ``options`` (default ``DashboardOptions()``) with ``changes`` applied: ``EvmonApp(store,
    specs, blink=False)`` is ``EvmonApp(store, specs, DashboardOptions(blink=False))``.
    """

    CSS_PATH = "app.tcss"
    TITLE = "evmon"
    COMMANDS = App.COMMANDS | {EvmonCommands}
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (100, "-normal"),
        (160, "-wide"),
    ]

    #: Keys of every screen; the dashboard's own are ``DashboardScreen.BINDINGS``.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
        # Priority: handled as the app reads the key, not after it went down to the focused
        # widget and bubbled back up (a loop turn per hop, each one a source's batch while
        # a backlog is read); typed into a text field as before (``action_quit``).
        Binding("q", "quit", "Quit", priority=True),
    ]

    #: Palette-only commands (run on the dashboard): (name, help, action).
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
        options: DashboardOptions | None = None,
        **changes: Any,
    ) -> None:
        super().__init__()
        options = dataclasses.replace(options or DashboardOptions(), **changes)
        self.options = options
        self.store = store
        #: ``--nats-monitor``: where a re-publish asks who subscribes to a core target.
        self.nats_monitor = options.nats_monitor
        self.specs = list(sources)
        self.read_only = options.read_only
        #: Kafka groups and JetStream streams of interest (for the lag screen).
        self.groups = list(options.groups)
        self.streams = list(options.streams)
        self.connections = StatusBoard(self.specs)
        self.connections.on_notice = self._source_notice
        self._sources: dict[int, Source] = {}
        #: Spec indices whose source has started reading: its subscriptions and consumers
        #: exist. "connected" on the board comes earlier, with the connection alone.
        self.reading: set[int] = set()
        self._stopping = False
        self._dashboard = DashboardScreen(store, self.connections, options)

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, but on Linux one that restores the terminal without waiting
        for its input thread (``driver.py``: ``q`` leaves 0.1-0.2 s sooner)."""
        return quick_exit_driver(super().get_driver_class())

    # ----------------------------------------------------------------- screens

    def get_default_screen(self) -> Screen[Any]:
        return self._dashboard

    @property
    def dashboard(self) -> DashboardScreen:
        """The live view (the default screen, under any modal or the lag screen)."""
        return self._dashboard

    @property
    def main_screen(self) -> DashboardScreen:
        """The dashboard itself (``self.screen`` may be a modal or the palette)."""
        return self._dashboard

    def on_resize(self, event: events.Resize) -> None:
        self._dashboard.fit_footer(event.size.width)

    async def on_event(self, event: events.Event) -> None:
        """A key from the terminal closes the dashboard's ``EchoGate`` until the frame after
        its handling is painted: the tick and a re-filter wait for the echo (echo.py)."""
        if not isinstance(event, events.Key) or event.is_forwarded:
            await super().on_event(event)
            return
        token = self._dashboard.echo.pressed()
        await super().on_event(event)
        target: DOMNode = self.focused or self.screen
        target.call_after_refresh(self._echo_painted, target, token, ECHO_HOPS)

    def _echo_painted(self, target: DOMNode, token: int, hops: int) -> None:
        """After ``hops`` refreshes queued one after the other behind the key on the widget it
        went to. One is not enough: the screen may run the first on going idle before that
        widget has told it of its repaint (it does so on its own idle, after the queued
        callback); the second is queued after that, so it runs after the frame."""
        if hops > 1:
            target.call_after_refresh(self._echo_painted, target, token, hops - 1)
        else:
            self._dashboard.echo.painted(token)

    @on(SubjectChosen)
    def _subject_chosen(self, message: SubjectChosen) -> None:
        """From the subject tree or the lag screen: the dashboard's filter shows it."""
        self._dashboard.filter_bar.set_text(message.expr)

    def on_mount(self) -> None:
        self.app_resume_signal.subscribe(self, self._repaint_after_resume)
        for i, spec in enumerate(self.specs):
            self.open_source(i, spec)

    def _repaint_after_resume(self, _app: object) -> None:
        """Paint the whole screen again after a suspend (ctrl+z, then ``fg``).

        The driver re-enters the alternate screen, which the terminal shows blank, and sends
        the terminal's size; Textual ignores a size that did not change, so only widgets that
        changed since were painted (a scrollbar, a status line) on an empty screen."""
        self.screen.refresh(repaint=True, layout=True)

    # ----------------------------------------------------------------- sources

    @property
    def sources(self) -> Mapping[int, Source]:
        """The sources opened so far, by spec index (read-only view)."""
        return dict(self._sources)

    @work(group="sources", exit_on_error=False)
    async def open_source(self, index: int, spec: SourceSpec) -> None:
        """Open one source, retrying until its broker answers; never blocks the UI."""
        board = self.connections

        def failed(reason: str, retrying: bool = False) -> None:
            board.record(index, "failed", f"{reason}; retrying" if retrying else reason)
            self.post_message(SourceFailed(index, spec.name, reason, retrying))

        while not self._stopping:
            try:
                source = spec.factory(self.store, board.callback(index))
            except EvmonError as err:
                failed(str(err))
                return
            self._sources[index] = source
            try:
                await source.start(wait=None)
                self.reading.add(index)
                self.post_message(SourceOpened(index, spec.name))
                return  # running: the source's own tasks feed the store from now on
            except ConnectError as err:
                failed(str(err), retrying=True)
            except EvmonError as err:
                failed(str(err))
                await self._close_source(index)
                return
            except Exception as err:  # a client bug must not take the dashboard down
                failed(f"{type(err).__name__}: {err}")
                await self._close_source(index)
                return
            await self._close_source(index)
            await asyncio.sleep(RETRY_AFTER)

    def _source_notice(self, text: str) -> None:
        """A source's one-time remark (a wildcard subscription that is interest for
        requests), as a toast; the source says it once."""
        self.notify(safe_text(text), title="evmon", severity="warning", timeout=20, markup=False)

    async def _close_source(self, index: int) -> None:
        self.reading.discard(index)
        source = self._sources.pop(index, None)
        if source is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(source.close(), CLOSE_TIMEOUT)

    async def close_sources(self, wait: float = CLOSE_TIMEOUT) -> None:
        """Stop connecting and close every source at once (drains the clients), waiting at
        most ``wait`` seconds: a close still running then is cancelled."""
        self._stopping = True
        self._dashboard.stop()
        self.workers.cancel_group(self, "sources")
        tasks = [asyncio.ensure_future(self._close_source(i)) for i in list(self._sources)]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=wait)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=wait)

    async def action_quit(self) -> None:
        if isinstance(self.focused, Input | TextArea):
            raise SkipAction()  # a "q" typed into the filter or a form
        # The screen is about to go: no frame is painted while the sources close (a busy
        # event list's paint takes tens of ms, which the exit would wait for), and no
        # collector pass walks every retained event (20-110 ms while a backlog is read):
        # what lives now is frozen; the dashboard's HeapKeeper thaws it when it unmounts.
        self.delay_update(CLOSE_TIMEOUT)
        gc.freeze()
        await self.close_sources(QUIT_CLOSE_WAIT)
        self.exit(0)

    async def on_unmount(self) -> None:
        if self._sources:  # exits other than `q` (a test's run_test, an error): close too
            await self.close_sources()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Workers run with exit_on_error=False: a failure is shown, never silent."""
        worker = event.worker
        if worker.state is not WorkerState.ERROR:
            return
        error = worker.error
        self.notify(
            safe_text(f"{type(error).__name__}: {error}"),
            title=f"{worker.name} failed",
            severity="error",
            markup=False,  # the error may quote broker data
        )

    # ----------------------------------------------------------------- help and palette

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    def help_sections(self) -> list[HelpSection]:
        """Every binding, grouped by where it works (built from the BINDINGS lists)."""
        return help_sections(self)

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(name, help, action) of every command in the palette."""
        return palette_commands(self)

    def action_namespace(self, action: str) -> DOMNode:
        """Where a palette command runs: the dashboard's actions on the dashboard."""
        return self._dashboard if hasattr(self._dashboard, f"action_{action}") else self

    # ----------------------------------------------------------------- the dashboard's parts
    # (for tests, scripts and benches; evmon's own code goes through ``dashboard``)

    @property
    def index(self) -> EventIndex:
        return self._dashboard.index

    @property
    def heap(self) -> HeapKeeper:
        return self._dashboard.heap

    @property
    def filter_bar(self) -> FilterBar:
        return self._dashboard.filter_bar

    @property
    def subject_tree(self) -> SubjectTree:
        return self._dashboard.subject_tree

    @property
    def event_list(self) -> EventList:
        return self._dashboard.event_list

    @property
    def detail(self) -> DetailPane:
        return self._dashboard.detail

    @property
    def status_bar(self) -> StatusBar:
        return self._dashboard.status_bar

    @property
    def footer(self) -> KeyFooter:
        return self._dashboard.footer

    @property
    def hint(self) -> HintPanel | None:
        return self._dashboard.hint

    @property
    def detail_visible(self) -> bool:
        return self._dashboard.detail_visible

    def sync(self) -> None:
        self._dashboard.sync()

    def feed(self, events: Iterable[Event]) -> None:
        self._dashboard.feed(events)

    def pin(self) -> None:
        self._dashboard.pin()

    def highlighted_event(self) -> Event | None:
        return self._dashboard.highlighted_event()

    def marked_events(self) -> list[Event]:
        return self._dashboard.marked_events()

    def filtered_events(self) -> list[Event]:
        return self._dashboard.filtered_events()

    def visible_events(self) -> list[Event]:
        return self._dashboard.visible_events()
