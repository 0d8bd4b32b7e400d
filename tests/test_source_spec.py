"""``evmon.sources.spec``: the one way ``evmon tail`` and the dashboard build their sources
from settings and a selection (broker-free: the factories do no I/O)."""

from __future__ import annotations

import subprocess
import sys

from evmon.config import KafkaSettings, NatsSettings
from evmon.selection import Start
from evmon.sources.spec import end_summary, source_specs
from tests.helpers import ListSink


def test_specs_follow_the_selection_nats_first() -> None:
    from evmon.sources.kafka.tail import KafkaSource
    from evmon.sources.nats.tail import NatsSource

    start = Start("offset", 5)
    specs = source_specs(
        NatsSettings(urls=("nats://127.0.0.1:4999",)),
        KafkaSettings(bootstrap="127.0.0.1:9999"),
        subjects=["a.>"],
        streams=["S"],
        topics=["t"],
        topic_pattern="t-.*",
        start=start,
    )
    assert [(s.system, s.url) for s in specs] == [
        ("nats", "nats://127.0.0.1:4999"),
        ("kafka", "127.0.0.1:9999"),
    ]
    seen: list[object] = []
    nats, kafka = (spec.factory(ListSink(), seen.append) for spec in specs)
    assert isinstance(nats, NatsSource) and isinstance(kafka, KafkaSource)
    assert (nats.subjects, nats.streams, nats.start_at) == (["a.>"], ["S"], start)
    assert (kafka.topics, kafka.pattern and kafka.pattern.pattern, kafka.start_at) == (
        ["t"],
        "t-.*",
        start,
    )
    assert end_summary(nats) == "" and end_summary(kafka) == ""
    assert source_specs(None, None) == []


def test_the_dashboard_names_are_the_same_objects() -> None:
    import evmon.sources.spec as spec
    from evmon.tui import connections

    assert connections.SourceSpec is spec.SourceSpec
    assert connections.nats_spec is spec.nats_spec and connections.kafka_spec is spec.kafka_spec


def test_building_specs_loads_no_broker_client() -> None:
    """The broker modules load when a factory runs: a NATS-only tail never loads aiokafka."""
    code = (
        "import sys\n"
        "from evmon.config import KafkaSettings, NatsSettings\n"
        "from evmon.sources.spec import source_specs\n"
        "specs = source_specs(NatsSettings(urls=('nats://x:1',)), KafkaSettings('x:1'))\n"
        "print(','.join(m for m in ('nats', 'aiokafka') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""
