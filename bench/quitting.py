"""Benchmark 8 (issue 14): how long ``q`` takes to leave the dashboard with both brokers
connected: idle, while both sources read a backlog from the first record, and with the
NATS server or the Kafka broker frozen (SIGSTOP, SIGCONT after: a close can then only time
out, so only the bound counts).

The dashboard (``evmon connect``) runs in a real pseudo-terminal, 200x50, as an operator
runs it. Once the status bar says both connections are ``connected`` (and two seconds
later), ``q`` is typed; timed from there are the terminal's restore (the alt screen left,
``ESC[?1049l``) and the process's exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import termios
import time
from typing import Any

from bench import fixtures
from bench.context import Context
from bench.harness import python_env
from bench.oneshot import STREAM, TOPIC
from bench.startup import evmon_command

QUIT_LIMIT = 0.5
_ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[A-Za-z~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
_CONNECTED = (rb"nats[^\n]{0,80}connected", rb"kafka[^\n]{0,80}connected")


def quit_once(argv: list[str], settle: float = 2.0, freeze: int | None = None) -> dict[str, Any]:
    """Run the dashboard in a pty, type ``q`` once it is connected; seconds to the restore
    and to the exit. ``freeze``: a pid to SIGSTOP just before ``q`` (SIGCONT after)."""
    env = python_env()
    env.update({"COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"})
    pid, fd = pty.fork()
    if pid == 0:  # the child: the dashboard
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    buf = b""
    t0 = time.monotonic()
    out: dict[str, Any] = {}

    def read(timeout: float) -> bool:
        nonlocal buf
        if not select.select([fd], [], [], timeout)[0]:
            return True
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            return False
        buf += data
        return bool(data)

    try:
        while time.monotonic() - t0 < 60:
            if not read(0.05):
                break
            plain = _ANSI.sub(b"", buf[-20_000:])
            if all(re.search(p, plain) for p in _CONNECTED):
                out["connected_s"] = round(time.monotonic() - t0, 3)
                break
        if "connected_s" not in out:
            out["error"] = "the dashboard did not show both connections connected in 60 s"
            return out
        until = time.monotonic() + settle
        while time.monotonic() < until and read(0.05):
            pass
        if freeze is not None:
            os.kill(freeze, signal.SIGSTOP)
        mark = len(buf)
        tq = time.monotonic()
        os.write(fd, b"q")
        while True:
            if "restored_s" not in out and b"\x1b[?1049l" in buf[mark:]:
                out["restored_s"] = round(time.monotonic() - tq, 3)
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                out["exit_s"] = round(time.monotonic() - tq, 3)
                pid = 0
                # The restore may come in the last bytes, read only now: at most the exit.
                while select.select([fd], [], [], 0)[0] and read(0):
                    pass
                if "restored_s" not in out and b"\x1b[?1049l" in buf[mark:]:
                    out["restored_s"] = out["exit_s"]
                break
            if time.monotonic() - tq > 30:
                out["error"] = "q did not end the dashboard in 30 s"
                break
            read(0.005)
    finally:
        if freeze is not None:
            os.kill(freeze, signal.SIGCONT)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # our own child, by its pid
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os.close(fd)
    return out


def bench_quit(ctx: Context) -> dict[str, Any] | None:
    bootstrap = fixtures.kafka_topic(ctx, TOPIC, 2_000 if ctx.quick else 300_000, 512)
    if bootstrap is None:
        return None
    server = fixtures.jetstream(ctx)
    broker = ctx.kafka()
    assert broker is not None
    nats_url = fixtures.jetstream_stream(ctx, STREAM, 2_000 if ctx.quick else 200_000, 128)
    base = [*evmon_command(), "connect", "--nats", nats_url, "--kafka", bootstrap, "-t", TOPIC]
    base += ["--stream", STREAM]
    cases = {
        "idle (both connected, nothing new)": (base, None),
        "reading both from the first record": ([*base, "--from", "first"], None),
        "NATS server frozen (SIGSTOP)": (base, server.pid),
        "Kafka broker frozen (SIGSTOP)": (base, broker.pid),
    }
    repeats = 1 if ctx.quick else max(5, ctx.sizes.repeats)
    print(f"  quit: {len(cases)} cases x {repeats}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (argv, freeze) in cases.items():
            runs[name].append(quit_once(argv, settle=0.5 if ctx.quick else 2.0, freeze=freeze))
    results: dict[str, Any] = {}
    for name, rs in runs.items():
        good = [r for r in rs if "error" not in r]

        def med(key: str, good: list[dict[str, Any]] = good) -> float | None:
            values = [r[key] for r in good if key in r]
            return round(statistics.median(values), 3) if values else None

        results[name] = {
            "exit_s": med("exit_s"),
            "restored_s": med("restored_s"),
            "errors": sorted({r["error"] for r in rs if "error" in r}),
            "runs": rs,
        }
        print(f"    {name}: exit {results[name]['exit_s']} s", flush=True)
    return {"results": results, "limit_s": QUIT_LIMIT}


def targets(b: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, e in b["results"].items():
        v = e["exit_s"]
        out.append(
            {
                "target": f"`q` leaves the dashboard, {name}",
                "measured": "error" if v is None else f"{v:.2f} s",
                "limit": f"<= {b['limit_s']} s",
                "ok": None if v is None else v <= b["limit_s"],
                "note": (
                    f"terminal restored at {e['restored_s']:.2f} s"
                    if e["restored_s"] is not None
                    else "; ".join(e["errors"])[:200]
                ),
            }
        )
    return out


def markdown(b: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## 8. `q` in the dashboard (NATS + Kafka connected, a pty; median)",
        "",
        "| case | terminal restored | process exited |",
        "|---|---|---|",
    ]
    for name, e in b["results"].items():
        r, x = (("-" if v is None else f"{v:.3f} s") for v in (e["restored_s"], e["exit_s"]))
        lines.append(f"| {name} | {r} | {x} |")
    return lines
