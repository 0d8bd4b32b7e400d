"""The Textual dashboard (``evmon connect``). The only package that imports ``textual``.

Build it from a store and the connections to open, then run it::

    app = EvmonApp(EventStore(100_000), [nats_spec(NatsSettings(urls=(url,)), subjects=[">"])])
    await app.run_async()

The package root re-exports lazily (PEP 562): importing a headless helper under ``tui``
(``format``, ``connections``, ``targets``, ``options``, ``sample``) loads neither Textual
nor the app (0.4-0.5 s, and an import cycle through the app's modules); ``EvmonApp`` is
imported the first time it is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evmon.lazy import lazy_exports

if TYPE_CHECKING:
    from evmon.tui.app import EvmonApp as EvmonApp
    from evmon.tui.connections import SourceSpec as SourceSpec
    from evmon.tui.connections import StatusBoard as StatusBoard
    from evmon.tui.connections import kafka_spec as kafka_spec
    from evmon.tui.connections import nats_spec as nats_spec
    from evmon.tui.options import DashboardOptions as DashboardOptions

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
