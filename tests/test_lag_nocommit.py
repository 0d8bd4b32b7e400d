"""NOCOMMIT and group members, broker-free: the window never judges a partition with no
committed offset, and the table, the JSON and ``--members`` say what the rows hold.

The same figures against a real Kafka are in ``test_lag_nocommit_kafka.py``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from evmon.commands.lag import (
    JETSTREAM_MEMBERS,
    members_records,
    members_table,
    render_table,
)
from evmon.lag import (
    STATUSES,
    JetStreamLagRow,
    KafkaLagRow,
    KafkaMember,
    LagHistory,
    LagPoller,
    nocommit_note,
    summarize_groups,
)
from tests.helpers import run_evmon

ALICE = KafkaMember("svc-1-aa", "svc-1", "/10.0.0.7", (("t", 1), ("t", 0), ("u", 2)))
BOB = KafkaMember("svc-2-bb", "svc-2", "/10.0.0.8", ())


def nocommit(lag: int, members: int = 1, partition: int = 0, at: float = 0.0) -> KafkaLagRow:
    """A partition the group never committed on, as the source gives it."""
    return KafkaLagRow(
        "g", "Stable" if members else "Empty", members, "t", partition, None, 100 + lag, lag,
        "NOCOMMIT", at if members else None,
    )  # fmt: skip


def test_nocommit_is_never_judged_stall_or_stop() -> None:
    """The position (none) never moves and the lag only grows, with members (STALL's
    pattern) and then without (STOP's): the status stays NOCOMMIT, the trend is drawn."""
    history: LagHistory[KafkaLagRow] = LagHistory(window=3)
    statuses = []
    for t in range(4):
        (out,) = history.observe([nocommit(10 + t, at=float(t))], now=float(t))
        statuses.append(out.status)
    for t in range(4, 8):
        (out,) = history.observe([nocommit(10 + t, members=0)], now=float(t))
        statuses.append(out.status)
    assert statuses == ["NOCOMMIT"] * 8
    assert [s.lag for s in history.samples(("g", "t", 0))] == [15, 16, 17]
    assert all(s.position is None for s in history.samples(("g", "t", 0)))


def test_a_first_commit_ends_nocommit_and_a_lost_one_brings_it_back() -> None:
    history: LagHistory[KafkaLagRow] = LagHistory(window=3)
    history.observe([nocommit(40)], now=0.0)
    committed = KafkaLagRow("g", "Stable", 1, "t", 0, 120, 140, 20, "OK", 1.0)
    (out,) = history.observe([committed], now=1.0)
    assert out.status == "OK"  # the lag went down while the position appeared: not WARN
    (out,) = history.observe([nocommit(45)], now=2.0)  # offsets expired or deleted
    assert out.status == "NOCOMMIT"
    (gone,) = history.observe([], now=3.0)
    assert gone.status == "ERR"  # the group vanished: ERR as for any row


def test_nocommit_ranks_just_above_ok() -> None:
    assert STATUSES == ("OK", "NOCOMMIT", "WARN", "STALL", "STOP", "ERR")
    ok = KafkaLagRow("g", "Stable", 1, "t", 1, 5, 5, 0, "OK")
    stall = KafkaLagRow("h", "Stable", 1, "t", 1, 5, 9, 4, "STALL")
    summaries = summarize_groups([ok, nocommit(7), stall, nocommit(3).__class__(
        "h", "Stable", 1, "t", 0, None, 3, 3, "NOCOMMIT")])  # fmt: skip
    assert [(s.group, s.status, s.lag) for s in summaries] == [
        ("g", "NOCOMMIT", 7),
        ("h", "STALL", 7),
    ]


def test_the_record_keeps_committed_null_and_the_lag_from_the_log_start() -> None:
    row = nocommit(33)
    assert row.to_record() == {
        "system": "kafka", "group": "g", "state": "Stable", "members": 1, "topic": "t",
        "partition": 0, "committed": None, "end": 133, "lag": 33, "status": "NOCOMMIT",
    }  # fmt: skip
    assert "member_list" not in row.to_record()


def test_the_table_says_what_nocommit_means() -> None:
    history: LagHistory[KafkaLagRow] = LagHistory()
    ok = KafkaLagRow("g", "Stable", 1, "t", 1, 5, 5, 0, "OK")
    rows = history.observe([nocommit(33), ok], now=0.0)
    lines = render_table("kafka", rows, history).splitlines()
    assert lines[1].split() == [
        "GROUP", "STATE", "MEMBERS", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG",
        "TREND", "STATUS", "NOTE",
    ]  # fmt: skip
    assert lines[2].endswith(
        "NOCOMMIT  no commit: a client starting at newest skips 33, at oldest reads 33"
    )
    assert lines[2].split()[:8] == ["g", "Stable", "1", "t", "0", "-", "133", "33"]
    assert lines[3].rstrip().endswith("OK")  # the status column is padded, the note empty
    assert lines[3].index("OK") == lines[2].index("NOCOMMIT")
    # no NOCOMMIT row: no NOTE column (the table is as before)
    assert "NOTE" not in render_table("kafka", [ok], history)
    assert nocommit_note(nocommit(0)) == (
        "no commit: a client starting at newest skips 0, at oldest reads 0"
    )


def test_a_coloured_nocommit_keeps_the_columns_aligned() -> None:
    history: LagHistory[KafkaLagRow] = LagHistory()
    ok = KafkaLagRow("g", "Stable", 1, "t", 1, 5, 5, 0, "OK")
    rows = history.observe([nocommit(2), ok], now=0.0)
    plain = render_table("kafka", rows, history).splitlines()
    painted = render_table("kafka", rows, history, colour=True).splitlines()
    assert "\x1b[36mNOCOMMIT\x1b[0m  no commit" in painted[2]
    strip = [line.replace("\x1b[36m", "").replace("\x1b[32m", "").replace("\x1b[0m", "")
             for line in painted]  # fmt: skip
    assert strip == plain


def _report(*rows: KafkaLagRow, jetstream: list[JetStreamLagRow] | None = None) -> LagPoller:
    poller = LagPoller()
    poller.kafka.watch(lambda: None, lambda c: None)  # type: ignore[arg-type, return-value]
    poller.kafka.observe(list(rows), 0.0)
    if jetstream is not None:
        poller.jetstream.watch(lambda: None, lambda c: None)  # type: ignore[arg-type, return-value]
        poller.jetstream.observe(jetstream, 0.0)
    return poller


def test_members_table_is_like_kafka_consumer_groups_members_verbose() -> None:
    both = (ALICE, BOB)
    rows = [
        KafkaLagRow("g", "Stable", 2, "t", 0, 1, 2, 1, member_list=both),
        KafkaLagRow("g", "Stable", 2, "t", 1, 1, 2, 1, member_list=both),
        KafkaLagRow("idle", "Empty", 0, None, None, None, None, None),
        KafkaLagRow("kip848", "unknown (consumer protocol)", None, "t", 0, 3, 3, 0),
    ]
    lines = members_table("kafka", rows).splitlines()
    assert lines[0] == "Kafka consumer group members"
    assert lines[1].split() == [
        "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT",
    ]  # fmt: skip
    assert lines[2].split() == ["g", "svc-1-aa", "/10.0.0.7", "svc-1", "3", "t:0,1;u:2"]
    assert lines[3].split() == ["g", "svc-2-bb", "/10.0.0.8", "svc-2", "0", "-"]
    assert lines[4:] == [
        "idle: no active members (Empty)",
        "kip848: members unknown (unknown (consumer protocol))",
    ]
    assert members_table("jetstream", []) == JETSTREAM_MEMBERS
    assert members_table("kafka", []) == "Kafka consumer group members: no groups"


def test_members_records_shape() -> None:
    js = JetStreamLagRow("S", "c", 1, 0, 0, 2, 5, 5, 6)
    poller = _report(
        KafkaLagRow("g", "Stable", 1, "t", 0, 1, 2, 1, member_list=(ALICE,)),
        KafkaLagRow("idle", "Empty", 0, None, None, None, None, None),
        KafkaLagRow("kip848", "unknown (consumer protocol)", None, "t", 0, 3, 3, 0),
        jetstream=[js],
    )
    records: list[dict[str, Any]] = members_records(poller.systems)
    assert records == [
        {
            "system": "kafka",
            "group": "g",
            "state": "Stable",
            "members": [
                {
                    "member_id": "svc-1-aa",
                    "client_id": "svc-1",
                    "host": "/10.0.0.7",
                    "assignment": [
                        {"topic": "t", "partition": 0},
                        {"topic": "t", "partition": 1},
                        {"topic": "u", "partition": 2},
                    ],
                }
            ],
        },
        {"system": "kafka", "group": "idle", "state": "Empty", "members": []},
        {
            "system": "kafka",
            "group": "kip848",
            "state": "unknown (consumer protocol)",
            "members": None,
        },
    ]
    orjson.dumps(records)  # JSON as it is


def test_hostile_member_names_are_escaped() -> None:
    evil = KafkaMember("m\x1b]0;pwned\x07", "c\x1b[2J", "/h", (("t", 0),))
    text = members_table(
        "kafka", [KafkaLagRow("g", "Stable", 1, "t", 0, 0, 0, 0, member_list=(evil,))]
    )
    assert "\x1b" not in text and "\x07" not in text


@pytest.mark.parametrize(
    "extra", [["--fail-on", "STALL"], ["--fail-on", "NOCOMMIT", "--window", "1"]]
)
def test_members_and_fail_on_do_not_mix(extra: list[str]) -> None:
    res = run_evmon(["lag", "--kafka", "127.0.0.1:1", "--members", *extra])
    assert res.returncode == 2
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "--members" in lines[0] and "--fail-on" in lines[0]
