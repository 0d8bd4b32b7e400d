"""``QuickExitDriver``: Textual's Linux driver, minus the 0.1-0.2 s wait at the end.

    class EvmonApp(App):
        def get_driver_class(self):
            return quick_exit_driver(super().get_driver_class())

Why: when an app ends, Textual's ``LinuxDriver.disable_input`` sets ``exit_event`` and joins
the input thread. That thread only looks at the event when its ``select(0.1)`` on stdin
returns, and then sleeps one more ``select(0.1)`` with nothing registered before it ends,
so the terminal is restored (and ``q`` can leave the dashboard) 0.1-0.2 s after the key.
Here the final stop tells the thread to end and goes on without waiting for it: the
thread ends by itself within those 0.2 s (``evmon connect`` has left by then; an
interpreter that finalizes still joins it, as before). A suspend (``ctrl+z``) still waits,
because the resume starts a new input thread and two must never read stdin at once.

The hook: ``LinuxDriver._key_thread`` (the thread ``disable_input`` joins) is hidden from
that one call. ``tests/test_tui_driver.py`` names it and checks that Textual still joins
it there and that its input loop still ends on ``exit_event``; pyproject.toml bounds
Textual's version. Nothing else of the driver changes.
"""

from __future__ import annotations

from textual import constants
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver

__all__ = ["QuickExitDriver", "quick_exit_driver"]


class QuickExitDriver(LinuxDriver):
    """``LinuxDriver`` whose last ``disable_input`` does not join the input thread."""

    _suspending = False

    def suspend_application_mode(self) -> None:
        self._suspending = True
        try:
            super().suspend_application_mode()
        finally:
            self._suspending = False

    def disable_input(self) -> None:
        if self._suspending or self.exit_event.is_set():
            super().disable_input()  # a suspend waits; a second call does nothing
            return
        thread, self._key_thread = self._key_thread, None
        try:
            # SIGWINCH back to default, mouse reporting off, the event set (and cleared
            # again, for a restart), pending input flushed: all but the join.
            super().disable_input()
        finally:
            self._key_thread = thread
            self.exit_event.set()  # for good: the thread ends at its next select


def quick_exit_driver(driver_class: type[Driver]) -> type[Driver]:
    """``QuickExitDriver`` in place of Textual's own ``LinuxDriver``; any other driver, and
    whatever ``TEXTUAL_DRIVER`` names (Textual's own included), is left alone."""
    if constants.DRIVER is None and driver_class is LinuxDriver:
        return QuickExitDriver
    return driver_class
