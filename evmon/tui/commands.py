"""The command palette (``ctrl+p``) and the help screen's lists, both built from BINDINGS.

The palette lists the dashboard's and the app's ``BINDINGS`` (so every key is also a command,
under the longer name in ``PALETTE_NAMES`` when there is one) plus
``EvmonApp.EXTRA_COMMANDS``, which have no key; a command runs where its action is
(``EvmonApp.action_namespace``). The help screen lists the bindings of the dashboard, the
app and the widgets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

from evmon.tui.screens.help import HelpSection
from evmon.tui.widgets.detail import DetailPane
from evmon.tui.widgets.event_list import EventList
from evmon.tui.widgets.filter_bar import FilterInput

if TYPE_CHECKING:
    from evmon.tui.app import EvmonApp

__all__ = [
    "PALETTE_NAMES",
    "EvmonCommands",
    "dashboard_bindings",
    "help_sections",
    "palette_commands",
]

#: Longer names for the palette than the footer's, by action.
PALETTE_NAMES = {
    "focus_filter": "Filter events",
    "toggle_detail": "Show / hide the event detail",
    "mark": "Mark / unmark the highlighted event",
    "toggle_pause": "Pause / resume the live view",
    "full_payload": "View the full payload",
    "toggle_tree": "Show / hide the subject tree",
    "help": "Help: keys and filter language",
    "republish": "Re-publish the marked (or highlighted) events",
    "skip": "Skip the highlighted message (Kafka group / JetStream consumer)",
    "export": "Export the marked (or all filtered) events to JSONL",
    "quit": "Quit",
}


def key_label(app: App[Any], key: str) -> str:
    """``enter``, ``ctrl+p``, ``/``, ``?``, ``↑``: how help and the palette name a key."""
    if key in ("enter", "escape", "space", "tab") or "+" in key:
        return key
    return app.get_key_display(Binding(key, ""))


def binding_rows(app: App[Any], bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, description) per action, keys of the same action merged (``end G``)."""
    merged: dict[tuple[str, str], list[str]] = {}
    for b in Binding.make_bindings(bindings):  # one Binding per key: merge them back
        keys = merged.setdefault((b.action, b.description or b.action), [])
        keys += [key_label(app, k) for k in b.key.split(",")]
    return [(" ".join(keys), desc) for (_, desc), keys in merged.items()]


def _noted(app: EvmonApp, bindings: Iterable[BindingType]) -> list[Binding]:
    """The bindings, those disabled right now (read-only mode) described as such."""
    out = []
    for b in Binding.make_bindings(bindings):
        if app.disabled_reason(b.action) is not None:
            b = replace(b, description=f"{b.description} (read-only: disabled)")
        out.append(b)
    return out


def dashboard_bindings(app: EvmonApp) -> list[BindingType]:
    """The live view's keys, then those of every screen (help, quit), as the footer has them."""
    return [*app.dashboard.BINDINGS, *app.BINDINGS]


def help_sections(app: EvmonApp) -> list[HelpSection]:
    dashboard = binding_rows(app, _noted(app, dashboard_bindings(app)))
    dashboard.append(("ctrl+p", "Command palette: every action by name"))
    dashboard.append(("tab shift+tab", "Move the focus: filter, subject tree, events, detail"))
    tree = [
        ("shift+tab", "Reach it from the event list (under 100 columns: t shows it first)"),
        ("enter", "Filter to the subject"),
        ("space", "Expand / collapse"),
    ]
    detail = [
        *binding_rows(app, DetailPane.BINDINGS),
        ("enter", "Close the detail (from the event list or the detail)"),
        ("f", "The full payload"),
    ]
    return [
        ("Dashboard", dashboard),
        ("Event list", binding_rows(app, EventList.BINDINGS)),
        ("Subject tree", tree),
        ("Event detail (enter)", detail),
        ("Filter bar", binding_rows(app, FilterInput.BINDINGS)),
        ("Full payload view", [("arrows pgup pgdn", "Scroll"), ("escape f q", "Close")]),
    ]


def palette_commands(app: EvmonApp) -> list[tuple[str, str, str]]:
    """(name, help, action) of every dashboard and app binding and every extra command."""
    commands: dict[str, tuple[str, str, str]] = {}
    for b in Binding.make_bindings(dashboard_bindings(app)):
        if b.action not in commands:  # the first key of a binding names it
            description = b.description or b.action
            name = PALETTE_NAMES.get(b.action, description)
            help_text = f"{description} ({key_label(app, b.key)})"
            reason = app.disabled_reason(b.action)
            if reason is not None:
                help_text = f"disabled: {reason}"
            commands[b.action] = (name, help_text, b.action)
    return [*commands.values(), *app.EXTRA_COMMANDS]


class EvmonCommands(Provider):
    """Dashboard actions: pause, filter, mark, detail, help, quit, ..."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = cast("EvmonApp", self.app)
        return app.palette_commands()

    async def _run(self, action: str) -> None:
        """Run the command, or say why it is disabled (run_action would do nothing)."""
        app = cast("EvmonApp", self.app)
        reason = app.disabled_reason(action)
        if reason is not None:
            app.notify(reason, title="Not available", severity="warning")
            return
        await app.run_action(action, app.action_namespace(action))

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self._run, action),
                    text=name,
                    help=help_text,
                )
