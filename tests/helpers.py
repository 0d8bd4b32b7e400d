"""Small test helpers shared by the broker tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence

from evmon.model import Event


class ListSink:
    """A sink that keeps everything, for asserting on exactly what a source delivered."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.dropped = 0

    def append(self, event: Event, /) -> None:
        self.events.append(event)

    def extend(self, events: Iterable[Event], /) -> None:
        self.events.extend(events)

    def add_dropped(self, n: int, /) -> None:
        self.dropped += n

    def subjects(self) -> list[str]:
        return [e.subject for e in self.events]


def evmon_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "evmon", *args]


def run_evmon(
    args: Sequence[str], timeout: float = 60.0, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI to completion (the command's own --timeout/-n end it; ``timeout`` is a
    safety net)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        evmon_cmd(*args),
        capture_output=True,
        timeout=timeout,
        env=env,
        check=False,
        **kw,  # type: ignore[arg-type]
    )
