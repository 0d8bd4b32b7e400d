"""evmon's ingest path for a whole JetStream stream (``--stream S --from first``): the store
and index without a screen (``store``), or the headless dashboard (``dashboard``).

The same per-event work as ``bench.consumers.evmon_store`` and ``bench.consumers.dashboard``
for core NATS; only the source reads a stream through its ordered consumer.

    python -m bench.consumers.evmon_stream (store|dashboard) URL STREAM COUNT
        [--idle S] [--deadline S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.consumers.common import Tracker, exit_after, report, wait_until
from evmon.config import NatsSettings
from evmon.event_index import EventIndex
from evmon.selection import Start
from evmon.store import EventStore

UI_INTERVAL = 0.05
CAPACITY = 100_000


async def run_store(a: argparse.Namespace) -> None:
    from evmon.sources.nats.tail import NatsSource

    store = EventStore(CAPACITY)
    index = EventIndex(store, None)
    source = NatsSource(NatsSettings((a.url,)), store, streams=[a.stream], start=Start("first"))
    await source.start()

    async def ui_timer() -> None:
        while True:
            await asyncio.sleep(UI_INTERVAL)
            index.poll()
            store.total_rate()

    ui = asyncio.create_task(ui_timer())
    track = Tracker(lambda: store.total)
    await wait_until(lambda: track() >= a.count, track, a.idle, a.deadline)
    ui.cancel()
    report(
        store.total, track.first, track.last, store.dropped, track.first_count,
        cpu_first=track.cpu_first, cpu_last=track.cpu_last,
    )  # fmt: skip
    await source.close()


async def run_dashboard(a: argparse.Namespace) -> None:
    from evmon.tui import EvmonApp, nats_spec

    store = EventStore(CAPACITY)
    spec = nats_spec(NatsSettings((a.url,)), streams=[a.stream], start=Start("first"))
    app = EvmonApp(store, [spec], blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        track = Tracker(lambda: store.total)
        await wait_until(lambda: track() >= a.count, track, a.idle, a.deadline)
        await pilot.pause(0.2)
        report(
            store.total, track.first, track.last, store.dropped, track.first_count,
            cpu_first=track.cpu_first, cpu_last=track.cpu_last,
        )  # fmt: skip
        exit_after(15)
        await app.close_sources()
        app.exit(0)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.consumers.evmon_stream")
    p.add_argument("mode", choices=("store", "dashboard"))
    p.add_argument("url")
    p.add_argument("stream")
    p.add_argument("count", type=int)
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--deadline", type=float, default=300.0)
    a = p.parse_args()
    asyncio.run(run_store(a) if a.mode == "store" else run_dashboard(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
