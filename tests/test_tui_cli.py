"""`evmon connect` flags: checked before anything is drawn; Textual only loads when it runs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios

import pytest

from tests.brokers import free_port
from tests.helpers import run_evmon
from tests.waiting import wait_for


def test_connect_module_does_not_import_textual_until_it_runs() -> None:
    code = (
        "import sys, evmon.commands.connect\n"
        "print(','.join(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to read"),
        (["--nats", "nats://127.0.0.1:1", "--filter", "bogus:1"], "unknown prefix 'bogus:'"),
        (
            ["--nats", "nats://127.0.0.1:1", "--buffer", "0"],
            "--buffer: must be a number at least 1",
        ),
        (["--nats", "nats://127.0.0.1:1", "--from", "yesterday"], "bad --from"),
        (["--kafka", "127.0.0.1:1", "--topic-pattern", "("], "bad --topic-pattern"),
        (["--kafka", "127.0.0.1:1"], "choose Kafka topics"),
        (
            ["--nats", "nats://127.0.0.1:1", "--lag-interval", "0"],
            "--lag-interval: must be a number more than 0",
        ),
        (
            ["--nats", "nats://127.0.0.1:1", "--lag-window", "0"],
            "--lag-window: must be a number at least 1",
        ),
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], message: str) -> None:
    res = run_evmon(["connect", *args], timeout=30)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr.decode()
    assert b"Traceback" not in res.stderr


async def test_lag_interval_and_window_reach_the_lag_screen() -> None:
    """``--lag-interval``/``--lag-window`` (issue 4) configure the lag screen ``l`` opens."""
    from evmon.cli import build_parser
    from evmon.tui.dashboard import build_app
    from evmon.tui.screens.lag import LagScreen

    args = build_parser().parse_args(
        ["connect", "--nats", "nats://127.0.0.1:1", "--lag-interval", "2.5", "--lag-window", "4"]
    )
    assert (args.lag_interval, args.lag_window) == (2.5, 4)
    defaults = build_parser().parse_args(["connect", "--nats", "nats://127.0.0.1:1"])
    assert (defaults.lag_interval, defaults.lag_window) == (5.0, 10)
    app = build_app(lag_interval=args.lag_interval, lag_window=args.lag_window, blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LagScreen)
        assert (screen.interval, screen.window) == (2.5, 4)
        assert screen.jetstream_history.window == 4
        await pilot.press("escape")


class Terminal:
    """``evmon`` in a pseudo-terminal, as an operator runs it."""

    def __init__(self, *args: str, size: tuple[int, int] = (120, 36)) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become evmon
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, "-m", "evmon", *args])
        cols, rows = size
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = b""
        self.exit_code: int | None = None

    def read(self) -> bytes:
        if select.select([self.fd], [], [], 0.05)[0]:
            with contextlib.suppress(OSError):
                self.output += os.read(self.fd, 65536)
        return self.output

    def exited(self) -> bool:
        self.read()
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid:
            self.exit_code = os.waitstatus_to_exitcode(status)
        return self.exit_code is not None

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def close(self) -> None:
        if self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_connect_runs_in_a_terminal_and_q_quits(nats_url: str) -> None:
    term = Terminal("connect", "--nats", nats_url, "-s", "evmon-tui-cli.>")
    try:
        wait_for(lambda: b"connected" in term.read(), timeout=30, message="dashboard drawn")
        assert nats_url.encode() in term.output
        term.send(b"q")
        wait_for(term.exited, timeout=15, message="evmon exits after q")
        assert term.exit_code == 0
    finally:
        term.close()


def test_q_quits_at_once_while_a_broker_is_unreachable() -> None:
    port = free_port()
    term = Terminal("connect", "--nats", f"nats://127.0.0.1:{port}")
    try:
        wait_for(lambda: b"connecting" in term.read(), timeout=30, message="connecting shown")
        term.send(b"q")
        wait_for(term.exited, timeout=15, message="evmon exits after q")
        assert term.exit_code == 0
    finally:
        term.close()


def test_q_restores_the_terminal_and_exits_0_without_finalizing() -> None:
    """``q`` leaves through ``os._exit`` (``connect.leave_now``) once the terminal is
    restored: the exit code is still the app's, and the restore sequences (alt screen left,
    cursor shown) all reached the terminal before the process ended."""
    port = free_port()
    term = Terminal("connect", "--nats", f"nats://127.0.0.1:{port}")
    try:
        wait_for(lambda: b"connecting" in term.read(), timeout=30, message="connecting shown")
        mark = len(term.output)
        term.send(b"q")
        wait_for(term.exited, timeout=15, message="evmon exits after q")
        wait_for(lambda: b"\x1b[?25h" in term.read()[mark:], timeout=5, message="cursor shown")
        assert term.exit_code == 0
        after = term.output[mark:]
        assert b"\x1b[?1049l" in after and after.index(b"\x1b[?1049l") < after.index(b"\x1b[?25h")
    finally:
        term.close()


def test_a_suspended_dashboard_resumes_reads_keys_and_quits() -> None:
    """SIGTSTP suspends (the driver then waits for its input thread, unlike at exit: the
    resume starts a new one), SIGCONT resumes into the alt screen, and keys still work
    (Textual's own driver does the same: ``TEXTUAL_DRIVER`` names it)."""
    port = free_port()
    term = Terminal("connect", "--nats", f"nats://127.0.0.1:{port}")
    try:
        wait_for(lambda: b"connecting" in term.read(), timeout=30, message="connecting shown")
        mark = len(term.output)
        os.kill(term.pid, signal.SIGTSTP)
        wait_for(lambda: b"\x1b[?1049l" in term.read()[mark:], timeout=15, message="suspended")

        def stopped() -> bool:
            pid, status = os.waitpid(term.pid, os.WUNTRACED | os.WNOHANG)
            return bool(pid) and os.WIFSTOPPED(status)

        wait_for(stopped, timeout=15, message="evmon stopped itself")
        mark = len(term.output)
        os.kill(term.pid, signal.SIGCONT)
        wait_for(lambda: b"\x1b[?1049h" in term.read()[mark:], timeout=15, message="resumed")
        wait_for(lambda: b"Quit" in term.read()[mark:], timeout=15, message="footer redrawn")
        # The whole screen, not only what changed while stopped: the filter's placeholder
        # never changes by itself, so it is drawn again only by a full repaint.
        wait_for(lambda: b"to filter" in term.read()[mark:], timeout=15, message="screen repainted")
        term.send(b"q")
        wait_for(term.exited, timeout=15, message="evmon exits after q")
        assert term.exit_code == 0
    finally:
        term.close()
