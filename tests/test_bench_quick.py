"""The benchmark harness keeps working: ``python -m bench --quick`` runs every benchmark once
with small counts and writes its results. Nothing here is about speed (issue 8: speed is
shown by the benchmarks' ratios, never by timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.kafka  # the Kafka benchmarks start a broker
@pytest.mark.timeout(900)
def test_quick_bench_runs_and_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    results = json.loads((tmp_path / "quick.json").read_text(encoding="utf-8"))
    table = (tmp_path / "quick.md").read_text(encoding="utf-8")
    assert results["failures"] == []
    benches = results["benchmarks"]
    for name in ("nats_ingest", "filter", "paced", "memory", "startup"):
        assert benches[name], name
    # Every NATS contender read the whole bounded flood, and the baseline gave a rate.
    for size, contenders in benches["nats_ingest"].items():
        for name, summary in contenders.items():
            assert summary["complete"], (size, name, summary)
        assert contenders["raw nats-py"]["median"] > 0
    # Kafka runs where Java can start a broker (it can in CI): then every contender
    # read the whole topic.
    if benches.get("kafka_ingest"):
        for name, summary in benches["kafka_ingest"]["results"].items():
            assert summary["complete"], (name, summary)
    assert results["targets"], "no target was evaluated"
    assert "## Targets" in table and "raw nats-py" in table
    assert (tmp_path / "quick.png").stat().st_size > 0
