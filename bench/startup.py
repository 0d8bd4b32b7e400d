"""Benchmark 6: wall time of ``evmon --version`` and ``evmon tail --help`` against
``python -c pass``, the floor any Python command starts from."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.harness import PY, python_env


def evmon_command() -> list[str]:
    """The installed ``evmon`` script beside this Python, else ``python -m evmon``."""
    script = Path(PY).with_name("evmon")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [PY, "-m", "evmon"]


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env=python_env(),
    )
    return time.perf_counter() - t0


def bench_startup(ctx: Context) -> dict[str, Any]:
    evmon = evmon_command()
    commands = {
        "python -c pass": [PY, "-c", "pass"],
        "evmon --version": [*evmon, "--version"],
        "evmon tail --help": [*evmon, "tail", "--help"],
    }
    n = ctx.sizes.startup_runs
    print(f"  start-up, median of {n}", flush=True)
    for argv in commands.values():  # warm the page cache and bytecode once
        wall(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(n):
        for name, argv in commands.items():
            times[name].append(wall(argv))
    out: dict[str, Any] = {}
    for name, ts in times.items():
        out[name] = {
            "median_ms": round(statistics.median(ts) * 1000, 1),
            "runs_ms": [round(t * 1000, 1) for t in ts],
        }
        print(f"    {name}: {out[name]['median_ms']} ms", flush=True)
    base = out["python -c pass"]["median_ms"]
    out["limit_ms"] = round(2 * base + 100, 1)
    return out
