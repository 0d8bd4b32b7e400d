"""Messages between the dashboard's widgets, workers and the app.

Widgets post these upwards; the app (``app.py``) is the only place that reacts to them, so
each widget stays usable on its own. Workers may post them from threads (``post_message`` is
thread-safe), never one per event: events reach the UI through the store, on a timer.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class FollowChanged(Message):
    """The event list started (True) or stopped (False) following the newest events."""

    follow: bool
