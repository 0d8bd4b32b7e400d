"""Building and running the dashboard from settings and ``DashboardOptions``.

``build_app`` is the one place that turns "what to read" into an ``EvmonApp``: ``evmon
connect``, ``evmon demo`` (through ``run_dashboard``) and the demo's Pilot test all build the
app here, so the test drives exactly what the operator gets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from evmon.config import KafkaSettings, NatsSettings
from evmon.selection import parse_start
from evmon.sources.spec import source_specs
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.options import DashboardOptions

__all__ = ["build_app", "dashboard_app", "run_app", "run_dashboard"]


def build_app(
    *,
    nats: NatsSettings | None = None,
    kafka: KafkaSettings | None = None,
    options: DashboardOptions | None = None,
    **changes: Any,
) -> EvmonApp:
    """The dashboard over the given connections (nothing is opened until it runs), with
    ``options`` (default ``DashboardOptions()``) and ``changes`` to them.

    NATS: with ``streams``, each stream is read from ``start`` by an ordered consumer
    (``subjects`` then filter the streams); without, ``subjects`` (default ``>``) are core
    subscriptions. Kafka: ``topics`` and/or ``topic_pattern`` from ``start``.
    """
    opts = dataclasses.replace(options or DashboardOptions(), **changes)
    specs = source_specs(
        nats,
        kafka,
        subjects=opts.subjects,
        streams=opts.streams,
        topics=opts.topics,
        topic_pattern=opts.topic_pattern,
        start=opts.start,
    )
    return EvmonApp(EventStore(opts.buffer), specs, opts)


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
    start: str | None = None,
    options: DashboardOptions | None = None,
    **changes: Any,
) -> EvmonApp:
    """The app ``run_dashboard`` runs, from plain URLs and names (tests build it here too);
    ``changes`` are ``DashboardOptions`` fields, ``start`` is ``--from``'s syntax.

    With ``streams``, NATS is read from those JetStream streams (``subjects`` are their
    subjects, so they do not narrow anything: JetStream refuses a filter outside a stream);
    without, ``subjects`` (default ``>``) are core subscriptions. Kafka: ``topics`` and/or
    ``topic_pattern``, default every non-internal topic.
    """
    opts = dataclasses.replace(options or DashboardOptions(), **changes)
    if start is not None:
        opts = dataclasses.replace(opts, start=parse_start(start))
    opts = dataclasses.replace(
        opts,
        subjects=() if opts.streams else opts.subjects or [">"],
        topic_pattern=opts.topic_pattern if (opts.topics or opts.topic_pattern) else ".*",
    )
    nats = NatsSettings(urls=tuple(nats_urls)) if nats_urls else None
    return build_app(
        nats=nats, kafka=KafkaSettings(bootstrap=kafka) if kafka else None, options=opts
    )


async def run_dashboard(**kwargs: Any) -> int:
    """The entry point of ``evmon demo``: ``dashboard_app(**kwargs)`` until the operator
    quits."""
    return await run_app(dashboard_app(**kwargs))
