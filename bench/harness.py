"""Running one contender once: processes, brokers, counting, and the numbers that come out.

Every contender is a separate process reading from a broker this harness started on
127.0.0.1. Its rate is measured where its output appears: our own consumers report the
``perf_counter`` of their first and last event; ``evmon tail`` and the peers write lines to
a pipe that a thread here counts. Either way the rate is ``(count - first_count) / (last -
first)``: connection set-up and start-up are left out, as they are for the baseline.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def python_env() -> dict[str, str]:
    """The environment for child Python processes: the repository importable, no bytecode
    writes racing with other engineers' runs, unbuffered stderr for errors."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass
class Run:
    """One contender's result from one run."""

    count: int = 0
    expected: int = 0
    rate: float | None = None
    seconds: float | None = None
    dropped: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.error is None and self.count >= self.expected

    @classmethod
    def from_report(cls, line: dict[str, Any], expected: int) -> Run:
        count = int(line.pop("count"))
        first, last = float(line.pop("first")), float(line.pop("last"))
        first_count = int(line.pop("first_count", 1))
        dropped = int(line.pop("dropped", 0))
        run = cls.timed(count, expected, first, last, first_count, dropped, line)
        cpu_first, cpu_last = line.pop("cpu_first", None), line.pop("cpu_last", None)
        if cpu_first is not None and cpu_last is not None and count > first_count:
            run.extra["cpu_us"] = (cpu_last - cpu_first) / (count - first_count) * 1e6
        return run

    @classmethod
    def timed(
        cls,
        count: int,
        expected: int,
        first: float,
        last: float,
        first_count: int,
        dropped: int = 0,
        extra: dict[str, Any] | None = None,
    ) -> Run:
        seconds = last - first
        rate = (count - first_count) / seconds if seconds > 0 and count > first_count else None
        return cls(count, expected, rate, seconds, dropped, None, extra or {})


@dataclass
class Summary:
    """A contender over several runs: the median rate and everything behind it."""

    name: str
    runs: list[Run]
    note: str = ""

    @property
    def rates(self) -> list[float]:
        return [r.rate for r in self.runs if r.rate is not None and r.error is None]

    @property
    def median(self) -> float | None:
        return statistics.median(self.rates) if self.rates else None

    @property
    def cpu_us(self) -> float | None:
        """Median CPU time per event (microseconds) of the contender's process."""
        values = [r.extra["cpu_us"] for r in self.runs if "cpu_us" in r.extra and not r.error]
        return statistics.median(values) if values else None

    @property
    def complete(self) -> bool:
        return bool(self.runs) and all(r.complete for r in self.runs)

    @property
    def dropped(self) -> int:
        return sum(r.dropped + max(r.expected - r.count, 0) for r in self.runs if not r.error)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.runs if r.error]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "median": self.median,
            "cpu_us": self.cpu_us,
            "rates": self.rates,
            "complete": self.complete,
            "lost": self.dropped,
            "errors": self.errors,
            "note": self.note,
            "runs": [asdict(r) for r in self.runs],
        }


class PipeCounter(threading.Thread):
    """Counts newline-terminated records arriving on a pipe, with first/last arrival times,
    and samples the writer's CPU time (``pid``) as they arrive."""

    def __init__(self, fd: int, pid: int | None = None) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.pid = pid
        #: (lines so far, writer's CPU seconds), at most every 20 ms while lines arrive.
        self.cpu: list[tuple[int, float]] = []
        # A 1 MiB pipe (Linux's default limit) instead of 64 KiB: the writer then blocks
        # and switches far less often, closer to the `> /dev/null` the numbers stand for.
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        self.count = 0
        self.first = self.last = 0.0
        self.first_count = 0

    def run(self) -> None:
        read, clock = os.read, time.perf_counter
        sampled = 0.0
        while True:
            try:
                chunk = read(self.fd, 1 << 20)
            except OSError:
                return
            if not chunk:
                return
            n = chunk.count(b"\n")
            if not n:
                continue
            now = clock()
            self.count += n
            if not self.first_count:
                self.first, self.first_count = now, self.count
            if self.pid is not None and (not self.cpu or now - sampled >= 0.02):
                used = cpu_seconds(self.pid)
                if used is not None:
                    self.cpu.append((self.count, used))
                    sampled = now
            self.last = now

    @property
    def cpu_us(self) -> float | None:
        """The writer's CPU microseconds per line between the first and last sample."""
        if len(self.cpu) < 2 or self.cpu[-1][0] <= self.cpu[0][0]:
            return None
        (n0, c0), (n1, c1) = self.cpu[0], self.cpu[-1]
        return (c1 - c0) / (n1 - n0) * 1e6


