"""The dashboard's ingest path without the screen: evmon's source -> EventStore, with the
UI's 20 Hz timer polling an EventIndex (through the filter) and the store's rates.

This is what the dashboard does per event; ``bench.consumers.dashboard`` adds Textual on
top. It also serves the memory benchmark (``--rss-every``): resident set size after every
N events, to show the store stays flat once full.

    python -m bench.consumers.evmon_store (--nats URL -s SUBJ | --kafka B -t TOPIC) COUNT
        [--filter EXPR] [--capacity N] [--rss-every N] [--idle S] [--deadline S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

from bench.consumers.common import Tracker, evmon_consumer_args, report, wait_until
from bench.rss import rss_bytes
from evmon.config import KafkaSettings, NatsSettings
from evmon.event_index import EventIndex
from evmon.filter import parse_filter
from evmon.selection import Start
from evmon.sources import Source
from evmon.store import EventStore

UI_INTERVAL = 0.05


async def run(a: argparse.Namespace) -> None:
    store = EventStore(a.capacity)
    flt = parse_filter(a.filter) if a.filter else None
    index = EventIndex(store, flt)
    source: Source
    if a.nats:
        from evmon.sources.nats.tail import NatsSource

        source = NatsSource(NatsSettings((a.nats,)), store, subjects=[a.subject])
    else:
        from evmon.sources.kafka.tail import KafkaSource

        source = KafkaSource(KafkaSettings(a.kafka), store, topics=[a.topic], start=Start("first"))
    gc.collect()
    rss_idle = rss_bytes()
    await source.start()

    async def ui_timer() -> None:
        while True:
            await asyncio.sleep(UI_INTERVAL)
            index.poll()
            store.total_rate()

    ui = asyncio.create_task(ui_timer())
    track = Tracker(lambda: store.total, a.rss_every)
    await wait_until(lambda: track() >= a.count, track, a.idle, a.deadline)
    ui.cancel()
    index.poll()
    extra: dict[str, object] = {
        "rss_idle": rss_idle,
        "rss": rss_bytes(),
        "retained": len(store),
        "cpu_first": track.cpu_first,
        "cpu_last": track.cpu_last,
    }
    if track.samples:
        extra["samples"] = track.samples
    report(
        store.total,
        track.first,
        track.last,
        store.dropped,
        track.first_count,
        shown=len(index),
        **extra,
    )
    await source.close()


def main() -> int:
    asyncio.run(run(evmon_consumer_args("python -m bench.consumers.evmon_store")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
