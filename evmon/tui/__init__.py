"""The Textual dashboard (``evmon connect``). The only package that imports ``textual``.

Build it from a store and the connections to open, then run it::

    app = EvmonApp(EventStore(100_000), [nats_spec(NatsSettings(urls=(url,)), subjects=[">"])])
    await app.run_async()
"""

from evmon.tui.app import EvmonApp
from evmon.tui.connections import SourceSpec, StatusBoard, kafka_spec, nats_spec

__all__ = ["EvmonApp", "SourceSpec", "StatusBoard", "kafka_spec", "nats_spec"]
