"""Issue 14's stream reads: a whole JetStream stream and a Kafka topic of small records,
each against the raw client library doing nothing with what it reads.

1. **JetStream**: a stream of 200,000 x 128 B JSON messages (memory storage, eight
   subjects) read from its first message by a raw nats-py ordered-consumer callback reader
   that only counts (``bench.consumers.raw_jetstream``), ``evmon tail --stream S --from
   first --format jsonl``, evmon's store+index and the headless dashboard
   (``bench.consumers.evmon_stream``).
2. **Kafka, small records**: 500,000 x 128 B in a 3-partition topic read from the first
   offset by raw aiokafka (``bench.consumers.raw_kafka``), ``evmon tail --format jsonl``
   and the floor under it (``bench.consumers.floor_kafka``: the least Python work that
   writes such lines, on evmon's own read).

The figure is CPU time per message (``cpu_us``); ``cpu_ratio`` is raw / evmon, so above 1.0
evmon spends less per message than the raw reader. Both are medians of the rounds, and the
contenders alternate round by round on the same brokers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.context import NATS_CONFIG, Context
from bench.harness import PY, PipeCounter, Proc, Run, Summary, publish, read_report, wait_lines
from bench.ingest import PARTITIONS, Contender, rounds
from tests.brokers import NatsServer

STREAM = "BENCH_JS"
TOPIC = "bench-small"
SIZE = 128
JS_COUNT, JS_QUICK = 200_000, 5_000
KAFKA_COUNT, KAFKA_QUICK = 500_000, 20_000

RAW_JS = "raw nats-py ordered consumer"
TAIL = "evmon tail --stream jsonl"
STORE = "evmon store+index --stream"
DASHBOARD = "evmon dashboard --stream"
RAW_KAFKA = "raw aiokafka"
KAFKA_TAIL = "evmon tail jsonl"
KAFKA_FLOOR = "python floor (loads, dumps, join, write)"
#: Issue 14: raw / evmon CPU per message.
JS_TARGET = 1.0
KAFKA_TARGET = 0.8

_servers: dict[int, NatsServer] = {}


def js_server(ctx: Context) -> NatsServer:
    """A JetStream-enabled nats-server of this benchmark's own (the shared one has none)."""
    server = _servers.get(id(ctx))
    if server is None:
        server = NatsServer(config=NATS_CONFIG, jetstream=True, name="evmon-bench-js")
        ctx._stack.enter_context(server)
        ctx._stack.callback(_servers.pop, id(ctx), None)
        _servers[id(ctx)] = server
    return server


async def _stream_size(url: str, create: int = 0) -> int:
    """Messages in the stream once its count stopped growing (the server's ingest queue
    may still hold some when the publisher is done); ``create`` makes it, capped there."""
    import nats
    import nats.js.api

    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=30)
        if create:
            await js.add_stream(
                name=STREAM, subjects=["bench.>"], storage="memory", max_msgs=create,
                discard=nats.js.api.DiscardPolicy.NEW,
            )  # fmt: skip
        have = -1
        while True:
            now = int((await js.stream_info(STREAM)).state.messages)
            if now == have:
                return now
            have = now
            await asyncio.sleep(0.3)
    finally:
        await nc.close()


def fill_stream(url: str, count: int) -> float:
    """The stream with exactly ``count`` messages: a core flood (bench.publish_nats) that the
    stream captures, topped up at a paced rate where the server's ingest queue dropped some."""
    t0 = time.monotonic()
    have = asyncio.run(_stream_size(url, create=count))
    while have < count:
        rate = None if have == 0 else 50_000.0
        publish(url, count - have, SIZE, rate, start=have)
        got = asyncio.run(_stream_size(url))
        if got == have:
            raise RuntimeError(f"stream {STREAM} stays at {got} of {count} messages")
        have = got
    if have != count:
        raise RuntimeError(f"stream {STREAM} holds {have} messages, expected {count}")
    return time.monotonic() - t0


