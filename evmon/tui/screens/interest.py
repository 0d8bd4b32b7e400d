"""The interest screen (``i``): who listens on core NATS, per subject, refreshed in place.

Each refresh is one window of the headless ``watch_interest`` (``evmon.sources.nats.interest``,
the one ``evmon interest`` runs): the dashboard's subjects are watched for ``interval``
seconds on a connection of the screen's own, and the server's subscription table is read at
both ends of the window from the monitoring endpoint (``--nats-monitor``) or, without one,
the system account (``--nats-system-*``, a second connection): the command's sources, in
the command's order, and its one-line message when there is neither. Rows whose
messages nobody received (``no-subscriber``, and a ``near-miss`` with traffic) are
highlighted; below the table, how each queue group split the window's messages and which
clients are slow. Like the lag screen, a worker posts ``InterestRoundDone`` after each round
and the next is scheduled with ``set_timer``; none runs while the screen is hidden. After
each round the subject tree marks the subjects that had traffic and no listener.

``InterestScreen(live=False)`` takes its rows from ``observe(report)`` (screenshots, tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from evmon.codec import safe_text
from evmon.errors import ConnectError, EvmonError
from evmon.interest import InterestReport, InterestRow, needs_table
from evmon.tui.messages import InterestRoundDone

__all__ = ["InterestScreen"]

COLUMNS = ("SUBJECT", "MSGS", "SUBSCRIBERS", "QUEUES", "ISSUE", "LISTENERS")
NEEDS_SOURCE = needs_table("The interest screen")


def _cells(row: InterestRow) -> list[Text]:
    queues = ", ".join(f"{q}({n})" for q, n in sorted(row.queues.items())) or "-"
    issue: str = row.issue or "-"
    if row.near:
        issue += f" ({', '.join(row.near)})"
    style = "bold red" if row.dropped else ("yellow" if row.issue else "")
    values = [
        row.subject,
        str(row.msgs),
        str(row.subscribers),
        queues,
        issue,
        ", ".join(row.clients) or "-",
    ]
    return [
        Text(safe_text(v), style=style, justify="right" if i in (1, 2) else "left")
        for i, v in enumerate(values)
    ]


class InterestScreen(Screen[None]):
    """Who listens, per subject (see the module doc)."""

    DEFAULT_CSS = """
    InterestScreen { background: $surface; }
    InterestScreen #interest-note { padding: 0 1; color: $warning; }
    InterestScreen DataTable { height: 1fr; }
    InterestScreen #interest-notes { height: auto; max-height: 12; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,i", "close", "Back"),
        Binding("slash,space,p,r,x,t,s", "live_only", show=False),
    ]

    def __init__(self, *, interval: float = 5.0, live: bool = True) -> None:
        super().__init__()
        self.interval = interval
        self.live = live
        self.refreshes = 0
        self.report: InterestReport | None = None
        self.error: str | None = None
        self.table: DataTable[Text] = DataTable(id="interest-table", cursor_type="row")
        self._timer: Timer | None = None
        self._polling = False
        self._nc: Any = None
        self._sys_nc: Any = None

    def compose(self) -> ComposeResult:
        yield Static("", id="interest-note")
        yield self.table
        yield Static("", id="interest-notes")
        yield Footer()

    def on_mount(self) -> None:
        self.table.add_columns(*COLUMNS)
        self.table.border_title = "Who listens (core NATS)"
        self._note("" if self._can_poll() or not self.live else self._why_not())
        self.table.focus()

    def _settings(self) -> Any:
        action_context = getattr(self.app, "action_context", None)
        return action_context() if action_context is not None else None

    def _why_not(self) -> str:
        ctx = self._settings()
        if ctx is None or ctx.nats is None:
            return "No NATS connection (--nats): nothing to ask."
        return NEEDS_SOURCE

    def _can_poll(self) -> bool:
        ctx = self._settings()
        return bool(
            ctx is not None
            and ctx.nats is not None
            and (self._monitor(ctx) or self._system() is not None)
        )

    def _system(self) -> Any:
        """The system account's settings (``DashboardOptions.nats_system``), or None."""
        return getattr(getattr(self.app, "options", None), "nats_system", None)

    @staticmethod
    def _monitor(ctx: Any) -> str | None:
        return ctx.nats_monitor or (ctx.nats.monitor if ctx.nats is not None else None)

    def _note(self, text: str) -> None:
        note = self.query_one("#interest-note", Static)
        note.update(Text(text))
        note.display = bool(text)

    # ----------------------------------------------------------------- polling

    def on_screen_resume(self) -> None:
        self._stop_timer()
        if self.live and self._can_poll() and not self._polling:
            self.poll()

    def on_screen_suspend(self) -> None:
        self._stop_timer()

    async def on_unmount(self) -> None:
        self._stop_timer()
        for nc in (self._nc, self._sys_nc):
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _poll_due(self) -> None:
        self._timer = None
        if not self._polling and self.is_active:
            self.poll()

    @work(group="interest-poll", exit_on_error=False)
    async def poll(self) -> None:
        """One window; then the next is scheduled (never two at once)."""
        from evmon.sources.nats.connect import connect_nats
        from evmon.sources.nats.interest import (
            InterestUnknown,
            MonitorTable,
            SystemTable,
            TableSource,
            account_of,
            watch_interest,
        )

        self._polling = True
        ctx = self._settings()
        try:
            if self._nc is None:
                self._nc = await connect_nats(ctx.nats)
            options = getattr(self.app, "options", None)
            patterns = list(getattr(options, "subjects", None) or []) or [">"]
            source: TableSource
            monitor = self._monitor(ctx)
            if monitor:  # the monitoring endpoint first, as `evmon interest` does
                source = MonitorTable(monitor)
            else:
                if self._sys_nc is None:
                    try:
                        self._sys_nc = await connect_nats(self._system())
                    except ConnectError as err:
                        raise ConnectError(f"system account: {err}") from None
                source = SystemTable(self._sys_nc)
            account = await account_of(self._nc)
            report = await watch_interest(
                self._nc, patterns, self.interval, source, account=account
            )
            self.error = None
            self.observe(report)
        except (InterestUnknown, EvmonError, OSError) as err:
            self.error = safe_text(str(err))
            self._note(f"query failed, rows kept from the last good one: {self.error}")
            self.refreshes += 1
            self.post_message(InterestRoundDone(self.refreshes, None))
        finally:
            self._polling = False
            if self.is_active:
                self._timer = self.set_timer(max(self.interval / 5, 0.01), self._poll_due)

    # ----------------------------------------------------------------- drawing

    def observe(self, report: InterestReport) -> None:
        """Draw one round's report (from the worker, or scripted with ``live=False``)."""
        self.report = report
        self.refreshes += 1
        self._draw(report)
        unheard = {r.subject for r in report.rows if r.dropped}
        dashboard = getattr(self.app, "dashboard", None)
        tree = getattr(dashboard, "subject_tree", None)
        if tree is not None:
            tree.mark_unheard(unheard)
        if self.error is None:
            self._note("")
        self.post_message(InterestRoundDone(self.refreshes, report))

    def _draw(self, report: InterestReport) -> None:
        table = self.table
        cursor = table.cursor_row
        with self.app.batch_update():
            table.clear()
            for row in report.rows:
                table.add_row(*_cells(row), key=row.subject)
            if report.rows:
                table.move_cursor(row=min(cursor, len(report.rows) - 1))
            dropped = sum(1 for r in report.rows if r.dropped)
            table.border_subtitle = (
                f"{len(report.rows)} subjects · {dropped} with nobody listening · "
                f"window {self.interval:g} s · {report.servers} server(s)"
            )
            self.query_one("#interest-notes", Static).update(self._notes_text(report))

    @staticmethod
    def _notes_text(report: InterestReport) -> Text:
        lines: list[tuple[str, str]] = []
        for split in report.queues:
            lines.append((f"queue group {split.describe()}", "yellow" if split.verdict else ""))
        for slow in report.slow:
            lines.append((f"slow client {slow.describe()}", "bold red"))
        text = Text()
        for i, (line, style) in enumerate(lines):
            text.append(("\n" if i else "") + safe_text(line), style=style)
        return text

    # ----------------------------------------------------------------- keys

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_live_only(self) -> None:
        self.notify("That key works in the live view: escape goes back to it.", timeout=3)

    @property
    def rows(self) -> Sequence[InterestRow]:
        return self.report.rows if self.report is not None else ()
