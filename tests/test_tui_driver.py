"""``evmon/tui/driver.py`` and ``connect.leave_now``: what ``q`` skips on its way out.

Broker-free. The driver hides one private attribute of Textual's ``LinuxDriver``
(``_key_thread``) from one call (``disable_input``); the hook tests fail by name when a
Textual release changes what that relies on. The dashboard's own exit in a terminal is
tested in ``tests/test_tui_cli.py`` (exit code, restore sequences, suspend and resume).
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from textual.drivers.linux_driver import LinuxDriver

from evmon.tui.driver import QuickExitDriver, quick_exit_driver


def test_hook_linux_driver_disable_input_joins_key_thread_between_set_and_clear() -> None:
    """``QuickExitDriver.disable_input`` hides ``_key_thread`` so this join is skipped, and
    sets ``exit_event`` again after the clear that follows it."""
    src = inspect.getsource(LinuxDriver.disable_input)
    set_at, join_at, clear_at = (
        src.index(s)
        for s in ("self.exit_event.set()", "self._key_thread.join()", "self.exit_event.clear()")
    )
    assert set_at < join_at < clear_at
    assert "if self._key_thread is not None" in src


def test_hook_linux_driver_input_thread_ends_on_exit_event() -> None:
    """The input thread left running must end by itself once ``exit_event`` is set."""
    src = inspect.getsource(LinuxDriver.run_input_thread)
    assert "while not self.exit_event.is_set()" in src
    start = inspect.getsource(LinuxDriver.start_application_mode)
    assert "self._key_thread = Thread(" in start


def test_hook_suspend_goes_through_suspend_application_mode() -> None:
    """A suspend (SIGTSTP) must still join: the driver recognises it by this method."""
    assert "self.suspend_application_mode()" in inspect.getsource(LinuxDriver._sigtstp_application)


def test_the_app_gets_the_quick_exit_driver_unless_textual_driver_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from textual import constants

    from evmon.store import EventStore
    from evmon.tui.app import EvmonApp

    monkeypatch.setattr(constants, "DRIVER", None)
    assert quick_exit_driver(LinuxDriver) is QuickExitDriver
    if sys.platform != "win32":
        assert EvmonApp(EventStore(10)).get_driver_class() is QuickExitDriver
    monkeypatch.setattr(constants, "DRIVER", "textual.drivers.linux_driver:LinuxDriver")
    assert quick_exit_driver(LinuxDriver) is LinuxDriver


@pytest.mark.parametrize("code", [0, 1, 3])
def test_leave_now_keeps_the_exit_code_and_what_stdout_and_stderr_buffered(code: int) -> None:
    """``os._exit`` skips the interpreter's own flush: ``leave_now`` flushes first (a pipe
    makes stdout block-buffered, so an unflushed line would be lost)."""
    script = (
        "import sys\n"
        "from evmon.commands.connect import leave_now\n"
        "print('to stdout')\n"
        "sys.stderr.write('evmon: error: to stderr\\n')\n"
        f"leave_now({code})\n"
        "print('not reached')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert res.returncode == code
    assert res.stdout == b"to stdout\n"
    assert res.stderr == b"evmon: error: to stderr\n"
