"""The lag screen at scale (issue 14), headless under ``run_test``: ``l`` on a dashboard with
NATS and Kafka connected, then ``rounds`` refreshes. Reports the seconds from ``l`` to the
first drawn round, each round's poll-and-draw time (the period between rounds minus the
screen's interval) and the longest stall of the event loop meanwhile (a 5 ms ticker: how
long a key would wait), overall and per round.

    python -m bench.consumers.lagscreen --nats URL --kafka HOST:PORT --topic T --stream S
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time

import orjson

from bench.stall import LoopStall
from evmon.config import KafkaSettings, NatsSettings
from evmon.store import EventStore
from evmon.tui import EvmonApp
from evmon.tui.connections import kafka_spec, nats_spec
from evmon.tui.messages import LagRoundDone
from evmon.tui.screens.lag import LagScreen


async def run(a: argparse.Namespace) -> dict[str, object]:
    specs = [
        nats_spec(NatsSettings((a.nats,)), subjects=["evmon-lag-none"]),
        kafka_spec(KafkaSettings(bootstrap=a.kafka), topics=[a.topic]),
    ]
    app = EvmonApp(EventStore(1_000), specs, streams=[a.stream], blink=False)
    stall = LoopStall()
    stalls: list[float] = []  # the longest stall of each round, taken when a round is drawn
    done: list[float] = []
    drawn = asyncio.Event()

    def hook(message: object) -> None:
        if isinstance(message, LagRoundDone) and message.refreshes > len(done):
            done.append(time.perf_counter())  # once per round (the app sees it bubble too)
            stalls.append(stall.take())
            drawn.set()

    async def rounds_done(n: int) -> None:
        while len(done) < n:
            drawn.clear()
            await drawn.wait()

    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        screen = LagScreen(interval=a.interval)
        app.install_screen(screen, "lag")
        t0 = time.perf_counter()
        await pilot.press("l")
        await rounds_done(1)
        first = done[0] - t0
        skip = len(stalls)  # rounds drawn before the ticker ran
        async with stall:
            await rounds_done(1 + a.rounds)
        marks = done[: 1 + a.rounds]
        rows = len(screen.poller.kafka.rows), len(screen.poller.jetstream.rows)
        await app.close_sources()
        app.exit(0)
    rounds = [b - a_ - a.interval for a_, b in itertools.pairwise(marks)]
    return {
        "first_s": round(first, 3),
        "round_s": round(statistics.median(rounds), 3),
        "rounds_s": [round(r, 3) for r in rounds],
        "stall_s": round(stall.longest, 3),
        "stalls_s": [round(x, 3) for x in stalls[skip : skip + a.rounds]],
        "rows": rows,
    }


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.consumers.lagscreen")
    p.add_argument("--nats", required=True)
    p.add_argument("--kafka", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--stream", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--interval", type=float, default=1.0)
    out = asyncio.run(run(p.parse_args()))
    sys.stdout.buffer.write(orjson.dumps(out) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
