"""``DashboardOptions``: what ``evmon connect`` (or the demo, a test, a bench) asks of the
dashboard, in one value instead of 14 keyword arguments threaded through ``build_app``,
``dashboard_app`` and ``EvmonApp``.

    options = DashboardOptions(subjects=("orders.>",), read_only=True, lag_interval=2.0)
    app = build_app(nats=settings, options=options)
    app = EvmonApp(store, specs, blink=False)        # a test: changes to the defaults

Headless (no Textual): ``evmon connect`` checks its flags and builds this before Textual
is imported. What to read (``subjects`` ... ``start``) and ``buffer`` are used where the
sources and the store are built (``build_app``); the rest reach the app itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evmon.config.settings import NatsSettings
from evmon.lag.status import DEFAULT_REFRESH, DEFAULT_WINDOW
from evmon.selection import START_NEW, Start
from evmon.store import DEFAULT_CAPACITY

__all__ = ["DashboardOptions"]


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """Every dashboard option but the connection settings (``NatsSettings``,
    ``KafkaSettings``), with ``evmon connect``'s defaults."""

    #: NATS: core subjects (default ``>``), or with ``streams`` the streams' subjects.
    subjects: Sequence[str] = ()
    #: JetStream streams, read by ordered consumers from ``start`` (and the lag screen's).
    streams: Sequence[str] = ()
    #: Kafka topics and/or a topic regex, read from ``start``.
    topics: Sequence[str] = ()
    topic_pattern: str | None = None
    start: Start = START_NEW
    #: The filter bar's text at start.
    initial_filter: str = ""
    #: Events the store retains (``--buffer``).
    buffer: int = DEFAULT_CAPACITY
    #: ``--read-only``: re-publish and skip are greyed out.
    read_only: bool = False
    #: Kafka groups of interest (the lag screen, the skip modal's suggestions).
    groups: Sequence[str] = ()
    #: The first-run hint panel (``evmon demo``).
    first_run_hint: bool = False
    #: The lag screen's refresh interval (seconds) and window of samples.
    lag_interval: float = DEFAULT_REFRESH
    lag_window: int = DEFAULT_WINDOW
    #: False: text cursors do not blink (snapshots, benches).
    blink: bool = True
    #: ``--nats-monitor``: where a re-publish asks who subscribes to a core target.
    nats_monitor: str | None = None
    #: ``--nats-system-*``: the system account's connection settings, where the interest
    #: screen reads the subscription table when there is no monitoring endpoint (as
    #: ``evmon interest`` does).
    nats_system: NatsSettings | None = None
    #: ``--dedupe-key``: an event's identity for the duplicate lens (None: Nats-Msg-Id on
    #: NATS, the key on Kafka).
    dedupe_key: str | None = None
