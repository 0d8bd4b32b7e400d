"""Baseline: a raw nats-py callback subscriber that only counts.

python -m bench.consumers.raw_nats URL SUBJECT COUNT [--idle S] [--deadline S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import nats
import nats.errors

from bench.consumers.common import PENDING_BYTES, PENDING_MSGS, report, wait_until


async def run(url: str, subject: str, count: int, idle: float, deadline: float) -> None:
    dropped = 0

    async def error_cb(err: Exception) -> None:
        nonlocal dropped
        if isinstance(err, nats.errors.SlowConsumerError):
            dropped += 1

    nc = await nats.connect(url, error_cb=error_cb, max_reconnect_attempts=0)
    n = 0
    first = last = cpu_first = 0.0
    clock = time.perf_counter

    async def on_msg(msg: object) -> None:
        nonlocal n, first, last, cpu_first
        n += 1
        last = clock()
        if n == 1:
            first, cpu_first = last, time.process_time()

    await nc.subscribe(
        subject, cb=on_msg, pending_msgs_limit=PENDING_MSGS, pending_bytes_limit=PENDING_BYTES
    )
    await nc.flush()
    await wait_until(lambda: n >= count, lambda: n, idle, deadline)
    cpu_last = time.process_time()
    report(n, first, last, dropped, cpu_first=cpu_first, cpu_last=cpu_last)
    await nc.close()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.consumers.raw_nats")
    p.add_argument("url")
    p.add_argument("subject")
    p.add_argument("count", type=int)
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--deadline", type=float, default=300.0)
    a = p.parse_args()
    asyncio.run(run(a.url, a.subject, a.count, a.idle, a.deadline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
