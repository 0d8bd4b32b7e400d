"""``evmon connect``: the live dashboard.

Flags are checked here, before anything is drawn (a bad flag is a one-line usage error,
exit 2). Brokers are *not* contacted here: the dashboard opens them in workers and shows a
broker that is down as "connecting" while it retries, so one broker down never keeps the
other from being watched. Textual is imported only when this command runs.
"""

from __future__ import annotations

import argparse
import re

from evmon.commands.common import (
    check_selection,
    event_filter,
    kafka_settings,
    nats_settings,
    start_position,
)
from evmon.errors import UsageError


async def run(args: argparse.Namespace) -> int:
    check_selection(args)
    event_filter(args.filter)  # a bad --filter is a usage error, not an inline one
    start = start_position(args)
    if args.buffer <= 0:
        raise UsageError("--buffer must be a positive number of events")
    if args.topic_pattern:
        try:
            re.compile(args.topic_pattern)
        except re.error as err:
            raise UsageError(f"bad --topic-pattern {args.topic_pattern!r}: {err}") from None
    nats = nats_settings(args)
    kafka = kafka_settings(args)

    from evmon.store import EventStore
    from evmon.tui.app import EvmonApp
    from evmon.tui.connections import SourceSpec, kafka_spec, nats_spec

    specs: list[SourceSpec] = []
    if nats is not None:
        specs.append(nats_spec(nats, subjects=args.subjects, streams=args.streams, start=start))
    if kafka is not None:
        specs.append(kafka_spec(kafka, topics=args.topics, pattern=args.topic_pattern, start=start))
    app = EvmonApp(
        EventStore(args.buffer),
        specs,
        initial_filter=args.filter,
        read_only=args.read_only,
        groups=args.groups,
        streams=args.streams,
    )
    try:
        await app.run_async()
    finally:
        await app.close_sources()
    return app.return_code or 0
