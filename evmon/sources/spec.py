"""The one way evmon builds its sources from connection settings and a selection.

    specs = source_specs(nats, kafka, subjects=["orders.>"], topics=["payments"])
    source = specs[0].factory(sink, on_status)      # no I/O yet
    await source.start()                            # evmon tail: fail fast
    await source.start(wait=None)                   # the dashboard: retry in a worker

``evmon tail`` starts each spec's source at once and writes to stdout; the dashboard opens
each in its own worker (a broker that is down never blocks the UI or the other broker).
Both read the same selection the same way: NATS with ``streams`` reads each stream from
``start`` through an ordered consumer (``subjects`` filter it), without them ``subjects``
(default ``>``) are core subscriptions; Kafka reads ``topics`` and/or ``topic_pattern``
from ``start``. Tests and the demo may build a ``SourceSpec`` around any factory.

The broker modules are imported when a factory runs, so building specs loads neither
nats-py nor aiokafka, and a NATS-only tail never loads aiokafka.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evmon.config import KafkaSettings, NatsSettings
from evmon.model import Source as System
from evmon.selection import START_NEW, Start
from evmon.sources import Sink, Source, StatusCallback

__all__ = ["SourceFactory", "SourceSpec", "end_summary", "kafka_spec", "nats_spec", "source_specs"]

SourceFactory = Callable[[Sink, StatusCallback], Source]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One connection to open: which system, where (for display; no secrets) and how.

    ``factory(sink, on_status)`` builds the source without doing I/O; the caller then awaits
    ``source.start()`` (``wait=None`` retries until the broker answers).
    """

    system: System
    url: str
    factory: SourceFactory = field(repr=False)
    #: The connection settings, for actions that open their own connection (re-publish,
    #: skip); None for scripted sources.
    settings: NatsSettings | KafkaSettings | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.system} {self.url}"


def nats_spec(
    settings: NatsSettings,
    *,
    subjects: Sequence[str] = (),
    streams: Sequence[str] = (),
    start: Start = START_NEW,
) -> SourceSpec:
    def factory(sink: Sink, on_status: StatusCallback) -> Source:
        from evmon.sources.nats.tail import NatsSource

        return NatsSource(
            settings, sink, subjects=subjects, streams=streams, start=start, on_status=on_status
        )

    return SourceSpec("nats", settings.display, factory, settings)


def kafka_spec(
    settings: KafkaSettings,
    *,
    topics: Sequence[str] = (),
    pattern: str | None = None,
    start: Start = START_NEW,
) -> SourceSpec:
    def factory(sink: Sink, on_status: StatusCallback) -> Source:
        from evmon.sources.kafka.tail import KafkaSource

        return KafkaSource(
            settings, sink, topics=topics, pattern=pattern, start=start, on_status=on_status
        )

    return SourceSpec("kafka", settings.display, factory, settings)


def source_specs(
    nats: NatsSettings | None,
    kafka: KafkaSettings | None,
    *,
    subjects: Sequence[str] = (),
    streams: Sequence[str] = (),
    topics: Sequence[str] = (),
    topic_pattern: str | None = None,
    start: Start = START_NEW,
) -> list[SourceSpec]:
    """A spec per configured broker, NATS first (see the module doc for the selection)."""
    specs: list[SourceSpec] = []
    if nats is not None:
        specs.append(nats_spec(nats, subjects=subjects, streams=streams, start=start))
    if kafka is not None:
        specs.append(kafka_spec(kafka, topics=topics, pattern=topic_pattern, start=start))
    return specs


def end_summary(source: Source) -> str:
    """What a source has to say when a tail ends (a slow-consumer cut-off, delivery that
    fell back after a fault), in one line; "" when nothing happened or it cannot say."""
    summary = getattr(source, "summary", None)
    return str(summary()) if callable(summary) else ""
