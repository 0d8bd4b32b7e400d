"""Broker I/O. Sources push events into a sink; nothing here knows about the UI.

One package per broker (``nats/``, ``kafka/``); ``spec`` builds the sources of a selection
for ``evmon tail`` and the dashboard alike; ``ack`` is what a publish came to on either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from evmon.model import ConnectionStatus, Event


class Sink(Protocol):
    """Where sources put events: the bounded store, or the tail writer."""

    def append(self, event: Event, /) -> None: ...

    def extend(self, events: Iterable[Event], /) -> None: ...

    def add_dropped(self, n: int, /) -> None: ...


class Source(Protocol):
    """A running connection that feeds a sink until closed."""

    async def start(self, wait: float | None = 10.0) -> None: ...

    async def close(self) -> None: ...


StatusCallback = Callable[[ConnectionStatus], None]

#: Bytes of a payload kept for a skip's preview (the size shown is the whole payload's).
PREVIEW_BYTES = 4096


def ignore_status(status: ConnectionStatus) -> None:
    """The default status callback for callers that do not display connection state."""
