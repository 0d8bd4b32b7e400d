"""The dashboard's operator actions (``r`` re-publish, ``s`` skip, ``x`` export) and the
read-only guard that greys them out.

Why a module of its own: these are the only dashboard actions that write to a broker or
copy data out, so what they act on, how they run (as workers waiting on modals) and when
they are refused (``GUARDED_ACTIONS``, ``check_action``, ``disabled_reason``) are read
together here rather than among the layout and timer code of the dashboard.

``ReadOnlyGuard`` is a mixin of ``EvmonApp`` (the guard holds for every screen, the palette
and the help); ``OperatorActions`` is a mixin of ``DashboardScreen`` (the keys and the events
they act on), which reaches the app through ``evmon``.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, cast

from evmon.actions import Action, ActionContext
from evmon.config import KafkaSettings, NatsSettings
from evmon.tui.screens.export import run_export
from evmon.tui.screens.republish import run_republish
from evmon.tui.screens.skip import run_skip
from evmon.tui.targets import ActionTargets

if TYPE_CHECKING:
    from evmon.tui.app import EvmonApp

__all__ = ["OperatorActions", "ReadOnlyGuard"]

#: Actions that write to a broker or copy data out, by their ``evmon.actions`` name: in
#: read-only mode ``check_action`` greys them out (footer, palette) with the reason.
GUARDED_ACTIONS: dict[str, Action] = {
    "republish": "replay",
    "skip": "skip",
    "export": "export",
}


def _host(mixin: ReadOnlyGuard) -> EvmonApp:
    """The app this mixin is part of."""
    return cast("EvmonApp", mixin)


class ReadOnlyGuard:
    """The read-only guard and the connection settings of the actions (mixed into
    ``EvmonApp``)."""

    GUARDED_ACTIONS: ClassVar[dict[str, Action]] = GUARDED_ACTIONS

    def action_context(self) -> ActionContext:
        """What ``evmon.actions`` needs to re-publish, skip or export from the dashboard."""
        app = _host(self)
        nats = next((s.settings for s in app.specs if isinstance(s.settings, NatsSettings)), None)
        kafka = next((s.settings for s in app.specs if isinstance(s.settings, KafkaSettings)), None)
        return ActionContext(
            nats=nats, kafka=kafka, read_only=app.read_only, nats_monitor=app.nats_monitor
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_hint":
            return _host(self).dashboard.hint is not None
        guarded = self.GUARDED_ACTIONS.get(action)
        if guarded is not None and self.action_context().disabled_reason(guarded):
            return None  # shown greyed out: read-only mode
        return True

    def disabled_reason(self, action: str) -> str | None:
        """Why a dashboard action is unavailable (read-only mode), for the palette and help."""
        guarded = self.GUARDED_ACTIONS.get(action)
        return None if guarded is None else self.action_context().disabled_reason(guarded)

    def key_r(self) -> None:
        self._refuse("republish")

    def key_s(self) -> None:
        self._refuse("skip")

    def _refuse(self, action: str) -> None:
        """A greyed-out key is not silent: its binding did not run, so say why."""
        app = _host(self)
        reason = self.disabled_reason(action)
        if reason is not None and app.screen is app.main_screen:
            app.notify(reason, title="Not available", severity="warning")


class OperatorActions(ActionTargets):
    """Re-publish, skip and export (mixed into ``DashboardScreen``)."""

    @property
    def evmon(self) -> EvmonApp:
        raise NotImplementedError  # DashboardScreen has it

    def action_republish(self) -> None:
        """``r``: the re-publish modal on the marked (or highlighted) events."""
        app = self.evmon
        self.pin()
        events = self.marked_events()
        if not events:
            app.notify("No event highlighted.", severity="warning")
            return
        self._run_action(run_republish(app, app.action_context(), events), "re-publish")

    def action_skip(self) -> None:
        """``s``: move a Kafka group or JetStream consumer past the highlighted message."""
        app = self.evmon
        self.pin()
        ev = self.highlighted_event()
        if ev is None:
            app.notify("No event highlighted.", severity="warning")
            return
        self._run_action(run_skip(app, app.action_context(), ev, app.groups), "skip")

    def action_export(self) -> None:
        """``x``: export the marked events, or every event matching the filter."""
        app = self.evmon
        self.pin()
        if self.event_list.marks:
            events, what = self.marked_events(), "marked"
        else:
            events = self.filtered_events()
            what = "all retained" if self.index.filter is None else "matching the filter"
        self._run_action(run_export(app, app.action_context(), events, what), "export")

    def _run_action(self, flow: Coroutine[Any, Any, None], name: str) -> None:
        """Modal flows wait on screens, so they run as workers; a bug is notified
        (``_worker_failed``), it never takes the dashboard down."""
        self.evmon.run_worker(flow, name=name, group="actions", exit_on_error=False)
