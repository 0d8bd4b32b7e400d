"""Benchmarks 1-3: NATS core ingest, Kafka ingest and the cost of a filter.

Contenders of one benchmark run in turn, round after round (A B C, A B C, ...), so slow
drift in the machine's load spreads over all of them instead of landing on one; each
figure is the median of its rounds.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bench.context import Context, dashboard_available
from bench.harness import (
    PY,
    PipeCounter,
    Proc,
    Run,
    Summary,
    nats_subscriptions,
    publish,
    read_report,
    wait_lines,
    wait_subscribed,
)
from bench.payloads import FILTER_ALL, json_payload

SUBJECT = "bench.>"
TOPIC = "bench-ingest"
PARTITIONS = 3

RAW_NATS = "raw nats-py"
RAW_KAFKA = "raw aiokafka"
TAIL = "evmon tail jsonl"
STORE = "evmon store+index"
DASHBOARD = "evmon dashboard"
NATS_SUB = "nats sub (natscli)"
KCAT = "kcat -C -e"


@dataclass
class Contender:
    """How to start one contender (``argv(count)``) and how it reports (``mode``)."""

    name: str
    argv: Callable[[int], list[str]]
    mode: Literal["report", "lines"]
    note: str = ""


# ------------------------------------------------------------------------------ running


def run_nats_once(
    ctx: Context, c: Contender, count: int, size: int, rate: float | None = None
) -> Run:
    """Start ``c``, wait for its subscription, publish ``count`` messages, collect."""
    server = ctx.nats()
    sz = ctx.sizes
    before = nats_subscriptions(server.monitor_url)
    with Proc(c.argv(count)) as proc:
        counter = PipeCounter(proc.stdout_fd, proc.popen.pid) if c.mode == "lines" else None
        if counter is not None:
            counter.start()
        try:
            wait_subscribed(server.monitor_url, before, proc)
            pub = publish(server.url, count, size, rate)
            if counter is not None:
                why = wait_lines(proc, counter, count, sz.idle, sz.deadline)
                run = Run.timed(
                    counter.count, count, counter.first, counter.last, counter.first_count
                )
                if why != "done" and counter.count < count:
                    run.extra["ended"] = why
                if counter.cpu_us is not None:
                    run.extra["cpu_us"] = counter.cpu_us
            else:
                run = Run.from_report(read_report(proc, sz.deadline), count)
        except RuntimeError as err:
            return Run(expected=count, error=f"{c.name}: {err}")
    run.extra["publish_seconds"] = round(pub["seconds"], 3)
    return run


def run_kafka_once(ctx: Context, c: Contender, count: int) -> Run:
    sz = ctx.sizes
    with Proc(c.argv(count)) as proc:
        try:
            if c.mode == "lines":
                counter = PipeCounter(proc.stdout_fd, proc.popen.pid)
                counter.start()
                why = wait_lines(proc, counter, count, sz.idle, sz.deadline)
                run = Run.timed(
                    counter.count, count, counter.first, counter.last, counter.first_count
                )
                if why != "done" and counter.count < count:
                    run.extra["ended"] = why
                if counter.cpu_us is not None:
                    run.extra["cpu_us"] = counter.cpu_us
                return run
            return Run.from_report(read_report(proc, sz.deadline), count)
        except RuntimeError as err:
            return Run(expected=count, error=f"{c.name}: {err}")


def rounds(
    ctx: Context, contenders: list[Contender], once: Callable[[Contender], Run]
) -> dict[str, Summary]:
    if ctx.contenders:  # baselines always run: every ratio needs one from the same run
        contenders = [
            c
            for c in contenders
            if c.name in (RAW_NATS, RAW_KAFKA) or any(w in c.name for w in ctx.contenders)
        ]
    out = {c.name: Summary(c.name, [], c.note) for c in contenders}
    for i in range(ctx.sizes.repeats):
        for c in contenders:
            run = once(c)
            out[c.name].runs.append(run)
            rate = f"{run.rate:,.0f}/s" if run.rate else "-"
            cpu = run.extra.get("cpu_us")
            rate += f", {cpu:.2f} us CPU/msg" if cpu else ""
            status = run.error or f"{run.count:,}/{run.expected:,} {rate}"
            if run.dropped or (not run.error and run.count < run.expected):
                status += f" (lost {run.dropped + max(run.expected - run.count, 0):,})"
            print(f"    [{i + 1}/{ctx.sizes.repeats}] {c.name}: {status}", flush=True)
    return out


# ------------------------------------------------------------------------------ contenders


def _args(ctx: Context) -> list[str]:
    return ["--idle", str(ctx.sizes.idle), "--deadline", str(ctx.sizes.deadline)]


def nats_contenders(ctx: Context, flt: str = "") -> list[Contender]:
    url = ctx.nats().url
    fargs = ["--filter", flt] if flt else []
    cs = [
        Contender(
            RAW_NATS,
            lambda n: [PY, "-m", "bench.consumers.raw_nats", url, SUBJECT, str(n), *_args(ctx)],
            "report",
        ),
        Contender(
            TAIL,
            lambda n: [
                PY,
                "-m",
                "evmon",
                "tail",
                "--nats",
                url,
                "-s",
                SUBJECT,
                "--format",
                "jsonl",
                "-n",
                str(n),
                *fargs,
            ],
            "lines",
        ),
        Contender(
            STORE,
            lambda n: [
                PY,
                "-m",
                "bench.consumers.evmon_store",
                "--nats",
                url,
                "-s",
                SUBJECT,
                str(n),
                *fargs,
                *_args(ctx),
            ],
            "report",
        ),
    ]
    why = dashboard_available()
    if why is None:
        cs.append(
            Contender(
                DASHBOARD,
                lambda n: [
                    PY,
                    "-m",
                    "bench.consumers.dashboard",
                    "--nats",
                    url,
                    "-s",
                    SUBJECT,
                    str(n),
                    *fargs,
                    *_args(ctx),
                ],
                "report",
            )
        )
    else:
        ctx.note(f"dashboard ingest skipped: {why}")
    return cs


def bench_nats(ctx: Context) -> dict[str, Any]:
    """1. NATS core ingest of a bounded flood, per payload size."""
    out: dict[str, Any] = {}
    contenders = nats_contenders(ctx)
    nats_bin = ctx.peer("nats")
    if nats_bin is not None:
        url = ctx.nats().url
        contenders.append(
            Contender(
                NATS_SUB,
                lambda n: [nats_bin, "-s", url, "sub", SUBJECT, "--raw", "--count", str(n)],
                "lines",
            )
        )
    for size in ctx.sizes.nats_sizes:
        print(f"  NATS core, {ctx.sizes.nats_count:,} x {size} B", flush=True)
        summaries = rounds(
            ctx, contenders, lambda c, s=size: run_nats_once(ctx, c, ctx.sizes.nats_count, s)
        )
        out[str(size)] = {k: v.as_dict() for k, v in summaries.items()}
    return out


def bench_filter(ctx: Context) -> dict[str, Any]:
    """3. The same NATS flood read with and without a three-term filter."""
    size = 128
    plain = nats_contenders(ctx)
    filtered = nats_contenders(ctx, FILTER_ALL)
    contenders = [c for c in plain if c.name != RAW_NATS]
    for c in filtered:
        if c.name != RAW_NATS:
            c.name += " +filter"
            contenders.append(c)
    print(f"  filter {FILTER_ALL!r}, {ctx.sizes.filter_count:,} x {size} B", flush=True)
    summaries = rounds(
        ctx, contenders, lambda c: run_nats_once(ctx, c, ctx.sizes.filter_count, size)
    )
    return {
        "filter": FILTER_ALL,
        "size": size,
        "results": {k: v.as_dict() for k, v in summaries.items()},
    }


def bench_paced(ctx: Context) -> dict[str, Any]:
    """The dashboard target's second half: no drops at 20,000 msgs/s (paced, not a flood)."""
    sz = ctx.sizes
    count = int(sz.paced_rate * sz.paced_seconds)
    contenders = [c for c in nats_contenders(ctx) if c.name in (STORE, DASHBOARD)]
    print(f"  paced {sz.paced_rate:,.0f} msgs/s for {sz.paced_seconds:g} s, 1024 B", flush=True)
    out: dict[str, Any] = {"rate": sz.paced_rate, "count": count}
    for c in contenders:
        run = run_nats_once(ctx, c, count, 1024, sz.paced_rate)
        lost = run.dropped + max(run.expected - run.count, 0)
        print(f"    {c.name}: {run.error or f'{run.count:,}/{count:,}, lost {lost:,}'}", flush=True)
        out[c.name] = {
            "received": run.count,
            "lost": None if run.error else lost,
            "error": run.error,
        }
    return out


