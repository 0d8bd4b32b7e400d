"""Benchmark 7 (issue 14): one-shot reads. ``evmon tail --from first -n 1`` on Kafka and
on a JetStream stream against ``evmon --version`` (the start-up every command pays) and
against the peers doing the same (``kcat -C -c 1 -J``, ``nats sub --stream S --all
--count 1``), all interleaved in one loop so the machine's load hits each alike.

Each run is a fresh process with its stdout on a pipe: the first line's arrival and the
process's exit are timed from the spawn. "close" is exit minus first line: how long the
command takes to leave once it has written what it was asked for. The topic and stream are
big enough (full run) that a reader which fetches eagerly pays for it.
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import time
from typing import Any

from bench import fixtures, peers
from bench.context import Context
from bench.harness import python_env
from bench.startup import evmon_command

TOPIC = "bench.oneshot"
STREAM = "ONESHOT"
#: Targets: seconds over ``evmon --version``'s own wall time, and to leave after the line.
KAFKA_OVER_VERSION = 0.6
JETSTREAM_OVER_VERSION = 0.4
CLOSE_LIMIT = 0.3

VERSION = "evmon --version"
KAFKA = "evmon tail kafka -n 1"
KCAT = "kcat -C -c 1 -J"
JETSTREAM = "evmon tail jetstream -n 1"
NATS_SUB = "nats sub --stream --count 1 --dump"


def timed_run(argv: list[str], timeout: float = 30.0) -> dict[str, Any]:
    """Spawn ``argv``; seconds to its first record (a newline or, for ``--dump``, a NUL)
    and to its exit, and how many records it wrote."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=python_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    first: float | None = None
    out = b""
    fd = proc.stdout.fileno()
    while True:
        left = timeout - (time.perf_counter() - t0)
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            proc.kill()  # ours, by its pid: a contender that never ends is an error
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        out += chunk
        if first is None and (b"\n" in chunk or b"\0" in chunk):
            first = time.perf_counter() - t0
    err = proc.stderr.read()
    rc = proc.wait(timeout)
    wall = time.perf_counter() - t0
    records = out.count(b"\0") if b"\0" in out else out.count(b"\n")
    run: dict[str, Any] = {"wall": wall, "first": first, "records": records, "rc": rc}
    if first is not None:
        run["close"] = wall - first
    if rc != 0:
        run["error"] = f"exit {rc}: {err.decode('utf-8', 'replace').strip()[-300:]}"
    return run


def contenders(ctx: Context, bootstrap: str | None, nats_url: str) -> dict[str, list[str]]:
    evmon = evmon_command()
    out = {VERSION: [*evmon, "--version"]}
    if bootstrap is not None:
        out[KAFKA] = [*evmon, "tail", "--kafka", bootstrap, "-t", TOPIC, "--from", "first"]
        out[KAFKA] += ["-n", "1", "--format", "jsonl"]
        kcat = ctx.peer("kcat")
        if kcat:
            out[KCAT] = peers.kcat_argv(
                kcat, bootstrap, TOPIC, count=1, json=True, exit_at_end=False
            )
    out[JETSTREAM] = [*evmon, "tail", "--nats", nats_url, "--stream", STREAM, "--from", "first"]
    out[JETSTREAM] += ["-n", "1", "--format", "jsonl"]
    nats = ctx.peer("nats")
    if nats:
        out[NATS_SUB] = peers.nats_sub_argv(nats, nats_url, ">", stream=STREAM, count=1, dump=True)
    return out


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None and "error" not in r]
    return round(statistics.median(values), 3) if values else None


def bench_oneshot(ctx: Context) -> dict[str, Any]:
    quick = ctx.quick
    kafka_count = 2_000 if quick else 300_000
    js_count = 2_000 if quick else 200_000
    bootstrap = fixtures.kafka_topic(ctx, TOPIC, kafka_count, 512)
    nats_url = fixtures.jetstream_stream(ctx, STREAM, js_count, 128)
    argvs = contenders(ctx, bootstrap, nats_url)
    repeats = 1 if quick else max(7, ctx.sizes.repeats)
    print(f"  one-shot reads: {', '.join(argvs)}; {repeats} rounds", flush=True)
    for name, argv in argvs.items():  # warm the page cache and bytecode
        warm = timed_run(argv)
        if "error" in warm:
            print(f"    {name}: {warm['error']}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in argvs}
    for _ in range(repeats):
        for name, argv in argvs.items():
            runs[name].append(timed_run(argv))
    out: dict[str, Any] = {"kafka_records": kafka_count, "jetstream_messages": js_count}
    results: dict[str, Any] = {}
    for name, rs in runs.items():
        errors = sorted({r["error"] for r in rs if "error" in r})
        results[name] = {
            "wall": _median(rs, "wall"),
            "first": _median(rs, "first"),
            "close": _median(rs, "close"),
            "records": [r["records"] for r in rs],
            "errors": errors,
            "runs": rs,
        }
        e = results[name]
        print(f"    {name}: wall {e['wall']} s, first {e['first']} s, close {e['close']} s")
    out["results"] = results
    return out


def targets(b: dict[str, Any]) -> list[dict[str, Any]]:
    """The one-shot targets of issue 14 from this benchmark's results."""
    res = b.get("results") or {}
    out: list[dict[str, Any]] = []
    base = (res.get(VERSION) or {}).get("wall")
    for name, over, peer in (
        (KAFKA, KAFKA_OVER_VERSION, KCAT),
        (JETSTREAM, JETSTREAM_OVER_VERSION, NATS_SUB),
    ):
        e = res.get(name)
        if not e or e.get("wall") is None or base is None:
            continue
        delta = e["wall"] - base
        note = f"first line {e['first']:.2f} s"
        if (res.get(peer) or {}).get("wall") is not None:
            note += f"; {peer} {res[peer]['wall']:.2f} s"
        ok = delta <= over and all(n == 1 for n in e["records"])
        out.append(
            {
                "target": f"{name} --from first, wall over evmon --version",
                "measured": f"+{delta:.2f} s ({e['wall']:.2f} s)",
                "limit": f"<= +{over} s",
                "ok": ok,
                "note": note,
            }
        )
        out.append(
            {
                "target": f"{name}: exit after its last line",
                "measured": f"{e['close']:.2f} s",
                "limit": f"<= {CLOSE_LIMIT} s",
                "ok": e["close"] is not None and e["close"] <= CLOSE_LIMIT,
                "note": "",
            }
        )
    return out


def markdown(b: dict[str, Any]) -> list[str]:
    res = b.get("results") or {}
    lines = [
        "",
        f"## 7. One-shot reads (`--from first -n 1`; Kafka topic of {b['kafka_records']:,} "
        f"x 512 B, JetStream stream of {b['jetstream_messages']:,} x 128 B; median wall time)",
        "",
        "| command | to first line | to exit | exit after the line |",
        "|---|---|---|---|",
    ]

    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f} s"

    for name, e in res.items():
        lines.append(f"| `{name}` | {s(e['first'])} | {s(e['wall'])} | {s(e['close'])} |")
    return lines
