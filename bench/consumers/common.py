"""What every consumer process shares: the result line and the "stop when idle" rule."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.rss import rss_bytes

#: nats-py's default pending limits drop past 512k messages; evmon raises them, and so does
#: the raw baseline, so that both read the same bounded flood without drops.
PENDING_MSGS = 1_000_000
PENDING_BYTES = 512 * 1024 * 1024


def report(
    count: int, first: float, last: float, dropped: int = 0, first_count: int = 1, **extra: Any
) -> None:
    """The result line; ``first_count`` events had arrived when ``first`` was taken.

    ``cpu_first`` / ``cpu_last`` in ``extra`` (``time.process_time()`` at the same moments)
    give the CPU cost per event, which the machine's other load changes far less than the
    rate."""
    line = {
        "count": count,
        "first": first,
        "last": last,
        "first_count": first_count,
        "dropped": dropped,
        **extra,
    }
    out = sys.__stdout__  # not sys.stdout, which Textual captures while an app runs
    assert out is not None
    out.buffer.write(orjson.dumps(line) + b"\n")
    out.flush()


async def wait_until(
    done: Callable[[], bool], progress: Callable[[], int], idle: float, deadline: float
) -> None:
    """Return when ``done()``, when ``progress()`` stood still for ``idle`` seconds after it
    started, or after ``deadline`` seconds: a consumer that loses messages still ends."""
    start = time.monotonic()
    last_value, last_change = progress(), start
    while not done():
        await asyncio.sleep(0.005)
        now = time.monotonic()
        value = progress()
        if value != last_value:
            last_value, last_change = value, now
        elif value and now - last_change >= idle:
            return
        if now - start >= deadline:
            return


def exit_after(seconds: float) -> None:
    """End the process ``seconds`` from now whatever it is doing: the result line is out,
    and a shutdown that hangs must not hold the benchmark up."""

    def stop() -> None:
        time.sleep(seconds)
        os._exit(0)

    threading.Thread(target=stop, daemon=True).start()


class Tracker:
    """Turns a growing total (polled every few ms) into first/last times and counts.

    For consumers that cannot time each event without slowing it (the store, the app):
    ``first`` is when the total was first seen non-zero, ``first_count`` what it was then.
    """

    def __init__(self, total: Callable[[], int], rss_every: int = 0) -> None:
        self._total = total
        self.seen = 0
        self.first = self.last = 0.0
        self.cpu_first = self.cpu_last = 0.0
        self.first_count = 0
        #: With ``rss_every``: (total, RSS bytes) each time the total passed a multiple of it.
        self.rss_every = rss_every
        self.samples: list[tuple[int, int]] = []
        self._next_sample = rss_every

    def __call__(self) -> int:
        total = self._total()
        if total != self.seen:
            now, cpu = time.perf_counter(), time.process_time()
            if not self.first_count:
                self.first, self.cpu_first, self.first_count = now, cpu, total
            self.seen, self.last, self.cpu_last = total, now, cpu
            while self._next_sample and total >= self._next_sample:
                self.samples.append((total, rss_bytes()))
                self._next_sample += self.rss_every
        return total


def evmon_consumer_args(prog: str) -> argparse.Namespace:
    """The command line of the consumers that run evmon's own ingest path (store+index and
    dashboard): one NATS subject or one Kafka topic, a count, and the harness's knobs."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--nats")
    p.add_argument("-s", "--subject", default=">")
    p.add_argument("--kafka")
    p.add_argument("-t", "--topic")
    p.add_argument("count", type=int)
    p.add_argument("--filter", default="")
    p.add_argument("--capacity", type=int, default=100_000)
    p.add_argument("--rss-every", type=int, default=0)
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--deadline", type=float, default=300.0)
    a = p.parse_args()
    if not (a.nats or (a.kafka and a.topic)):
        p.error("give --nats URL, or --kafka BOOTSTRAP with -t TOPIC")
    return a
