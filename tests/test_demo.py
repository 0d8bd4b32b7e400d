"""`evmon demo`: the system it builds on a real nats-server, and that nothing outlives it.

The CLI runs in a subprocess (``--serve``: the banner gives the URL, the server's PID and its
temp dir); ``demo_system`` runs in-process for the exception and cancellation paths.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import orjson
import pytest
from nats.js.api import ConsumerInfo

from evmon.cli import build_parser
from evmon.commands import demo as demo_command
from evmon.demo import CONSUMERS, POISON_MSG_ID, STREAMS, demo_system
from evmon.demo.server import _live, sweep_stale_workdirs
from tests.helpers import evmon_cmd
from tests.waiting import async_wait_for, wait_for

BANNER = re.compile(
    r"NATS at (?P<url>nats://\S+)\n\s+nats-server pid (?P<pid>\d+), JetStream data in "
    r"(?P<workdir>\S+)\n.*poison message: USERS seq (?P<poison>\d+)",
    re.S,
)


def server_alive(pid: int) -> bool:
    """A live (not zombie) nats-server with this PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and b"nats-server" in cmdline


@dataclass
class Banner:
    url: str
    pid: int
    workdir: Path
    poison_seq: int


class DemoProcess:
    """`evmon demo --serve` in a subprocess, its output collected by reader threads."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            evmon_cmd("demo", "--serve", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
            into.append(line.decode("utf-8", "replace"))

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def banner(self, timeout: float = 30) -> Banner:
        def parsed() -> re.Match[str] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"demo exited {self.proc.returncode}: {self.stderr}")
            return BANNER.search(self.stdout)

        m = wait_for(parsed, timeout=timeout, message="the demo's banner")
        return Banner(m["url"], int(m["pid"]), Path(m["workdir"]), int(m["poison"]))

    def stop(self, sig: int, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.read_to_end()
        return code

    def read_to_end(self) -> None:
        """After the process ended: wait until its output has all been read."""
        for t in self._threads:
            t.join(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def demo_process() -> Iterator[type[DemoProcess]]:
    started: list[DemoProcess] = []

    class Tracked(DemoProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for d in started:
        d.kill()


async def test_serve_builds_the_system_and_sigint_removes_it(
    demo_process: type[DemoProcess],
) -> None:
    demo = demo_process("--seed", "1")
    b = demo.banner()
    assert server_alive(b.pid) and b.workdir.is_dir()
    assert "evmon connect --nats " + b.url in demo.stdout

    nc = await nats.connect(b.url)
    try:
        js = nc.jetstream()
        streams = {s.config.name: s.config.subjects for s in await js.streams_info()}
        assert streams == {name: [subjects] for name, subjects in STREAMS.items()}
        for c in CONSUMERS:
            info = await js.consumer_info(c.stream, c.name)
            assert info.config.durable_name == c.name

        async def consumer(stream: str, name: str) -> ConsumerInfo:
            return await js.consumer_info(stream, name)

        # payments-ledger falls behind: it moves, but its pending only grows
        first = await consumer("PAYMENTS", "payments-ledger")

        async def ledger_behind() -> ConsumerInfo | None:
            info = await consumer("PAYMENTS", "payments-ledger")
            moved = info.ack_floor.stream_seq > first.ack_floor.stream_seq
            return info if moved and info.num_pending >= first.num_pending + 5 else None

        await async_wait_for(
            ledger_behind, timeout=30, message="payments-ledger to ack and still fall behind"
        )

        # users-mailer is stuck on the poison message: delivered again and again, ack floor
        # right before it
        async def mailer_delivered(more_than: int) -> ConsumerInfo | None:
            info = await consumer("USERS", "users-mailer")
            ok = (info.num_redelivered or 0) > 0 and info.delivered.consumer_seq > more_than
            return info if ok else None

        stuck = await async_wait_for(
            lambda: mailer_delivered(0), message="users-mailer to redeliver"
        )
        again = await async_wait_for(
            lambda: mailer_delivered(stuck.delivered.consumer_seq + 1),
            message="two more deliveries of the poison message",
        )
        assert again.ack_floor.stream_seq == stuck.ack_floor.stream_seq == b.poison_seq - 1
        assert again.delivered.stream_seq == b.poison_seq
        assert again.num_pending > 0
        poison = await js.get_msg("USERS", b.poison_seq, direct=True)
        assert poison.subject == "users.updated"
        assert poison.headers is not None and poison.headers["Nats-Msg-Id"] == POISON_MSG_ID
        assert orjson.loads(poison.data or b"")["email"] is None

        # orders-projector keeps up
        projector = await consumer("ORDERS", "orders-projector")
        orders = await js.stream_info("ORDERS")
        assert projector.delivered.stream_seq > 12
        assert projector.num_pending + (projector.num_ack_pending or 0) < 50
        assert orders.state.last_seq - projector.ack_floor.stream_seq < 50

        # the DLQ holds failed payments, with where they came from
        dlq = await js.stream_info("DLQ")
        assert dlq.state.messages >= 4
        dead = await js.get_msg("DLQ", dlq.state.first_seq, direct=True)
        assert dead.subject == "dlq.payments.card.failed"
        assert dead.headers is not None
        assert dead.headers["original-subject"] == "payments.card.failed"
        assert dead.headers["original-stream"] == "PAYMENTS"
        assert dead.headers["dlq-reason"].startswith("retries exhausted")
        assert orjson.loads(dead.data or b"")["type"] == "payment.failed"
    finally:
        await nc.close()

    assert demo.stop(signal.SIGINT) == 0, demo.stderr
    wait_for(lambda: not server_alive(b.pid), timeout=10, message="nats-server gone")
    assert not b.workdir.exists()
    assert "Traceback" not in demo.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_serve_stops_cleanly_on(sig: signal.Signals, demo_process: type[DemoProcess]) -> None:
    demo = demo_process()
    b = demo.banner()
    assert server_alive(b.pid)
    assert demo.stop(sig) == 0, demo.stderr
    wait_for(lambda: not server_alive(b.pid), timeout=10, message="nats-server gone")
    assert not b.workdir.exists()


def test_sigkill_takes_the_server_down_and_the_next_start_sweeps_the_dir(
    demo_process: type[DemoProcess],
) -> None:
    demo = demo_process()
    b = demo.banner()
    demo.proc.kill()
    demo.proc.wait(timeout=10)
    # PR_SET_PDEATHSIG: the kernel kills the server with its parent
    wait_for(lambda: not server_alive(b.pid), timeout=10, message="nats-server killed")
    assert b.workdir.is_dir(), "a SIGKILLed process cannot clean up; the sweep does"
    assert b.workdir in sweep_stale_workdirs(b.workdir.parent)
    assert not b.workdir.exists()


def test_a_busy_port_is_a_usage_error(demo_process: type[DemoProcess]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        demo = demo_process("--port", str(port))
        assert demo.proc.wait(timeout=30) == 2
    demo.read_to_end()
    assert f"port {port} is in use" in demo.stderr
    assert "Traceback" not in demo.stderr


async def test_an_exception_inside_demo_system_still_cleans_up() -> None:
    with pytest.raises(RuntimeError, match="dashboard crashed"):
        async with demo_system(seed=3) as demo:
            pid, workdir = demo.server_pid, demo.workdir
            assert pid is not None and workdir is not None and server_alive(pid)
            raise RuntimeError("dashboard crashed")
    assert not server_alive(pid)
    assert not workdir.exists()
    assert not _live


async def test_cancelling_the_task_inside_demo_system_cleans_up() -> None:
    started: asyncio.Queue[tuple[int, Path]] = asyncio.Queue()

    async def body() -> None:
        async with demo_system(seed=4) as demo:
            assert demo.server_pid is not None and demo.workdir is not None
            started.put_nowait((demo.server_pid, demo.workdir))
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    pid, workdir = await asyncio.wait_for(started.get(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not server_alive(pid)
    assert not workdir.exists()
    assert not _live


async def test_cancelling_during_startup_cleans_up() -> None:
    async def body() -> None:
        async with demo_system(seed=5):
            await asyncio.Event().wait()

    task = asyncio.create_task(body())
    server = await async_wait_for(lambda: next(iter(_live), None), message="server spawned")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.workdir is not None and not server.workdir.exists()
    assert server.pid is None or not server_alive(server.pid)
    assert not _live


def run_demo_kafka_local(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`evmon demo --serve --kafka local` to its end (for the prerequisite errors)."""
    return subprocess.run(
        evmon_cmd("demo", "--serve", "--kafka", "local"),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _no_java_env(tmp_path: Path, fake_java: str | None = None) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if fake_java is not None:
        (bin_dir / "java").write_text(fake_java)
        (bin_dir / "java").chmod(0o755)
    env = {**os.environ, "PATH": str(bin_dir), "EVMON_KAFKA_CACHE": str(tmp_path / "cache")}
    env.pop("JAVA_HOME", None)
    return env


def test_kafka_local_without_java_is_one_line(tmp_path: Path) -> None:
    res = run_demo_kafka_local(_no_java_env(tmp_path))
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("evmon: error: Java 17+ is needed to run Kafka"), line
    assert "`java` is neither on PATH nor in JAVA_HOME" in line
    assert "--kafka HOST:PORT" in line
    assert res.stdout == ""  # nothing was started


def test_kafka_local_with_an_old_java_is_one_line(tmp_path: Path) -> None:
    old = "#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n"
    res = run_demo_kafka_local(_no_java_env(tmp_path, old))
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "Java 17+ is needed to run Kafka" in line and "is Java 11" in line, line
    assert res.stdout == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--keep"], "--keep keeps the demo's topics and groups on --kafka HOST:PORT"),
        (["demo", "--kafka", "local", "--keep"], "--keep is for a Kafka you run"),
    ],
)
async def test_keep_needs_a_kafka_of_your_own(argv: list[str], message: str) -> None:
    from evmon.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(message)):
        await demo_command.run(build_parser().parse_args(argv))


