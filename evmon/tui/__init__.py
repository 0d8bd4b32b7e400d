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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evmon.tui.app import EvmonApp as EvmonApp
    from evmon.tui.connections import SourceSpec as SourceSpec
    from evmon.tui.connections import StatusBoard as StatusBoard
    from evmon.tui.connections import kafka_spec as kafka_spec
    from evmon.tui.connections import nats_spec as nats_spec
    from evmon.tui.options import DashboardOptions as DashboardOptions

#: Public name -> the submodule that defines it.
_HOME = {
    "EvmonApp": "app",
    "DashboardOptions": "options",
    "SourceSpec": "connections",
    "StatusBoard": "connections",
    "kafka_spec": "connections",
    "nats_spec": "connections",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
