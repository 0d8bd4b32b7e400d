"""The key footer, recomposed only when the keys it shows change.

Textual's ``Footer`` rebuilds itself (a widget per key, unmounted and mounted again) on every
bindings update of its screen, and a focus change publishes several. Under a flood each
rebuild costs 10-50 ms of the event loop, right when the key that moved the focus (``/``,
``enter`` in the filter) waits for its echo. Most of those updates show the same keys.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["KeyFooter"]


class KeyFooter(Footer):
    """``Footer`` that skips a rebuild when the keys shown would be the same."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        shown = tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for _, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )
        if shown == self._shown and self._bindings_ready:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown  # else the rebuild is skipped: compare again next time
        super().bindings_changed(screen)