# ------------------------------------------------------------------------------ Kafka


def fill_topic(ctx: Context, bootstrap: str, count: int, size: int) -> float:
    """Create the 3-partition topic and produce ``count`` JSON records with Kafka's own
    ProducerPerformance tool (Java: fast, and already in the broker's jars)."""
    broker = ctx.kafka()
    assert broker is not None
    t0 = time.monotonic()
    made = broker.run_kafka_tool(
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        bootstrap,
        "--create",
        "--if-not-exists",
        "--topic",
        TOPIC,
        "--partitions",
        str(PARTITIONS),
        "--replication-factor",
        "1",
    )
    if made.returncode != 0:
        raise RuntimeError(f"creating topic {TOPIC} failed: {made.stderr.strip()[-400:]}")
    with tempfile.TemporaryDirectory(prefix="evmon-bench-") as tmp:
        payloads = Path(tmp) / "payloads.jsonl"
        payloads.write_bytes(b"\n".join(json_payload(i, size) for i in range(1000)) + b"\n")
        proc = broker.run_kafka_tool(
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            TOPIC,
            "--num-records",
            str(count),
            "--throughput",
            "-1",
            "--payload-file",
            str(payloads),
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=1",
            "linger.ms=20",
            "batch.size=1048576",
            "compression.type=none",
            timeout=900,
        )
    if proc.returncode != 0 or "records sent" not in proc.stdout:
        out = (proc.stdout + proc.stderr).strip()[-600:]
        raise RuntimeError(f"ProducerPerformance failed: {out}")
    return time.monotonic() - t0


