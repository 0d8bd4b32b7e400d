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


def run_evmon_beside_a_silent_server(
    args: Sequence[str], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[bytes], bool]:
    """Run the CLI to completion while a second ``evmon tail`` dials a server that accepts
    and never answers (so it waits out the whole connect wait); returns the result and
    whether that second one was still waiting when the first ended.

    "Reported at once, not after the connect wait" as an order of events, not a time: the
    two start together, and the one that must not wait ends first.
    """
    import socket

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel accepts; nobody ever sends INFO
        port = silent.getsockname()[1]
        reference = subprocess.Popen(
            evmon_cmd("tail", "--nats", f"nats://127.0.0.1:{port}", "-s", "x"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=full_env,
        )
        try:
            res = subprocess.run(
                evmon_cmd(*args), capture_output=True, timeout=120, env=full_env, check=False
            )
            still_waiting = reference.poll() is None
        finally:
            reference.kill()
            reference.wait(timeout=30)
    return res, still_waiting
