"""Baseline: a raw nats-py ordered-consumer callback reader of a whole stream that only counts.

nats-py's ordered consumer is what ``evmon tail --stream`` promises the same guarantees as
(flow-control replies, idle heartbeats, gap detection and re-creation, no acks), so its
CPU per message is the bar evmon's stream reads are measured against.

    python -m bench.consumers.raw_jetstream URL STREAM COUNT [--idle S] [--deadline S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import nats
import nats.errors
import nats.js.api

from bench.consumers.common import PENDING_BYTES, PENDING_MSGS, report, wait_until


async def run(url: str, stream: str, count: int, idle: float, deadline: float) -> None:
    dropped = 0

    async def error_cb(err: Exception) -> None:
        nonlocal dropped
        if isinstance(err, nats.errors.SlowConsumerError):
            dropped += 1

    nc = await nats.connect(url, error_cb=error_cb, max_reconnect_attempts=0)
    js = nc.jetstream()
    n = 0
    first = last = cpu_first = 0.0
    clock = time.perf_counter

    async def on_msg(msg: object) -> None:
        nonlocal n, first, last, cpu_first
        n += 1
        last = clock()
        if n == 1:
            first, cpu_first = last, time.process_time()

    info = await js.stream_info(stream)
    subjects = list(info.config.subjects or [])
    await js.subscribe(
        subjects[0] if len(subjects) == 1 else "",
        stream=stream,
        ordered_consumer=True,
        cb=on_msg,
        config=nats.js.api.ConsumerConfig(
            deliver_policy=nats.js.api.DeliverPolicy.ALL,
            filter_subjects=subjects if len(subjects) > 1 else None,
        ),
        pending_msgs_limit=PENDING_MSGS,
        pending_bytes_limit=PENDING_BYTES,
    )
    await wait_until(lambda: n >= count, lambda: n, idle, deadline)
    cpu_last = time.process_time()
    report(n, first, last, dropped, cpu_first=cpu_first, cpu_last=cpu_last)
    await nc.close()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.consumers.raw_jetstream")
    p.add_argument("url")
    p.add_argument("stream")
    p.add_argument("count", type=int)
    p.add_argument("--idle", type=float, default=5.0)
    p.add_argument("--deadline", type=float, default=300.0)
    a = p.parse_args()
    asyncio.run(run(a.url, a.stream, a.count, a.idle, a.deadline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
