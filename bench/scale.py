"""Benchmark 9 (issue 14): a cluster view at scale, on real brokers.

- **Lag**: 200 Kafka groups x 50 partitions (one 50-partition topic, every group committed
  on every partition) and 1,000 durable JetStream consumers on one stream. ``LagPoller``
  (what ``evmon lag`` and the lag screen poll) refreshes both at once, in this process: the
  wall time of a refresh (median of the rounds after the first, which also connects and
  finds the coordinators), the requests one round sends (counted on the clients: Kafka by
  API, NATS by request subject) and the longest stall of the event loop during a refresh
  (a 5 ms ticker: how long a UI sharing the loop would not answer). ``evmon lag`` as a
  command is timed too (start-up, connect, one round, print).
- **Topic pattern**: ``evmon tail --topic-pattern '.*' --from first`` over 1,000 one-
  partition topics holding one record each: time to all 1,000 records and the tail's idle
  CPU afterwards (it refreshes the metadata of all topics every 2 s).
- **Big stream**: a JetStream stream of 5,000,000 x 128 B messages read from the first by
  ``evmon tail --stream`` against a stream of 200,000: the rate over the same number of
  messages (the first 200,000) and the CPU per message.

A quick run uses small counts (10 groups x 5 partitions, 50 consumers, 20 topics, 50,000 vs
5,000 messages): it checks the harness, not the scale.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from typing import Any

from bench import fixtures
from bench.context import Context, dashboard_available
from bench.harness import (
    PY,
    PipeCounter,
    Proc,
    cpu_seconds,
    nats_subscriptions,
    read_report,
    wait_subscribed,
)
from bench.payloads import json_payload, subject_of
from bench.publish_nats import Conn
from bench.rss import rss_bytes
from bench.scale_lag import bench_lag
from bench.startup import evmon_command

LAG_REFRESH_LIMIT = 2.0
STALL_LIMIT = 0.1
SAME_RATE = 0.8  # the big stream's rate over the small one's
TREE_ECHO_MS = 50
TREE_RSS_MB = 300  # the dashboard's own limit with 100,000 x 1 KiB retained (issue 8)


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {
            "groups": 10,
            "partitions": 5,
            "consumers": 50,
            "topics": 20,
            "big": 50_000,
            "small": 5_000,
            "rounds": 2,
            "subjects": 2_000,
        }
    return {
        "groups": 200,
        "partitions": 50,
        "consumers": 1_000,
        "topics": 1_000,
        "big": 5_000_000,
        "small": 200_000,
        "rounds": 5,
        "subjects": 100_000,
    }


# ------------------------------------------------------------------------------ lag


def bench_pattern(ctx: Context, topics: int) -> dict[str, Any] | None:
    broker = ctx.kafka()
    if broker is None:
        return None
    t0 = time.monotonic()
    asyncio.run(_many_topics(broker.bootstrap, topics))
    print(f"  --topic-pattern over {topics} topics (made in {time.monotonic() - t0:.0f} s)")
    argv = [*evmon_command(), "tail", "--kafka", broker.bootstrap, "--topic-pattern"]
    argv += [r"bench\.many\..*", "--from", "first", "--format", "jsonl"]
    t0 = time.perf_counter()
    with Proc(argv) as proc:
        counter = PipeCounter(proc.stdout_fd, proc.popen.pid)
        counter.start()
        deadline = time.monotonic() + 120
        while counter.count < topics and time.monotonic() < deadline and proc.running():
            time.sleep(0.02)
        all_in = time.perf_counter() - t0 if counter.count >= topics else None
        c0, w0 = cpu_seconds(proc.popen.pid) or 0.0, time.monotonic()
        time.sleep(10 if not ctx.quick else 2)
        c1, w1 = cpu_seconds(proc.popen.pid) or 0.0, time.monotonic()
        count = counter.count
        error = None if proc.running() else proc.stderr_tail()
    out: dict[str, Any] = {
        "topics": topics,
        "all_records_s": None if all_in is None else round(all_in, 3),
        "records": count,
        "idle_cpu_pct": round((c1 - c0) / (w1 - w0) * 100, 1),
    }
    if error:
        out["error"] = error
    print(f"    all {count} records in {out['all_records_s']} s; idle CPU {out['idle_cpu_pct']}%")
    return out


async def _many_topics(bootstrap: str, topics: int) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [f"bench.many.{i:04d}" for i in range(topics)]
        for lo in range(0, topics, 200):
            await admin.create_topics([NewTopic(n, 1, 1) for n in names[lo : lo + 200]])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(n, b'{"one":1}', partition=0) for n in names]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


# ------------------------------------------------------------------------- big stream


def read_rate(nats_url: str, stream: str, count: int) -> dict[str, Any]:
    argv = [*evmon_command(), "tail", "--nats", nats_url, "--stream", stream]
    argv += ["--from", "first", "-n", str(count), "--format", "jsonl"]
    t0 = time.perf_counter()
    with Proc(argv) as proc:
        counter = PipeCounter(proc.stdout_fd, proc.popen.pid)
        counter.start()
        proc.popen.wait(600)
        counter.join(5)
    seconds = counter.last - counter.first
    n = counter.count - counter.first_count
    return {
        "count": counter.count,
        "first_line_s": round(counter.first - t0, 3) if counter.first else None,
        "rate": round(n / seconds) if seconds > 0 else None,
        "cpu_us": None if counter.cpu_us is None else round(counter.cpu_us, 2),
    }


def bench_big_stream(ctx: Context, big: int, small: int, repeats: int) -> dict[str, Any]:
    t0 = time.monotonic()
    url = fixtures.jetstream_stream(ctx, "BIGSTREAM", big, 128)
    fixtures.jetstream_stream(ctx, "SMALLSTREAM", small, 128)
    print(f"  streams of {big:,} and {small:,} messages (filled in {time.monotonic() - t0:.0f} s)")
    runs: dict[str, list[dict[str, Any]]] = {"big": [], "small": []}
    for _ in range(repeats):
        runs["big"].append(read_rate(url, "BIGSTREAM", small))
        runs["small"].append(read_rate(url, "SMALLSTREAM", small))
    out: dict[str, Any] = {"big": big, "small": small, "runs": runs}
    for name, rs in runs.items():
        rates = [r["rate"] for r in rs if r["rate"]]
        cpus = [r["cpu_us"] for r in rs if r["cpu_us"]]
        out[f"{name}_rate"] = statistics.median(rates) if rates else None
        out[f"{name}_cpu_us"] = statistics.median(cpus) if cpus else None
        out[f"{name}_first_line_s"] = statistics.median(
            [r["first_line_s"] for r in rs if r["first_line_s"] is not None] or [0]
        )
    print(
        f"    first {small:,} of the big stream: {out['big_rate']} msgs/s, of the small: "
        f"{out['small_rate']} msgs/s",
        flush=True,
    )
    return out


# ----------------------------------------------------------------------- subject tree


class DistinctPublisher(threading.Thread):
    """Publishes at ``rate`` msgs/s on ``distinct`` subjects ``bench.<region>.<kind>.<n>``
    (raw protocol, paced in 10 ms slices) until stopped."""

    def __init__(self, url: str, rate: float, distinct: int) -> None:
        super().__init__(daemon=True)
        self.url, self.rate, self.distinct = url, rate, distinct
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        conn = Conn(self.url)
        t0 = time.perf_counter()
        try:
            while not self.stop.is_set():
                due = int((time.perf_counter() - t0) * self.rate) + 1
                if due <= self.sent:
                    time.sleep(0.01)
                    continue
                frames = []
                for i in range(self.sent, due):
                    payload = json_payload(i, 256)
                    subject = f"{subject_of(i)}.{i % self.distinct:06d}".encode()
                    frames.append(b"PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload))
                conn.send(b"".join(frames))
                self.sent = due
                conn.answer_pings()
        finally:
            conn.sock.close()


def bench_tree(ctx: Context, distinct: int) -> dict[str, Any] | None:
    """The dashboard (headless, the key-paint consumer) retaining ``distinct`` events on as
    many distinct subjects, under a paced flood that keeps adding new ones: key echo and RSS."""
    if dashboard_available() is not None:
        return None
    server = ctx.nats()
    cycles = 3 if ctx.quick else 10
    rate = 20_000.0
    argv = [PY, "-m", "bench.consumers.keypaint", "--nats", server.url, "-s", "bench.>"]
    argv += ["--warmup", str(distinct), "--cycles", str(cycles), "--capacity", str(distinct)]
    argv += ["--deadline", "300"]
    print(f"  subject tree: {distinct:,} distinct subjects at {rate:,.0f} msgs/s", flush=True)
    before = nats_subscriptions(server.monitor_url)
    rss: list[int] = []
    with Proc(argv) as proc:
        wait_subscribed(server.monitor_url, before, proc)
        pub = DistinctPublisher(server.url, rate, distinct * 2)  # twice: new ones keep coming
        pub.start()
        try:
            deadline = time.monotonic() + 600
            while proc.running() and time.monotonic() < deadline:
                rss.append(rss_bytes(proc.popen.pid))
                time.sleep(0.5)
            rep = read_report(proc, 60)
        finally:
            pub.stop.set()
            pub.join(5)
    echo = sorted(v * 1000 for v in rep["echo"])
    p99 = echo[max(0, -(-len(echo) * 99 // 100) - 1)] if echo else None
    sampled = [r for r in rss if r]
    out = {
        "distinct": distinct,
        "retained": rep["retained"],
        "published": pub.sent,
        "echo_p50_ms": round(statistics.median(echo), 1) if echo else None,
        "echo_p99_ms": None if p99 is None else round(p99, 1),
        "rss_max_mb": round(max(sampled) / 2**20, 1) if sampled else None,
        "rss_end_mb": round(sampled[-1] / 2**20, 1) if sampled else None,
        "dropped": rep["dropped"],
    }
    print(
        f"    key echo p50 {out['echo_p50_ms']} ms p99 {out['echo_p99_ms']} ms; "
        f"RSS max {out['rss_max_mb']} MB",
        flush=True,
    )
    return out


def bench_scale(ctx: Context) -> dict[str, Any]:
    sizes = _sizes(ctx.quick)
    out: dict[str, Any] = {"quick": ctx.quick}
    out["tree"] = bench_tree(ctx, sizes["subjects"])
    out["lag"] = bench_lag(ctx, sizes)
    out["pattern"] = bench_pattern(ctx, sizes["topics"])
    out["big_stream"] = bench_big_stream(
        ctx, sizes["big"], sizes["small"], sizes["rounds"] // 2 + 1
    )
    os.sync()
    return out


# ------------------------------------------------------------------------- reporting


def targets(b: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: str, limit: str, ok: bool | None, note: str = "") -> None:
        out.append({"target": name, "measured": value, "limit": limit, "ok": ok, "note": note})

    lag = b.get("lag")
    if lag:
        scale = f"{lag['groups']} groups x {lag['partitions']} partitions"
        scale += f" + {lag['consumers']} consumers"
        add(
            f"lag refresh, {scale}",
            f"{lag['refresh_s']:.2f} s",
            f"<= {LAG_REFRESH_LIMIT} s",
            lag["refresh_s"] <= LAG_REFRESH_LIMIT,
            f"first {lag['first_s']:.2f} s; evmon lag {lag['command_s']:.2f} s",
        )
        k = lag["requests"]["kafka"]
        fetches = k.get("OffsetFetchGroups", 0) + k.get("OffsetFetchRequest", 0)
        add(
            "lag round: OffsetFetch requests (batched, not one per group)",
            f"{fetches}",
            f"< {lag['groups']} groups",
            fetches < lag["groups"],
            ", ".join(f"{n} {c}" for n, c in sorted(k.items())),
        )
        add(
            "event loop stall during a lag refresh",
            f"{lag['stall_s'] * 1000:.0f} ms",
            f"<= {STALL_LIMIT * 1000:.0f} ms",
            lag["stall_s"] <= STALL_LIMIT,
        )
        screen = lag.get("screen") or {}
        if "stall_s" in screen:
            add(
                "lag screen: event loop stall during a refresh (poll + draw)",
                f"{screen['stall_s'] * 1000:.0f} ms",
                f"<= {STALL_LIMIT * 1000:.0f} ms",
                screen["stall_s"] <= STALL_LIMIT,
                f"l to first round {screen['first_s']:.2f} s; a round {screen['round_s']:.2f} s",
            )
    pat = b.get("pattern")
    if pat:
        v = pat["all_records_s"]
        add(
            f"--topic-pattern over {pat['topics']} topics: all records",
            "-" if v is None else f"{v:.2f} s",
            "-",
            None if v is None else True,
            f"idle CPU {pat['idle_cpu_pct']}%",
        )
    tree = b.get("tree")
    if tree and tree.get("echo_p99_ms") is not None:
        add(
            f"key echo p99, subject tree of {tree['distinct']:,} distinct subjects",
            f"{tree['echo_p99_ms']:.0f} ms (p50 {tree['echo_p50_ms']:.0f})",
            f"<= {TREE_ECHO_MS} ms",
            tree["echo_p99_ms"] <= TREE_ECHO_MS,
            f"RSS max {tree['rss_max_mb']} MB",
        )
        add(
            f"RSS, subject tree of {tree['distinct']:,} distinct subjects",
            f"{tree['rss_max_mb']} MB (end {tree['rss_end_mb']} MB)",
            f"<= {TREE_RSS_MB} MB",
            tree["rss_max_mb"] is not None and tree["rss_max_mb"] <= TREE_RSS_MB,
        )
    big = b.get("big_stream")
    if big and big.get("big_rate") and big.get("small_rate"):
        q = big["big_rate"] / big["small_rate"]
        add(
            f"stream of {big['big']:,} read from first vs one of {big['small']:,}",
            f"{q:.0%}",
            f">= {SAME_RATE:.0%}",
            q >= SAME_RATE,
            f"{big['big_rate']:,.0f} vs {big['small_rate']:,.0f} msgs/s",
        )
    return out


def markdown(b: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## 9. Scale (real brokers" + (", quick sizes" if b.get("quick") else "") + ")",
        "",
    ]
    lag = b.get("lag")
    if lag:
        lines += [
            f"Lag: {lag['groups']} Kafka groups x {lag['partitions']} partitions and "
            f"{lag['consumers']} JetStream consumers ({lag['rows']['kafka']:,} + "
            f"{lag['rows']['jetstream']:,} rows).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| first refresh (connect, coordinators) | {lag['first_s']:.3f} s |",
            f"| refresh (median of {len(lag['refresh_runs_s'])}) | {lag['refresh_s']:.3f} s |",
            f"| longest event-loop stall during a refresh | {lag['stall_s'] * 1000:.0f} ms |",
            f"| `evmon lag --format json` (whole command) | {lag['command_s']:.3f} s |",
            "| refresh with one OffsetFetch per group (before; brokers before Kafka 3.0) "
            f"| {lag['one_per_group']['refresh_s']:.3f} s, stall "
            f"{lag['one_per_group']['stall_s'] * 1000:.0f} ms |",
            f"| lag screen: `l` to the first round drawn; a round (poll + draw); loop stall "
            f"| {(lag.get('screen') or {}).get('first_s')} s; "
            f"{(lag.get('screen') or {}).get('round_s')} s; "
            f"{(lag.get('screen') or {}).get('stall_s')} s |",
            "| Kafka requests per round | "
            + ", ".join(f"{n} {c}" for n, c in sorted(lag["requests"]["kafka"].items()))
            + " |",
            "| NATS requests per round | "
            + ", ".join(f"{n} {c}" for n, c in sorted(lag["requests"]["nats"].items()))
            + " |",
        ]
    tree = b.get("tree")
    if tree:
        lines += [
            "",
            f"Subject tree: {tree['retained']:,} retained events on {tree['distinct']:,} distinct "
            f"subjects, new subjects arriving at 20,000 msgs/s: key echo p50 "
            f"{tree['echo_p50_ms']} ms, p99 {tree['echo_p99_ms']} ms; RSS max "
            f"{tree['rss_max_mb']} MB, at the end {tree['rss_end_mb']} MB.",
        ]
    pat = b.get("pattern")
    if pat:
        lines += [
            "",
            f"`--topic-pattern` over {pat['topics']:,} topics (one record each): all records in "
            f"{pat['all_records_s']} s; idle CPU afterwards {pat['idle_cpu_pct']}%.",
        ]
    big = b.get("big_stream")
    if big:
        lines += [
            "",
            f"| stream, read from first (first {big['small']:,}) | msgs/s | CPU µs/msg "
            "| first line |",
            "|---|---|---|---|",
        ]
        for which in ("big", "small"):
            lines.append(
                f"| {big[which]:,} messages | {big[f'{which}_rate'] or 0:,.0f} "
                f"| {big[f'{which}_cpu_us']} | {big[f'{which}_first_line_s']} s |"
            )
        lines += []
    return lines


def main(argv: list[str] | None = None) -> int:
    """One part alone, printed as JSON: the subject tree
    (``python -m bench.scale tree [--quick] [--distinct N]``) or the lag part (``python -m
    bench.scale lag [--quick]``: the poller's refreshes, one OffsetFetch per group, ``evmon
    lag`` and the lag screen, on brokers of its own)."""
    import argparse
    import json

    from bench.context import FULL, QUICK

    p = argparse.ArgumentParser(prog="python -m bench.scale")
    p.add_argument("part", choices=["tree", "lag"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--distinct", type=int, help="distinct subjects (default: the run's size)")
    a = p.parse_args(argv)
    ctx = Context(QUICK if a.quick else FULL, quick=a.quick, install_peers=False)
    try:
        if a.part == "lag":
            out = bench_lag(ctx, _sizes(a.quick))
        else:
            out = bench_tree(ctx, a.distinct or _sizes(a.quick)["subjects"])
    finally:
        ctx.close()
    print(json.dumps(out))
    return 0 if out is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
