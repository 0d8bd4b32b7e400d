"""Building and running the dashboard from plain arguments.

``build_app`` is the one place that turns "what to read" into an ``EvmonApp``: ``evmon
connect``, ``evmon demo`` (through ``run_dashboard``) and the demo's Pilot test all build the
app here, so the test drives exactly what the operator gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evmon.config import KafkaSettings, NatsSettings
from evmon.lag import DEFAULT_REFRESH, DEFAULT_WINDOW
from evmon.selection import START_NEW, Start, parse_start
from evmon.store import DEFAULT_CAPACITY, EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec, kafka_spec, nats_spec

__all__ = ["build_app", "dashboard_app", "run_app", "run_dashboard"]


def build_app(
    *,
    nats: NatsSettings | None = None,
    kafka: KafkaSettings | None = None,
    subjects: Sequence[str] = (),
    streams: Sequence[str] = (),
    topics: Sequence[str] = (),
    topic_pattern: str | None = None,
    start: Start = START_NEW,
    initial_filter: str = "",
    buffer: int = DEFAULT_CAPACITY,
    read_only: bool = False,
    groups: Sequence[str] = (),
    first_run_hint: bool = False,
    lag_interval: float = DEFAULT_REFRESH,
    lag_window: int = DEFAULT_WINDOW,
    blink: bool = True,
    nats_monitor: str | None = None,
) -> EvmonApp:
    """The dashboard over the given connections (nothing is opened until it runs).

    NATS: with ``streams``, each stream is read from ``start`` by an ordered consumer
    (``subjects`` then filter the streams); without, ``subjects`` (default ``>``) are core
    subscriptions. Kafka: ``topics`` and/or ``topic_pattern`` from ``start``.
    """
    specs: list[SourceSpec] = []
    if nats is not None:
        specs.append(nats_spec(nats, subjects=subjects, streams=streams, start=start))
    if kafka is not None:
        specs.append(kafka_spec(kafka, topics=topics, pattern=topic_pattern, start=start))
    return EvmonApp(
        EventStore(buffer),
        specs,
        initial_filter=initial_filter,
        read_only=read_only,
        groups=groups,
        streams=streams,
        first_run_hint=first_run_hint,
        lag_interval=lag_interval,
        lag_window=lag_window,
        blink=blink,
        nats_monitor=nats_monitor,
    )


async def run_app(app: EvmonApp) -> int:
    """Run until the operator quits; the sources are closed however it ends."""
    try:
        await app.run_async()
    finally:
        await app.close_sources()
    return app.return_code or 0


def dashboard_app(
    *,
    nats_urls: Sequence[str] = (),
    kafka: str | None = None,
    subjects: Sequence[str] = (),
    streams: Sequence[str] = (),
    topics: Sequence[str] = (),
    topic_pattern: str | None = None,
    start: str = "new",
    initial_filter: str = "",
    buffer: int = DEFAULT_CAPACITY,
    read_only: bool = False,
    first_run_hint: bool = False,
    lag_interval: float = DEFAULT_REFRESH,
    lag_window: int = DEFAULT_WINDOW,
    blink: bool = True,
) -> EvmonApp:
    """The app ``run_dashboard`` runs, from plain URLs and names (tests build it here too).

    With ``streams``, NATS is read from those JetStream streams (``subjects`` are their
    subjects, so they do not narrow anything: JetStream refuses a filter outside a stream);
    without, ``subjects`` (default ``>``) are core subscriptions. Kafka: ``topics`` and/or
    ``topic_pattern``, default every non-internal topic. ``start`` is ``--from``'s syntax.
    """
    nats = NatsSettings(urls=tuple(nats_urls)) if nats_urls else None
    pattern = topic_pattern if (topics or topic_pattern) else ".*"
    return build_app(
        nats=nats,
        kafka=KafkaSettings(bootstrap=kafka) if kafka else None,
        subjects=() if streams else subjects or [">"],
        streams=streams,
        topics=topics,
        topic_pattern=pattern,
        start=parse_start(start),
        initial_filter=initial_filter,
        buffer=buffer,
        read_only=read_only,
        first_run_hint=first_run_hint,
        lag_interval=lag_interval,
        lag_window=lag_window,
        blink=blink,
    )


async def run_dashboard(**kwargs: Any) -> int:
    """The entry point of ``evmon demo``: ``dashboard_app(**kwargs)`` until the operator
    quits."""
    return await run_app(dashboard_app(**kwargs))
