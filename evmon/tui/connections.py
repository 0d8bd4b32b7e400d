"""What the dashboard connects to, and the state of each connection.

The app is given ``SourceSpec``s rather than running sources: it opens each one in its own
worker (so a broker that is down never blocks the UI or the other broker) and closes them
all when it quits. Specs are built by ``evmon.sources.spec`` (``source_specs``), the same way
``evmon tail`` builds its sources; ``SourceSpec``, ``nats_spec`` and ``kafka_spec`` are
re-exported here for the tests and the demo.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from evmon.model import ConnectionState, ConnectionStatus, Source
from evmon.sources import StatusCallback
from evmon.sources.spec import SourceFactory, SourceSpec, kafka_spec, nats_spec

__all__ = ["SourceFactory", "SourceSpec", "StatusBoard", "kafka_spec", "nats_spec"]


@dataclass(slots=True)
class ConnectionView:
    """The latest status of one connection, as the status bar shows it."""

    system: Source
    url: str
    state: ConnectionState = "connecting"
    detail: str = ""
    since: float = field(default_factory=time.monotonic)
    #: The context the connection's settings came from (``evmon contexts`` names it too).
    context: str = ""

    def describe(self) -> str:
        """``connected``, ``reconnecting: connection refused``, ``failed: ...``."""
        detail = self.detail
        if self.state == "connected" and detail and detail in self.url:
            detail = ""  # the NATS source names the server it reached: already in the URL
        return f"{self.state}: {detail}" if detail else self.state


class StatusBoard:
    """Latest connection status per spec, written by source callbacks, read on the UI timer.

    Sources call back from the event loop (never once per message), so a plain dict write is
    enough; ``version`` lets the status bar skip redraws when nothing changed.
    """

    def __init__(self, specs: Sequence[SourceSpec]) -> None:
        self._views = [
            ConnectionView(
                spec.system, spec.url, context=getattr(spec.settings, "context", None) or ""
            )
            for spec in specs
        ]
        self.version = 0
        #: Where a source's one-time ``ConnectionStatus.notice`` goes (the app: a toast).
        self.on_notice: Callable[[str], None] | None = None

    def __iter__(self) -> Iterator[ConnectionView]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __getitem__(self, index: int) -> ConnectionView:
        return self._views[index]

    def callback(self, index: int) -> StatusCallback:
        """The ``on_status`` for the source of spec ``index``."""

        def on_status(status: ConnectionStatus) -> None:
            if status.notice:  # a remark, not a change of state
                if self.on_notice is not None:
                    self.on_notice(status.notice)
                return
            self.record(index, status.state, status.detail)

        return on_status

    def record(self, index: int, state: ConnectionState, detail: str = "") -> None:
        view = self._views[index]
        if detail.startswith("cannot connect to ") and ": " in detail:
            detail = detail.split(": ", 1)[1]  # "cannot connect to Kafka at URL: cause"
        if view.state != state:
            view.since = time.monotonic()
        view.state, view.detail = state, detail
        self.version += 1