def _once(ctx: Context, c: Contender, count: int) -> Run:
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


def _args(ctx: Context) -> list[str]:
    return ["--idle", str(ctx.sizes.idle), "--deadline", str(ctx.sizes.deadline)]


def _with_ratios(summaries: dict[str, Summary], base: str) -> dict[str, Any]:
    out = {k: v.as_dict() for k, v in summaries.items()}
    raw = summaries[base].cpu_us if base in summaries else None
    for name, s in summaries.items():
        cpu = s.cpu_us
        out[name]["cpu_ratio"] = raw / cpu if raw and cpu else None
        if name != base and out[name]["cpu_ratio"]:
            print(f"    {name}: raw/evmon CPU per message {out[name]['cpu_ratio']:.2f}")
    return out


def bench_jetstream(ctx: Context) -> dict[str, Any]:
    """1. A whole stream read from its first message, raw ordered consumer vs evmon."""
    count = JS_QUICK if ctx.quick else JS_COUNT
    url = js_server(ctx).url
    print(f"  JetStream: filling {STREAM} with {count:,} x {SIZE} B", flush=True)
    seconds = fill_stream(url, count)
    print(f"    filled in {seconds:.1f} s", flush=True)
    cs = [
        Contender(
            RAW_JS,
            lambda n: [PY, "-m", "bench.consumers.raw_jetstream", url, STREAM, str(n), *_args(ctx)],
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
                "--stream",
                STREAM,
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
                "bench.consumers.evmon_stream",
                "store",
                url,
                STREAM,
                str(n),
                *_args(ctx),
            ],
            "report",
        ),
        Contender(
            DASHBOARD,
            lambda n: [
                PY,
                "-m",
                "bench.consumers.evmon_stream",
                "dashboard",
                url,
                STREAM,
                str(n),
                *_args(ctx),
            ],
            "report",
        ),
    ]
    if ctx.contenders:
        cs = [c for c in cs if c.name == RAW_JS or any(w in c.name for w in ctx.contenders)]
    summaries = _rounds(ctx, cs, lambda c: _once(ctx, c, count))
    return {
        "count": count,
        "size": SIZE,
        "fill_seconds": round(seconds, 1),
        "results": _with_ratios(summaries, RAW_JS),
    }


def _rounds(ctx: Context, cs: list[Contender], once: Any) -> dict[str, Summary]:
    saved, ctx.contenders = ctx.contenders, ()  # filtered here already
    try:
        return rounds(ctx, cs, once)
    finally:
        ctx.contenders = saved


def _fill_topic(ctx: Context, bootstrap: str, count: int) -> float:
    import tempfile
    from pathlib import Path

    from bench.payloads import json_payload

    broker = ctx.kafka()
    assert broker is not None
    t0 = time.monotonic()
    made = broker.run_kafka_tool(
        "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap, "--create",
        "--if-not-exists", "--topic", TOPIC, "--partitions", str(PARTITIONS),
        "--replication-factor", "1",
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"creating topic {TOPIC} failed: {made.stderr.strip()[-400:]}")
    with tempfile.TemporaryDirectory(prefix="evmon-bench-") as tmp:
        payloads = Path(tmp) / "payloads.jsonl"
        payloads.write_bytes(b"\n".join(json_payload(i, SIZE) for i in range(1000)) + b"\n")
        proc = broker.run_kafka_tool(
            "org.apache.kafka.tools.ProducerPerformance", "--topic", TOPIC, "--num-records",
            str(count), "--throughput", "-1", "--payload-file", str(payloads),
            "--producer-props", f"bootstrap.servers={bootstrap}", "acks=1", "linger.ms=20",
            "batch.size=1048576", "compression.type=none",
            timeout=900,
        )  # fmt: skip
    if proc.returncode != 0 or "records sent" not in proc.stdout:
        raise RuntimeError(f"ProducerPerformance failed: {(proc.stdout + proc.stderr)[-600:]}")
    return time.monotonic() - t0