def topic_size(bootstrap: str) -> int:
    """Records in the topic (sum of end offsets), checked before anyone reads it."""
    out = subprocess.run(
        [PY, "-c", _END_OFFSETS, bootstrap, TOPIC], capture_output=True, text=True, timeout=120
    )
    return int(out.stdout.strip() or 0)


_END_OFFSETS = """
import asyncio, sys
from aiokafka import AIOKafkaConsumer, TopicPartition
async def main():
    c = AIOKafkaConsumer(bootstrap_servers=sys.argv[1], group_id=None)
    await c.start()
    try:
        cluster = await c._client.fetch_all_metadata()
        tps = [TopicPartition(sys.argv[2], p) for p in cluster.partitions_for_topic(sys.argv[2])]
        print(sum((await c.end_offsets(tps)).values()))
    finally:
        await c.stop()
asyncio.run(main())
"""


def kafka_contenders(ctx: Context, b: str) -> list[Contender]:
    """The Kafka contenders reading TOPIC on broker ``b`` from its first record."""
    cs = [
        Contender(
            RAW_KAFKA,
            lambda n: [PY, "-m", "bench.consumers.raw_kafka", b, TOPIC, str(n), *_args(ctx)],
            "report",
        ),
        Contender(
            TAIL,
            lambda n: [
                PY,
                "-m",
                "evmon",
                "tail",
                "--kafka",
                b,
                "-t",
                TOPIC,
                "--from",
                "first",
                "--format",
                "jsonl",
                "-n",
                str(n),
            ],
            "lines",
        ),
        Contender(
            STORE,
            lambda n: [
                PY,
                "-m",
                "bench.consumers.evmon_store",
                "--kafka",
                b,
                "-t",
                TOPIC,
                str(n),
                *_args(ctx),
            ],
            "report",
        ),
    ]
    if dashboard_available() is None:
        cs.append(
            Contender(
                DASHBOARD,
                lambda n: [
                    PY,
                    "-m",
                    "bench.consumers.dashboard",
                    "--kafka",
                    b,
                    "-t",
                    TOPIC,
                    str(n),
                    *_args(ctx),
                ],
                "report",
            )
        )
    kcat_bin = ctx.peer("kcat")
    if kcat_bin is not None:
        cs.append(
            Contender(
                KCAT,
                lambda n: [kcat_bin, "-C", "-b", b, "-t", TOPIC, "-o", "beginning", "-e", "-q"],
                "lines",
            )
        )
    return cs


def bench_kafka(ctx: Context) -> dict[str, Any] | None:
    """2. A pre-filled 3-partition topic read from its beginning."""
    broker = ctx.kafka()
    if broker is None:
        return None
    sz = ctx.sizes
    count = sz.kafka_count
    b = broker.bootstrap
    print(f"  Kafka: filling {TOPIC} with {count:,} x {sz.kafka_size} B", flush=True)
    seconds = fill_topic(ctx, b, count, sz.kafka_size)
    have = topic_size(b)
    if have != count:
        raise RuntimeError(f"topic {TOPIC} holds {have} records, expected {count}")
    print(f"    filled in {seconds:.1f} s", flush=True)
    cs = kafka_contenders(ctx, b)
    summaries = rounds(ctx, cs, lambda c: run_kafka_once(ctx, c, count))
    return {
        "count": count,
        "size": sz.kafka_size,
        "partitions": PARTITIONS,
        "fill_seconds": round(seconds, 1),
        "results": {k: v.as_dict() for k, v in summaries.items()},
    }