class Proc:
    """A child process we own: started with a pipe on stdout, always reaped."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.stderr_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"evmon-bench-{os.getpid()}"
        self.stderr_path.mkdir(exist_ok=True)
        self._err = (self.stderr_path / f"{time.monotonic_ns()}.err").open("w+b")
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env if env is not None else python_env(),
            cwd=ROOT,
        )

    @property
    def stdout_fd(self) -> int:
        assert self.popen.stdout is not None
        return self.popen.stdout.fileno()

    def running(self) -> bool:
        return self.popen.poll() is None

    def stderr_tail(self, n: int = 600) -> str:
        self._err.flush()
        self._err.seek(0)
        text = self._err.read().decode("utf-8", "replace").strip()
        return text[-n:]

    def stop(self) -> None:
        """SIGTERM, a grace period, then SIGKILL: only this process, by its pid."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        with contextlib.suppress(OSError):
            self._err.close()
            Path(self._err.name).unlink()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_report(proc: Proc, timeout: float) -> dict[str, Any]:
    """Wait for a consumer of ours to finish and parse its one JSON line."""
    try:
        out, _ = proc.popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.stop()
        raise RuntimeError(f"timed out after {timeout:.0f} s") from None
    lines = [ln for ln in (out or b"").splitlines() if ln.startswith(b"{")]
    if proc.popen.returncode != 0 or not lines:
        raise RuntimeError(
            f"exit {proc.popen.returncode}: {proc.stderr_tail() or 'no output'}".strip()
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process (all threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_lines(
    proc: Proc, counter: PipeCounter, expected: int, idle: float, deadline: float
) -> str:
    """Wait until a line-writing contender wrote ``expected`` lines and exited, went quiet for
    ``idle`` seconds, or ran past ``deadline``; stop it. Returns why it ended."""
    start = time.monotonic()
    seen, since = -1, start
    why = "done"
    while proc.running() or counter.is_alive():
        time.sleep(0.05)
        now = time.monotonic()
        if counter.count != seen:
            seen, since = counter.count, now
        if counter.count >= expected and not proc.running():
            break
        if now - since >= idle:
            why = "idle"
            break
        if now - start >= deadline:
            why = "deadline"
            break
    proc.stop()
    counter.join(2)
    return why


# ------------------------------------------------------------------------------- NATS


def nats_subscriptions(monitor_url: str) -> int:
    """How many subscriptions the server has (from /subsz): we publish once it went up."""
    with urllib.request.urlopen(f"{monitor_url}/subsz", timeout=2) as resp:
        return int(json.load(resp)["num_subscriptions"])


def wait_subscribed(monitor_url: str, before: int, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while nats_subscriptions(monitor_url) <= before:
        if not proc.running():
            raise RuntimeError(
                f"exited with code {proc.popen.returncode} before subscribing: {proc.stderr_tail()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"did not subscribe within {timeout:.0f} s")
        time.sleep(0.02)


def publish(
    url: str, count: int, size: int, rate: float | None = None, start: int = 0
) -> dict[str, Any]:
    """Run the publisher process to completion (it stops by itself after ``count``)."""
    argv = [PY, "-m", "bench.publish_nats", url, str(count), str(size), "--start", str(start)]
    if rate is not None:
        argv += ["--rate", str(rate)]
    with Proc(argv) as pub:
        timeout = 120 + (count / rate if rate else count / 20_000)
        return read_report(pub, timeout)