def bench_kafka_small(ctx: Context) -> dict[str, Any] | None:
    """2. 500,000 x 128 B Kafka records as JSON lines against raw aiokafka doing nothing."""
    broker = ctx.kafka()
    if broker is None:
        return None
    count = KAFKA_QUICK if ctx.quick else KAFKA_COUNT
    b = broker.bootstrap
    print(f"  Kafka: filling {TOPIC} with {count:,} x {SIZE} B", flush=True)
    seconds = _fill_topic(ctx, b, count)
    cs = [
        Contender(
            RAW_KAFKA,
            lambda n: [PY, "-m", "bench.consumers.raw_kafka", b, TOPIC, str(n), *_args(ctx)],
            "report",
        ),
        Contender(
            KAFKA_TAIL,
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
            KAFKA_FLOOR,
            lambda n: [PY, "-m", "bench.consumers.floor_kafka", b, TOPIC, str(n)],
            "lines",
        ),
    ]
    summaries = _rounds(ctx, cs, lambda c: _once(ctx, c, count))
    return {
        "count": count,
        "size": SIZE,
        "partitions": PARTITIONS,
        "fill_seconds": round(seconds, 1),
        "results": _with_ratios(summaries, RAW_KAFKA),
    }


def targets(b: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 14's CPU-per-message targets (raw / evmon) of the JetStream or Kafka run."""
    res = b.get("results") or {}
    out: list[dict[str, Any]] = []

    def ratio(name: str) -> float | None:
        value = (res.get(name) or {}).get("cpu_ratio")
        return float(value) if value else None

    if RAW_JS in res:
        for name in (TAIL, STORE, DASHBOARD):
            if name in res:
                q = ratio(name)
                out.append(
                    {
                        "target": f"JetStream {name}: raw ordered consumer / evmon, CPU per msg",
                        "measured": "no figure" if q is None else f"{q:.2f}",
                        "limit": f">= {JS_TARGET:.1f}",
                        "ok": q is not None and q >= JS_TARGET,
                        "note": "",
                    }
                )
    if RAW_KAFKA in res and KAFKA_TAIL in res:
        q, floor = ratio(KAFKA_TAIL), ratio(KAFKA_FLOOR)
        note = "" if floor is None else f"floor {floor:.2f} ({KAFKA_FLOOR})"
        if q is not None and floor is not None:
            note += f"; evmon at {q / floor:.0%} of the floor"
        out.append(
            {
                "target": f"Kafka {KAFKA_TAIL} {b['size']} B: raw aiokafka / evmon, CPU per msg",
                "measured": "no figure" if q is None else f"{q:.2f}",
                "limit": f">= {KAFKA_TARGET:.1f}",
                "ok": q is not None and q >= KAFKA_TARGET,
                "note": note,
            }
        )
    return out


def markdown(b: dict[str, Any]) -> list[str]:
    res = b.get("results") or {}
    if RAW_JS in res:
        title = (
            f"## 11. JetStream stream read from first ({b['count']:,} x {b['size']} B), "
            "against a raw nats-py ordered consumer doing nothing"
        )
    else:
        title = (
            f"## 12. Kafka small records from first ({b['count']:,} x {b['size']} B, "
            f"{b['partitions']} partitions), against raw aiokafka doing nothing"
        )
    lines = [
        "",
        title,
        "",
        "| contender | CPU µs/msg | raw / contender | msgs/s |",
        "|---|---|---|---|",
    ]
    for name, e in res.items():
        cpu = e.get("cpu_us")
        q = e.get("cpu_ratio")
        rate = e.get("median")
        lines.append(
            f"| {name} | {'-' if cpu is None else f'{cpu:.2f}'} | "
            f"{'-' if q is None else f'{q:.2f}'} | {'-' if rate is None else f'{rate:,.0f}'} |"
        )
    return lines
