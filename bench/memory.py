"""Benchmark 4: resident memory with a full store, and while a million more events pass.

The events come through the real source (nats-py -> Event -> store), paced below what the
consumer can take: a backlog in the client's queue would be counted as the store's memory,
and what malloc keeps after a backlog drains would look like growth.
"""

from __future__ import annotations

from typing import Any

from bench.context import Context, dashboard_available
from bench.harness import PY, Proc, nats_subscriptions, publish, read_report, wait_subscribed
from bench.ingest import DASHBOARD, STORE, SUBJECT

SIZE = 1024
MB = 1024 * 1024


def _flat_limit(rss_full: int) -> int:
    """How much growth still counts as flat: 5% or 10 MB, whichever is more."""
    return max(rss_full // 20, 10 * MB)


def measure(ctx: Context, module: str) -> dict[str, Any]:
    sz = ctx.sizes
    server = ctx.nats()
    count = sz.mem_retained + sz.mem_more
    argv = [
        PY,
        "-m",
        module,
        "--nats",
        server.url,
        "-s",
        SUBJECT,
        str(count),
        "--capacity",
        str(sz.mem_retained),
        "--rss-every",
        str(sz.mem_retained),
        "--idle",
        str(sz.idle),
        "--deadline",
        str(sz.deadline),
    ]
    before = nats_subscriptions(server.monitor_url)
    with Proc(argv) as proc:
        try:
            wait_subscribed(server.monitor_url, before, proc)
            publish(server.url, count, SIZE, sz.mem_rate)
            rep = read_report(proc, sz.deadline)
        except RuntimeError as err:
            return {"error": str(err)}
    samples: list[tuple[int, int]] = [tuple(s) for s in rep.get("samples", [])]  # type: ignore[misc]
    if not samples:
        return {"error": "no RSS samples", "received": rep.get("count")}
    rss_full = samples[0][1]
    later = [rss for _, rss in samples[1:]] or [rss_full]
    growth = max(later) - rss_full
    return {
        "received": rep["count"],
        "expected": count,
        "dropped": rep.get("dropped", 0),
        "rss_idle_mb": round(rep["rss_idle"] / MB, 1),
        "rss_full_mb": round(rss_full / MB, 1),
        "rss_end_mb": round(samples[-1][1] / MB, 1),
        "growth_mb": round(growth / MB, 1),
        "flat": growth <= _flat_limit(rss_full),
        "samples_mb": [(n, round(rss / MB, 1)) for n, rss in samples],
    }


def bench_memory(ctx: Context) -> dict[str, Any]:
    sz = ctx.sizes
    print(
        f"  memory: {sz.mem_retained:,} retained x {SIZE} B, then {sz.mem_more:,} more "
        f"at {sz.mem_rate:,.0f}/s",
        flush=True,
    )
    out: dict[str, Any] = {
        "retained": sz.mem_retained,
        "more": sz.mem_more,
        "size": SIZE,
        "rate": sz.mem_rate,
    }
    modules = {STORE: "bench.consumers.evmon_store"}
    if dashboard_available() is None:
        modules[DASHBOARD] = "bench.consumers.dashboard"
    for name, module in modules.items():
        res = measure(ctx, module)
        out[name] = res
        if "error" in res:
            print(f"    {name}: {res['error']}", flush=True)
        else:
            print(
                f"    {name}: idle {res['rss_idle_mb']} MB, full {res['rss_full_mb']} MB, "
                f"end {res['rss_end_mb']} MB (growth {res['growth_mb']} MB)",
                flush=True,
            )
    return out
