"""The child processes under `tests.brokers`' brokers, and the ports they listen on.

Split out of `tests.brokers` (which re-exports the public names here). Every process runs in
its own process group (``start_new_session=True``) with its output in a log file in a
private temp dir; it is stopped by ``stop()``, by an ``atexit`` hook, and (on Linux, when
started from the main thread) by the kernel via ``PR_SET_PDEATHSIG`` if the Python process
dies without running its exit hooks.
"""

from __future__ import annotations

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.kafka_jars import BrokerStartError

__all__ = ["HOST", "StartsAndCleansUp", "free_port", "signal_group"]

HOST = "127.0.0.1"

# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _can_connect(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, n: int) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            return "".join(deque(f, maxlen=n))
    except FileNotFoundError:
        return "(no log yet)"


_PR_SET_PDEATHSIG = 1


def _preexec_for_main_thread() -> Callable[[], None] | None:
    """Ask the kernel to SIGKILL the child if we die (Linux; main thread only, because the
    signal fires when the *thread* that forked exits)."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl

    def _set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return _set_pdeathsig


_live: set[_ManagedProcess] = set()
_live_lock = threading.Lock()


def signal_group(pid: int | None, sig: int) -> None:
    """Send ``sig`` to the process group of ``pid`` (a broker started in its own session),
    if it is still there."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class StartsAndCleansUp:
    """``with X() as x:`` starts it and cleans up after, for brokers and clusters alike."""

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def cleanup(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


@atexit.register
def _kill_everything() -> None:
    with _live_lock:
        procs = list(_live)
    for p in procs:
        with contextlib.suppress(Exception):
            p.stop(timeout=5.0)
    for p in procs:
        with contextlib.suppress(Exception):
            p.cleanup()


class _ManagedProcess(StartsAndCleansUp):
    """A child process in its own session with output to a log file in a private temp dir."""

    kind = "process"

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix=f"evmon-{self.kind}-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.kind}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    # -- process control -------------------------------------------------------------

    def _spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        if self.is_running():
            raise BrokerStartError(f"{self.kind} is already running")
        self._starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self._starts}: {' '.join(argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                preexec_fn=_preexec_for_main_thread(),
            )
        with _live_lock:
            _live.add(self)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, wait up to `timeout`, then SIGKILL it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        # Anything else left in the group (there should be nothing) goes too.
        self._signal_group(proc, signal.SIGKILL)
        with _live_lock:
            _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash, for fault tests)."""
        proc = self._proc
        if proc is None:
            return
        self._signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=10)
        with _live_lock:
            _live.discard(self)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        signal_group(proc.pid, sig)

    def cleanup(self) -> None:
        """Stop and remove the temp dir (only if we created it)."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        return _tail(self.log_path, n)

    def _wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready()` until true; fail fast if the process exits; fail at the deadline."""
        deadline = time.monotonic() + timeout
        interval = 0.02
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                with _live_lock:
                    _live.discard(self)
                raise BrokerStartError(
                    f"{self.kind} exited with code {code} before {what}; log tail "
                    f"({self.log_path}):\n{self.log_tail()}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                self.stop(timeout=5.0)
                raise BrokerStartError(
                    f"{self.kind} did not become ready ({what}) within {timeout:.0f} s; "
                    f"log tail ({self.log_path}):\n{tail}"
                )
            time.sleep(interval)
            interval = min(interval * 1.5, 0.25)
