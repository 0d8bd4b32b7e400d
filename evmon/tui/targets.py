"""What the dashboard's actions act on: the events on screen, taken when the key is pressed.

    app.pin()                    # stop following: the list says "pinned", end/p resumes
    ev = app.highlighted_event() # the open detail's event, else the list cursor's
    evs = app.marked_events()    # the marked ones, else the highlighted one

Why: while the list follows the tail its cursor moves to every new event, so a detail that
tracked the cursor, or an action that looked its event up later, ends up on another event
than the one the operator chose. So every action key (``enter``, ``r``, ``s``, ``x``,
``space``) pins the list first and then takes ``Event`` objects; the modals name those and
act on them only. The detail holds its ``Event`` object, so it keeps showing (and ``r``
keeps acting on) the opened event after the bounded store evicted it.

``ActionTargets`` is a mixin of ``EvmonApp``, kept here so that the app module stays small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evmon.tui import format as fmt

if TYPE_CHECKING:  # headless at run time: importing this module loads no Textual
    from evmon.event_index import EventIndex
    from evmon.model import Event
    from evmon.store import EventStore
    from evmon.tui.widgets.detail import DetailPane
    from evmon.tui.widgets.event_list import EventList

__all__ = ["PINNED_NOTE", "ActionTargets", "follow_note"]

#: What the list's subtitle says while an action holds its events.
PINNED_NOTE = "pinned: following paused"
RESUME_HINT = "end/p resumes"


def follow_note(events: EventList) -> str:
    """The list subtitle's tail: ``""`` while following, ``· paused +N new`` when paused,
    ``· pinned: following paused +N new — end/p resumes`` when an action pinned it."""
    if events.follow:
        return ""
    new = f" +{fmt.count(events.new_rows)} new" if events.new_rows else ""
    if events.pinned:
        return f" · {PINNED_NOTE}{new} — {RESUME_HINT}"
    return f" · paused{new}"


class ActionTargets:
    """The events on screen, for the actions (mixed into ``EvmonApp``)."""

    store: EventStore
    index: EventIndex
    event_list: EventList
    detail: DetailPane
    _detail_open: bool

    @property
    def detail_visible(self) -> bool:
        return self._detail_open

    def _update_counts(self) -> None:
        """The list's subtitle (``EvmonApp`` has it)."""
        raise NotImplementedError

    def pin(self) -> None:
        """Stop following because an action takes the events on screen now."""
        self.event_list.pin()
        self.show_pinned()

    def show_pinned(self) -> None:
        """Titles and subtitle say whether the list is pinned (after a pin or a resume)."""
        pinned = self.event_list.pinned
        self.event_list.border_title = "Events · pinned" if pinned else "Events"
        self.detail.border_title = "Event · pinned" if pinned else "Event"
        self._update_counts()

    def highlighted_event(self) -> Event | None:
        """The event on screen: the open detail's (kept there even once the store evicted
        it), else the list cursor's."""
        if self._detail_open:
            return self.detail.event
        return self.event_list.cursor_event

    def marked_events(self) -> list[Event]:
        """Marked events still retained, oldest first; the highlighted one if none is."""
        get = self.store.get
        marked = [ev for s in sorted(self.event_list.marks) if (ev := get(s)) is not None]
        if marked:
            return marked
        ev = self.highlighted_event()
        return [] if ev is None else [ev]

    def filtered_events(self) -> list[Event]:
        """Every retained event that passes the filter, oldest first."""
        self.index.finish()
        get = self.store.get
        return [ev for s in self.index.seqs() if (ev := get(s)) is not None]

    def visible_events(self) -> list[Event]:
        """The events on screen in the list, top to bottom."""
        rows = self.event_list.visible_rows()
        return [ev for r in rows if (ev := self.index.event_at(r)) is not None]
