"""Status over a window of samples (Burrow's rules) and the history that feeds it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evmon.lag import (
    JetStreamLagRow,
    KafkaGroupSummary,
    KafkaLagRow,
    KafkaMember,
    LagHistory,
    Sample,
    Status,
    evaluate,
    summarize_groups,
)


def script(
    positions: Sequence[int | None], lags: Sequence[int], active: bool = True
) -> list[Sample]:
    """Samples one second apart; ``active`` marks the consumer alive at every sample."""
    return [
        Sample(float(t), p, lag, float(t) if active else None)
        for t, (p, lag) in enumerate(zip(positions, lags, strict=True))
    ]


@pytest.mark.parametrize(
    ("positions", "lags", "active", "expected"),
    [
        # one sample: only OK (or ERR, decided by the history)
        ([5], [1000], True, "OK"),
        ([5], [1000], False, "OK"),
        # lag reached zero inside the window, even with a frozen position
        ([10, 10, 10], [3, 0, 7], True, "OK"),
        ([10, 10, 10], [0, 0, 0], False, "OK"),
        # progressing and the lag shrinks or holds
        ([10, 20, 30, 40], [50, 40, 30, 20], True, "OK"),
        ([10, 20, 30], [50, 50, 50], True, "OK"),
        # progressing, but the lag grows at every step: WARN
        ([10, 20, 30, 40], [50, 60, 70, 80], True, "WARN"),
        # grows but not monotonically: not WARN
        ([10, 20, 30, 40], [50, 60, 55, 80], True, "OK"),
        # position frozen with lag, consumer alive: STALL
        ([10, 10, 10], [5, 5, 5], True, "STALL"),
        ([10, 10, 10], [5, 9, 14], True, "STALL"),
        # never committed (position None) and frozen, consumer alive: STALL
        ([None, None], [7, 9], True, "STALL"),
        # position frozen with lag, nobody consuming: STOP
        ([10, 10, 10], [5, 9, 14], False, "STOP"),
        ([None, None, None], [7, 7, 7], False, "STOP"),
    ],
)
def test_evaluate_scripted_windows(
    positions: list[int | None], lags: list[int], active: bool, expected: Status
) -> None:
    assert evaluate(script(positions, lags, active)) == expected


def test_no_samples_is_err() -> None:
    assert evaluate([]) == "ERR"


def test_allowed_lag_counts_as_caught_up() -> None:
    samples = script([10, 10, 10], [40, 50, 45])
    assert evaluate(samples) == "STALL"
    assert evaluate(samples, allowed_lag=40) == "OK"


def test_activity_before_the_window_does_not_count() -> None:
    """A JetStream consumer last active before the window began has stopped."""
    samples = [Sample(100.0, 3, 10, 50.0), Sample(101.0, 3, 12, 50.0)]
    assert evaluate(samples) == "STOP"
    assert evaluate([Sample(100.0, 3, 10, 50.0), Sample(101.0, 3, 12, 100.5)]) == "STALL"


def kafka_row(
    committed: int | None, lag: int, members: int = 1, partition: int = 0, at: float = 0.0
) -> KafkaLagRow:
    """A row as the source gives it: a group with members was alive at ``at``."""
    return KafkaLagRow(
        "g",
        "Stable" if members else "Empty",
        members,
        "t",
        partition,
        committed,
        (committed or 0) + lag,
        lag,
        active_at=at if members else None,
    )


def test_history_window_and_status() -> None:
    history: LagHistory[KafkaLagRow] = LagHistory(window=3)
    statuses = []
    for t, committed in enumerate([10, 10, 10, 10]):
        (out,) = history.observe([kafka_row(committed, 5 + t, at=float(t))], now=float(t))
        statuses.append(out.status)
    assert statuses == ["OK", "STALL", "STALL", "STALL"]
    assert [s.lag for s in history.samples(("g", "t", 0))] == [6, 7, 8]  # last 3 kept


def test_history_recovers_to_ok_when_lag_drops() -> None:
    history: LagHistory[KafkaLagRow] = LagHistory(window=3)
    for t, (committed, lag) in enumerate([(10, 5), (20, 9), (30, 12)]):
        (out,) = history.observe([kafka_row(committed, lag)], now=float(t))
    assert out.status == "WARN"
    (out,) = history.observe([kafka_row(40, 0)], now=3.0)
    assert out.status == "OK"


def test_vanished_rows_turn_err_then_are_forgotten() -> None:
    history: LagHistory[KafkaLagRow] = LagHistory(window=2)
    history.observe([kafka_row(1, 1, partition=0), kafka_row(1, 1, partition=1)], now=0.0)
    out = history.observe([kafka_row(2, 0, partition=0)], now=1.0)
    assert [(r.partition, r.status) for r in out] == [(0, "OK"), (1, "ERR")]
    assert out[1].committed == 1  # last known values are kept
    history.observe([kafka_row(3, 0, partition=0)], now=2.0)
    out = history.observe([kafka_row(4, 0, partition=0)], now=3.0)
    assert [(r.partition, r.status) for r in out] == [(0, "OK")]
    assert ("g", "t", 1) not in history


def test_source_err_rows_stay_err_and_add_no_sample() -> None:
    history: LagHistory[KafkaLagRow] = LagHistory()
    err = KafkaLagRow("g", "Dead", 0, None, None, None, None, None, "ERR")
    assert history.observe([err], now=0.0) == [err]
    assert history.samples(err.key) == ()


def test_failed_refresh_marks_everything_err() -> None:
    history: LagHistory[JetStreamLagRow] = LagHistory()
    row = JetStreamLagRow("S", "c", 1, 2, 0, 0, 5, 3, 8)
    history.observe([row], now=0.0)
    (failed,) = history.fail()
    assert failed.status == "ERR" and failed.num_pending == 1
    assert row.lag_value == 3 and row.position == 3


def test_records_follow_the_design_field_order() -> None:
    k = KafkaLagRow("g", "Stable", 2, "t", 1, None, 10, 10)
    assert list(k.to_record()) == [
        "system", "group", "state", "members", "topic", "partition",
        "committed", "end", "lag", "status",
    ]  # fmt: skip
    assert k.to_record()["system"] == "kafka" and k.to_record()["committed"] is None
    j = JetStreamLagRow("S", "c", 1, 2, 3, 4, 5, 6, 7)
    assert list(j.to_record()) == [
        "system", "stream", "consumer", "num_pending", "num_ack_pending", "num_redelivered",
        "num_waiting", "delivered_stream_seq", "ack_floor_stream_seq", "last_stream_seq",
        "status",
    ]  # fmt: skip
    assert j.to_record()["system"] == "jetstream"


@pytest.mark.parametrize(
    "module",
    [
        "evmon.lag",
        "evmon.lag.status",
        "evmon.lag.poller",
        "evmon.commands.lag",
        "evmon.sources.kafka.group_lag",
        "evmon.sources.nats.jetstream_lag",
    ],
)
def test_lag_modules_do_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; print(any(m.split('.')[0] == 'textual' for m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_group_summary_totals_lag_and_takes_the_worst_status() -> None:
    rows = [
        KafkaLagRow("b", "Stable", 2, "t", 0, 5, 10, 5, "OK"),
        KafkaLagRow("b", "Stable", 2, "t", 1, None, 7, 7, "STALL"),
        KafkaLagRow("b", "Stable", 2, "u", 0, 1, 2, 1, "WARN"),
        KafkaLagRow("a", "Dead", 0, None, None, None, None, None, "ERR"),
    ]
    assert summarize_groups(rows) == [
        KafkaGroupSummary("a", "Dead", 0, 0, 0, "ERR"),
        KafkaGroupSummary("b", "Stable", 2, 3, 13, "STALL"),
    ]


def test_window_must_hold_a_sample() -> None:
    with pytest.raises(ValueError):
        LagHistory(window=0)


# ------------------------------------------------------------------ the fast paths


def reference_evaluate(samples: Sequence[Sample], allowed_lag: int = 0) -> Status:
    """Burrow's rules written plainly (``evaluate`` before its one-pass rewrite)."""
    if not samples:
        return "ERR"
    if len(samples) == 1:
        return "OK"
    if any(s.lag <= allowed_lag for s in samples):
        return "OK"
    start = samples[0].time
    if len({s.position for s in samples}) == 1:
        alive = any(s.active_at is not None and s.active_at >= start for s in samples)
        return "STALL" if alive else "STOP"
    lags = [s.lag for s in samples]
    if lags[-1] > lags[0] and all(b >= a for a, b in itertools.pairwise(lags)):
        return "WARN"
    return "OK"


