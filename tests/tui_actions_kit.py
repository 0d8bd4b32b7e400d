"""Shared pieces of the dashboard action tests (``tests/test_tui_actions*.py``): an app
that records its notifications, waits for its screens and notes, and small NATS helpers.

``_isolated`` is autouse only where a module imports it: each action test module does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nats
import pytest
from textual.app import App
from textual.notifications import SeverityLevel
from textual.pilot import Pilot

import evmon.tui.app
from evmon.actions import AuditLog, default_audit_path
from evmon.config import KafkaSettings, NatsSettings
from evmon.selection import Start
from evmon.sources.nats.tail import NatsSource
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec, kafka_spec, nats_spec
from tests.helpers import ListSink
from tests.waiting import async_wait_for

SIZE = (140, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit log under tmp_path, and the default export folder (XDG data) too."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def audit() -> list[dict[str, Any]]:
    return AuditLog(default_audit_path()).entries()


class RecordingApp(EvmonApp):
    """The dashboard, keeping every notification for the assertions."""

    CSS_PATH = str(Path(evmon.tui.app.__file__).with_name("app.tcss"))  # not tests/app.tcss

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.notes: list[tuple[str, str, SeverityLevel]] = []

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        self.notes.append((title, message, severity))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def errors(self) -> list[str]:
        return [message for _, message, severity in self.notes if severity == "error"]


def make_app(
    *,
    nats_url: str | None = None,
    kafka: str | None = None,
    subjects: Sequence[str] = (),
    streams: Sequence[str] = (),
    topics: Sequence[str] = (),
    start: Start | None = None,
    **kw: Any,
) -> RecordingApp:
    specs: list[SourceSpec] = []
    if nats_url is not None:
        settings = NatsSettings(urls=(nats_url,))
        specs.append(
            nats_spec(settings, subjects=subjects, streams=streams, start=start or Start())
        )
    if kafka is not None:
        settings_k = KafkaSettings(bootstrap=kafka)
        specs.append(kafka_spec(settings_k, topics=topics, start=start or Start()))
    return RecordingApp(EventStore(10_000), specs, blink=False, **kw)


async def connected(app: EvmonApp) -> None:
    """Every source is connected and reading (subscribed, its consumers created): what a
    test publishes from now on is read. The board says "connected" with the connection."""
    await async_wait_for(
        lambda: (
            all(view.state == "connected" for view in app.connections)
            and len(app.reading) == len(app.specs)
        ),
        timeout=30,
        message="every source connected and reading",
    )


async def screen_is(app: App[Any], kind: type[object]) -> Any:
    return await async_wait_for(
        lambda: app.screen if isinstance(app.screen, kind) else None,
        message=f"{kind.__name__} on screen",
    )


async def main_screen(app: EvmonApp) -> None:
    await async_wait_for(lambda: app.screen is app.main_screen, message="back on the dashboard")


async def note(app: RecordingApp, needle: str, severity: SeverityLevel | None = None) -> str:
    """Wait for a notification containing ``needle`` (of that severity) and return it."""

    def found() -> str | None:
        for _, message, sev in app.notes:
            if needle in message and (severity is None or sev == severity):
                return message
        return None

    message = await async_wait_for(found, timeout=30, message=f"a notification with {needle!r}")
    assert message is not None
    return message


async def nats_sink(url: str, subjects: Sequence[str]) -> tuple[NatsSource, ListSink]:
    """A core subscriber keeping exact headers (nats-py's dict API would fold repeats)."""
    sink = ListSink()
    src = NatsSource(NatsSettings(urls=(url,)), sink, subjects=subjects)
    await src.start()
    return src, sink


async def round_trip(url: str) -> None:
    """A PING/PONG to the server: anything published before this has been routed."""
    nc = await nats.connect(url)
    try:
        await nc.flush()
    finally:
        await nc.close()


async def js_count(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


async def add_stream(url: str, name: str, subjects: list[str], **config: Any) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=name, subjects=subjects, **config)
    finally:
        await nc.close()


async def mark(pilot: Pilot[int], app: EvmonApp, rows: Sequence[int]) -> None:
    """Mark the events at these list rows (0 = oldest)."""
    for row in rows:
        await pilot.press("home", *["down"] * row, "space")
    assert len(app.event_list.marks) == len(rows)
