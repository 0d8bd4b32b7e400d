"""Benchmark 5: key press to painted frame in the dashboard under a 20,000 msgs/s flood."""

from __future__ import annotations

import statistics
from typing import Any

from bench.context import Context, dashboard_available
from bench.harness import PY, Proc, nats_subscriptions, read_report, wait_subscribed
from bench.ingest import SUBJECT

SIZE = 512


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 30 samples is the largest)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))
    return ordered[int(k)]


def _stats(ms: list[float]) -> dict[str, Any]:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


def bench_keys(ctx: Context) -> dict[str, Any] | None:
    why = dashboard_available()
    if why is not None:
        ctx.note(f"responsiveness skipped: {why}")
        return None
    sz = ctx.sizes
    server = ctx.nats()
    capacity = 100_000 if not ctx.quick else 2_000
    warmup = capacity  # a full store: the re-filter on enter covers all of it
    cycles = sz.key_presses
    # Enough flood for warm-up plus every key, generously (a cycle takes 1-5 s): the flood
    # must outlast the typing. The publisher is stopped as soon as the typing is done.
    seconds = warmup / sz.paced_rate + cycles * 15.0 + 30
    count = int(sz.paced_rate * seconds)
    print(
        f"  key to paint: {cycles} filter cycles under {sz.paced_rate:,.0f} msgs/s "
        f"({capacity:,} retained)",
        flush=True,
    )
    argv = [
        PY,
        "-m",
        "bench.consumers.keypaint",
        "--nats",
        server.url,
        "-s",
        SUBJECT,
        "--warmup",
        str(warmup),
        "--cycles",
        str(cycles),
        "--capacity",
        str(capacity),
    ]
    before = nats_subscriptions(server.monitor_url)
    with Proc(argv) as proc:
        try:
            wait_subscribed(server.monitor_url, before, proc)
            pub_argv = [
                PY,
                "-m",
                "bench.publish_nats",
                server.url,
                str(count),
                str(SIZE),
                "--rate",
                str(sz.paced_rate),
            ]
            with Proc(pub_argv):
                rep = read_report(proc, seconds + 120)
        except RuntimeError as err:
            print(f"    error: {err}", flush=True)
            return {"error": str(err)}
    echo = [s * 1000 for s in rep["echo"]]
    apply = [s * 1000 for s in rep["apply"]]
    out = {
        "rate": sz.paced_rate,
        "retained": rep["retained"],
        "cycles": cycles,
        "ingest_rate": round(rep["ingest_rate"]),
        "dropped": rep["dropped"],
        "key_echo": _stats(echo),
        "filter_apply": _stats(apply),
        "filter_apply_by_expr": {
            expr: _stats([v * 1000 for v in values])
            for expr, values in rep.get("apply_by_expr", {}).items()
        },
    }
    print(
        f"    key echo p50 {out['key_echo']['p50_ms']} ms p99 {out['key_echo']['p99_ms']} ms;"
        f" enter -> filtered list p50 {out['filter_apply']['p50_ms']} ms "
        f"p99 {out['filter_apply']['p99_ms']} ms; ingest {out['ingest_rate']:,}/s",
        flush=True,
    )
    return out
