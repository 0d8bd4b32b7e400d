"""The Textual dashboard (``evmon connect``). The only package that imports ``textual``.

Build it from a store and the connections to open, then run it::

    app = EvmonApp(EventStore(100_000), [nats_spec(NatsSettings(urls=(url,)), subjects=[">"])])
    await app.run_async()

The package root re-exports lazily (PEP 562): importing a headless helper under ``tui``
(``format``, ``connections``, ``targets``, ``options``, ``sample``) loads neither Textual
nor the app (0.4-0.5 s, and an import cycle through the app's modules); ``EvmonApp`` is
imported the first time it is named.

The dashboard asks Textual for up to ``FRAMES_PER_SECOND`` frames (``TEXTUAL_FPS``, which
Textual reads once, when it is first imported: so here, before any module of this package
imports it; a ``TEXTUAL_FPS`` the user set wins). Frames are painted only when something
changed, so this is a cap, not a rate. It matters for a key's echo: Textual's frame timer
pauses when nothing is to be painted, and the first frame after a resumed one comes one to
two periods later (its skip rounds up a period), so at 60 a key pressed just after any
frame waited up to 33 ms for its echo; at 240, up to 8 ms (bench/README.md: the tree
bench's key echo p99 went from 30-35 ms at 60 to 20-27 ms at 120, and from 27-42 ms at 120
to 25-34 ms at 240 in six alternated rounds, with no change in CPU per message to see).
Textual's animations keep their own rate (60); only the screen's frame cap moves.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from evmon.lazy import lazy_exports

if TYPE_CHECKING:
    from evmon.tui.app import EvmonApp as EvmonApp
    from evmon.tui.connections import SourceSpec as SourceSpec
    from evmon.tui.connections import StatusBoard as StatusBoard
    from evmon.tui.connections import kafka_spec as kafka_spec
    from evmon.tui.connections import nats_spec as nats_spec
    from evmon.tui.options import DashboardOptions as DashboardOptions

#: The frame cap the dashboard asks Textual for (see the module doc).
FRAMES_PER_SECOND = 240
os.environ.setdefault("TEXTUAL_FPS", str(FRAMES_PER_SECOND))

#: The submodule that defines each public name.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    globals(),
    {
        "app": ["EvmonApp"],
        "options": ["DashboardOptions"],
        "connections": ["SourceSpec", "StatusBoard", "kafka_spec", "nats_spec"],
    },
)