def test_the_demo_does_not_import_textual() -> None:
    """The dashboard runs inside ``demo_system``; the demo itself stays headless."""
    code = (
        "import sys, evmon.demo, evmon.commands.demo\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""


async def test_the_command_runs_the_dashboard_inside_the_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook the dashboard plugs into: called with the demo's URLs, subjects and streams
    while the demo runs; when it returns, the demo is gone and the exit code is 0."""
    seen: dict[str, object] = {}
    where: list[tuple[int | None, Path | None]] = []

    async def run_dashboard(**kw: object) -> None:
        seen.update(kw)
        server = next(iter(_live))
        where.append((server.pid, server.workdir))
        nc = await nats.connect(kw["nats_urls"][0])  # type: ignore[index]
        seen["on_server"] = sorted(s.config.name for s in await nc.jetstream().streams_info())
        await nc.close()

    monkeypatch.setattr(demo_command, "find_dashboard", lambda: run_dashboard)
    args = build_parser().parse_args(["demo", "--seed", "2"])
    assert await demo_command.run(args) == 0
    assert seen["streams"] == list(STREAMS) and seen["subjects"] == list(STREAMS.values())
    assert seen["kafka"] is None and seen["first_run_hint"] is True
    assert seen["on_server"] == sorted(STREAMS)
    ((pid, workdir),) = where
    assert pid is not None and not server_alive(pid)
    assert workdir is not None and not workdir.exists()


async def test_a_dashboard_crash_still_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    where: list[tuple[int | None, Path | None]] = []

    async def run_dashboard(**kw: object) -> None:
        server = next(iter(_live))
        where.append((server.pid, server.workdir))
        raise RuntimeError("dashboard crashed")

    monkeypatch.setattr(demo_command, "find_dashboard", lambda: run_dashboard)
    args = build_parser().parse_args(["demo"])
    with pytest.raises(RuntimeError, match="dashboard crashed"):
        await demo_command.run(args)
    ((pid, workdir),) = where
    assert pid is not None and not server_alive(pid)
    assert workdir is not None and not workdir.exists()
    assert not _live


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "log"])
def test_the_fetch_progress_is_one_line_on_a_terminal_and_two_in_a_log(tty: bool) -> None:
    stream = _Stream(tty)
    progress = demo_command.ProgressLine(stream)
    for text in ("fetching K (once)", "fetching K: 1 files, 0.5 MB", "fetching K: 9 files, 5 MB"):
        progress(text, False)
    progress("fetched K: 93 jars in /c", True)
    if tty:  # redrawn in place, one newline at the end
        assert stream.getvalue().count("\n") == 1
        assert stream.getvalue().endswith("\r\x1b[Kevmon: fetched K: 93 jars in /c\n")
        assert "\r\x1b[Kevmon: fetching K: 9 files, 5 MB" in stream.getvalue()
    else:
        assert stream.getvalue() == "evmon: fetching K (once)\nevmon: fetched K: 93 jars in /c\n"
