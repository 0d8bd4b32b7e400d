"""Messages between the dashboard's widgets, workers and the app.

Widgets post these upwards; the dashboard screen (``screens/dashboard.py``) and the app are
the only places that react to them, so each widget stays usable on its own. Workers may
post them from threads (``post_message`` is thread-safe), never one per event: events reach
the UI through the store, on a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from evmon.filter import Filter


@dataclass
class FilterChanged(Message):
    """The filter bar holds a new valid filter (``None``: show everything)."""

    expr: str
    filter: Filter | None


@dataclass
class SubjectChosen(Message):
    """A subject tree node was selected: ``expr`` is the filter that shows its events."""

    expr: str


@dataclass
class EventHighlighted(Message):
    """The event list cursor moved to ``seq`` (None: the list is empty).

    ``operator`` is True when a key or click moved it, False when the list did (following
    the tail, an eviction, a re-filter): a pinned detail follows only the operator.
    """

    seq: int | None
    operator: bool = False

    def can_replace(self, message: Message) -> bool:
        """While the list follows a flood its cursor moves every tick: a backlog of these
        collapses to the newest. A newer list move never drops an operator's move (a
        pinned detail follows only those)."""
        return isinstance(message, EventHighlighted) and (message.operator or not self.operator)


@dataclass
class FollowChanged(Message):
    """The event list started (True) or stopped (False) following the newest events."""

    follow: bool


# --------------------------------------------------------------------------- from workers
# Posted by the app's and the screens' workers when something finished, so that tests
# (``run_test(message_hook=...)``) and handlers wait on a signal instead of on state.


@dataclass
class SourceOpened(Message):
    """The source of spec ``index`` started: its own tasks feed the store from now on."""

    index: int
    name: str


@dataclass
class SourceFailed(Message):
    """Opening the source of spec ``index`` failed; ``retrying``: it is tried again after
    ``RETRY_AFTER`` (a broker that refuses us), else the worker gave up (the status bar
    says why)."""

    index: int
    name: str
    reason: str
    retrying: bool


@dataclass
class RefilterDone(Message):
    """A new filter has looked at every retained event (``matched`` of them pass)."""

    expr: str
    matched: int


@dataclass
class LagRoundDone(Message):
    """The lag screen finished refresh number ``refreshes`` (drawn). A backlog of these
    collapses to the newest: only the latest count matters."""

    refreshes: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LagRoundDone)


@dataclass
class InterestRoundDone(Message):
    """The interest screen finished window number ``refreshes``; ``report`` is None when
    the round failed. A backlog collapses to the newest."""

    refreshes: int
    report: Any

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, InterestRoundDone)