small = st.integers(min_value=0, max_value=4)
sample = st.builds(
    Sample,
    st.floats(min_value=0, max_value=10),
    st.one_of(st.none(), small),
    small,
    st.one_of(st.none(), st.floats(min_value=0, max_value=10)),
)


@given(st.lists(sample, max_size=12), st.integers(min_value=-1, max_value=3))
def test_evaluate_equals_the_reference_rules(samples: list[Sample], allowed: int) -> None:
    samples.sort(key=lambda s: s.time)  # oldest first, as a window holds them
    assert evaluate(samples, allowed) == reference_evaluate(samples, allowed)
    assert evaluate(deque(samples), allowed) == reference_evaluate(samples, allowed)


def test_with_status_equals_dataclasses_replace() -> None:
    member = KafkaMember("m-1", "svc", "/10.0.0.1", (("t", 0),))
    k = KafkaLagRow("g", "Stable", 1, "t", 0, 5, 9, 4, "OK", 12.5, (member,))
    j = JetStreamLagRow("S", "c", 1, 2, 3, 4, 5, 6, 7, "OK", 8.5, True)
    for row in (k, j):
        for status in ("WARN", "ERR"):
            fast, slow = row.with_status(status), dataclasses.replace(row, status=status)
            assert fast == slow and fast.active_at == slow.active_at
            assert [getattr(fast, f.name) for f in dataclasses.fields(fast)] == [
                getattr(slow, f.name) for f in dataclasses.fields(slow)
            ]


