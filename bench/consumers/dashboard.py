"""The dashboard's ingest path: ``EvmonApp`` running headless (``run_test``) on a real source.

Everything the dashboard does per event and per tick happens here (source -> store, the
15 Hz tick through the index, the event list, the status bar and subject tree, rendering
to the headless driver); only the terminal is missing.

    python -m bench.consumers.dashboard (--nats URL -s SUBJ | --kafka B -t TOPIC) COUNT
        [--filter EXPR] [--capacity N] [--rss-every N] [--idle S] [--deadline S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

from bench.consumers.common import Tracker, evmon_consumer_args, exit_after, report, wait_until
from bench.rss import rss_bytes
from evmon.config import KafkaSettings, NatsSettings
from evmon.selection import Start
from evmon.store import EventStore
from evmon.tui import EvmonApp, SourceSpec, kafka_spec, nats_spec

SIZE = (160, 48)


def spec(a: argparse.Namespace) -> SourceSpec:
    if a.nats:
        return nats_spec(NatsSettings((a.nats,)), subjects=[a.subject])
    return kafka_spec(KafkaSettings(a.kafka), topics=[a.topic], start=Start("first"))


async def run(a: argparse.Namespace) -> None:
    store = EventStore(a.capacity)
    app = EvmonApp(store, [spec(a)], initial_filter=a.filter, blink=False)
    gc.collect()
    rss_idle = rss_bytes()
    async with app.run_test(size=SIZE) as pilot:
        track = Tracker(lambda: store.total, a.rss_every)
        await wait_until(lambda: track() >= a.count, track, a.idle, a.deadline)
        await pilot.pause(0.2)  # the last tick shows the last events
        extra: dict[str, object] = {
            "rss_idle": rss_idle,
            "rss": rss_bytes(),
            "cpu_first": track.cpu_first,
            "cpu_last": track.cpu_last,
            "retained": len(store),
            "shown": len(app.index),
        }
        if track.samples:
            extra["samples"] = track.samples
        report(store.total, track.first, track.last, store.dropped, track.first_count, **extra)
        exit_after(15)
        await app.close_sources()
        app.exit(0)


def main() -> int:
    asyncio.run(run(evmon_consumer_args("python -m bench.consumers.dashboard")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
