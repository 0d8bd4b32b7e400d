"""The command palette (``ctrl+p``): every dashboard action, by name.

The commands come from ``EvmonApp.palette_commands()``, which lists the app's
``BINDINGS`` (so every key is also a command) plus actions that have no key.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from evmon.tui.app import EvmonApp

__all__ = ["EvmonCommands"]


class EvmonCommands(Provider):
    """Dashboard actions: pause, filter, mark, detail, help, quit, ..."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = cast("EvmonApp", self.app)
        return app.palette_commands()

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.app.run_action, action),
                    text=name,
                    help=help_text,
                )