class ReferenceHistory:
    """``LagHistory.observe`` written plainly (before the fast paths), for Kafka rows."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.tracks: dict[Any, tuple[KafkaLagRow, list[Sample], int]] = {}

    def observe(self, rows: list[KafkaLagRow], now: float) -> list[KafkaLagRow]:
        out, seen = [], set()
        for row in rows:
            seen.add(row.key)
            _, samples, _ = self.tracks.get(row.key, (row, [], 0))
            self.tracks[row.key] = (row, samples, 0)
            if row.status == "ERR" or row.lag is None:
                out.append(row)
                continue
            samples.append(Sample(now, row.position, row.lag, row.active_at))
            del samples[: -self.window]
            if row.status == "NOCOMMIT":
                out.append(row)
                continue
            status = reference_evaluate(samples)
            out.append(row if status == row.status else dataclasses.replace(row, status=status))
        for key, (row, samples, missing) in list(self.tracks.items()):
            if key in seen:
                continue
            if missing + 1 > self.window:
                del self.tracks[key]
                continue
            self.tracks[key] = (row, samples, missing + 1)
            out.append(row if row.status == "ERR" else dataclasses.replace(row, status="ERR"))
        return out


refresh = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(0, 2), st.booleans()),
    max_size=15,
    unique_by=lambda t: t[0],
)


def every_field(row: KafkaLagRow) -> list[Any]:
    return [getattr(row, f.name) for f in dataclasses.fields(row)]


@given(st.lists(refresh, min_size=1, max_size=6), st.integers(1, 4), st.integers(1, 4))
def test_observe_sliced_equals_observe(rounds: list[list[Any]], window: int, size: int) -> None:
    """The same rows (every field), statuses and windows as the plain reference and as
    ``observe``, whatever the slice; rows come and go, repeat or change."""
    whole: LagHistory[KafkaLagRow] = LagHistory(window)
    sliced: LagHistory[KafkaLagRow] = LagHistory(window)
    reference = ReferenceHistory(window)
    for t, refresh_rows in enumerate(rounds):
        rows = [
            KafkaLagRow("g", "Stable", 1, "t", p, c, c + lag, lag, active_at=1.0 if a else None)
            for p, c, lag, a in refresh_rows
        ]
        expected = reference.observe(rows, now=float(t))
        got = asyncio.run(sliced.observe_sliced(rows, now=float(t), size=size))
        assert [every_field(r) for r in got] == [every_field(r) for r in expected]
        assert [every_field(r) for r in whole.observe(rows, now=float(t))] == [
            every_field(r) for r in expected
        ]
        known = whole.keys()
        assert sliced.keys() == known == list(reference.tracks)
        for k in known:
            assert sliced.samples(k) == whole.samples(k) == tuple(reference.tracks[k][1])
