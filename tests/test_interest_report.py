"""The interest rows and their rules, broker-free (evmon.interest: pure functions).

The documents fed here have the shapes a real nats-server 2.15 answers with (``subsz``'s
``subscriptions_list``, ``connz``'s ``connections``); test_interest_brokers.py checks the
same figures against live servers.
"""

from __future__ import annotations

from typing import Any

import pytest

from evmon.interest import (
    InterestReport,
    TableSnapshot,
    interest_report,
    is_near,
    patterns_overlap,
    table_from_documents,
)

S1 = "NSERVER1"


def _sub(
    cid: int, sid: int, subject: str, msgs: int = 0, queue: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "account": "$G",
        "subject": subject,
        "sid": str(sid),
        "msgs": msgs,
        "cid": cid,
    }
    if queue:
        out["qgroup"] = queue
    return out


def _conn(cid: int, name: str, pending: int = 0) -> dict[str, Any]:
    return {"cid": cid, "kind": "Client", "name": name, "pending_bytes": pending}


def _table(
    subs: list[dict[str, Any]],
    conns: list[dict[str, Any]],
    server: str = S1,
    closed: list[dict[str, Any]] | None = None,
) -> TableSnapshot:
    return table_from_documents(
        connz=[{"server_id": server, "offset": 0, "connections": conns}],
        subsz=[{"server_id": server, "subscriptions_list": subs}],
        closed=[{"server_id": server, "connections": closed or []}],
    )


CONNS = [_conn(5, "mailer"), _conn(6, "billing-1"), _conn(7, "billing-2"), _conn(9, "evmon")]


def _report(traffic: dict[str, int], subs: list[dict[str, Any]], **kw: Any) -> InterestReport:
    table = _table(subs, CONNS)
    return interest_report(traffic, None, table, **kw)


def test_the_wrong_case_subscriber_and_the_unheard_publisher_are_a_near_miss() -> None:
    report = _report({"user.created": 4}, [_sub(5, 1, "User.Created")])
    rows = {r.subject: r.to_record() for r in report.rows}
    assert rows == {
        "User.Created": {
            "subject": "User.Created",
            "msgs": 0,
            "subscribers": 1,
            "queues": {},
            "issue": "near-miss",
            "near": ["user.created"],
        },
        "user.created": {
            "subject": "user.created",
            "msgs": 4,
            "subscribers": 0,
            "queues": {},
            "issue": "near-miss",
            "near": ["User.Created"],
        },
    }


def test_no_subscriber_no_traffic_and_a_healthy_queue_group() -> None:
    subs = [
        _sub(6, 1, "orders.created", 3, "billing"),
        _sub(7, 1, "orders.created", 2, "billing"),
        _sub(5, 2, "invoices.sent"),
    ]
    report = _report({"orders.created": 5, "payments.failed": 2}, subs)
    by = {r.subject: r for r in report.rows}
    assert by["orders.created"].queues == {"billing": 2} and by["orders.created"].issue is None
    assert by["payments.failed"].issue == "no-subscriber" and by["payments.failed"].dropped
    assert by["invoices.sent"].issue == "no-traffic"
    (split,) = report.queues
    assert [(m.client, m.msgs) for m in split.members] == [("billing-1", 3), ("billing-2", 2)]
    assert split.verdict is None


def test_evmon_never_counts_by_name_or_by_its_own_cid() -> None:
    subs = [_sub(9, 1, ">"), _sub(8, 1, "orders.>")]
    report = _report({"orders.created": 1}, [*subs, _sub(5, 3, "x.y")], own={(S1, 8)})
    by = {r.subject: r for r in report.rows}
    assert by["orders.created"].issue == "no-subscriber"
    assert ">" not in by and "orders.>" not in by


def test_wildcard_subscriptions_cover_subjects_and_count_their_traffic() -> None:
    report = _report(
        {"orders.eu.created": 2, "orders.us.created": 1}, [_sub(5, 1, "orders.*.created")]
    )
    by = {r.subject: r for r in report.rows}
    assert by["orders.*.created"].msgs == 3 and by["orders.*.created"].issue is None
    assert by["orders.eu.created"].subscribers == 1


def test_a_stream_s_capture_is_interest() -> None:
    # cid 3 is no client connection: the server's own subscription (a stream capturing)
    report = _report({"orders.created": 1}, [_sub(3, 1, "orders.>")])
    by = {r.subject: r for r in report.rows}
    assert by["orders.created"].issue is None and by["orders.created"].subscribers == 1
    assert by["orders.>"].clients == ("server (stream or import)",)


def test_inboxes_and_server_subjects_are_hidden_unless_asked() -> None:
    subs = [_sub(5, 1, "_INBOX.abc.*"), _sub(3, 2, "$JS.API.>")]
    assert _report({"_INBOX.abc.1": 1}, subs).rows == ()
    asked = _report({}, subs, patterns=["$JS.>"])
    assert [r.subject for r in asked.rows] == ["$JS.API.>"]


def test_patterns_limit_the_rows() -> None:
    report = _report({"a.b": 1, "c.d": 1}, [_sub(5, 1, "c.>")], patterns=["a.*"])
    assert [r.subject for r in report.rows] == ["a.b"]


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        ("user.created", "User.Created", True),
        ("user.created", "user.create", True),
        ("users.created", "user.created", True),
        ("User.*", "user.created", True),
        ("orders.created", "orders.paid", False),
        ("orders.eu.created", "orders.us.created", False),
        ("orders.created", "orders.created", False),
        ("orders.*", "orders.created", False),
        ("a.b.c", "a.b", False),
    ],
)
def test_near_misses(a: str, b: str, near: bool) -> None:
    assert is_near(a, b) is near
    assert is_near(b, a) is near


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (">", "x.y", True),
        ("orders.*", "*.created", True),
        ("orders.>", "orders", False),
        ("orders.>", "orders.*.x", True),
        ("a.b", "a.c", False),
        ("a.*", "a.b.c", False),
    ],
)
def test_patterns_overlap(a: str, b: str, overlap: bool) -> None:
    assert patterns_overlap(a, b) is overlap


def test_single_member_and_uneven_groups_stand_out() -> None:
    before = _table(
        [_sub(6, 1, "jobs", 10, "w"), _sub(7, 1, "jobs", 10, "w"), _sub(5, 1, "solo", 0, "one")],
        CONNS,
    )
    after = _table(
        [_sub(6, 1, "jobs", 19, "w"), _sub(7, 1, "jobs", 11, "w"), _sub(5, 1, "solo", 4, "one")],
        CONNS,
    )
    report = interest_report({"jobs": 10, "solo": 4}, before, after)
    verdicts = {s.subject: (s.verdict, [m.msgs for m in s.members]) for s in report.queues}
    assert verdicts == {"jobs": ("uneven", [9, 1]), "solo": ("single member", [4])}
    assert report.queues[0].describe() == "jobs w: 2 members: billing-1 9, billing-2 1 (uneven)"


def test_slow_clients_by_pending_growth_and_by_the_server_closing_them() -> None:
    before = _table([], [_conn(5, "mailer", 0), _conn(9, "evmon", 0)])
    closed = [{"cid": 12, "name": "reporter", "reason": "Slow Consumer (Pending Bytes)"}]
    after = _table([], [_conn(5, "mailer", 4096), _conn(9, "evmon", 9999)], closed=closed)
    slow = [s.describe() for s in interest_report({}, before, after).slow]
    assert len(slow) == 2
    assert slow[0].startswith("mailer: pending bytes grew over the window (0 → 4096)")
    assert slow[1].startswith("reporter: closed by the server as a slow consumer")


def test_one_server_reached_twice_counts_once() -> None:
    docs: dict[str, Any] = {"server_id": S1, "offset": 0, "connections": [_conn(5, "mailer")]}
    subs: dict[str, Any] = {"server_id": S1, "subscriptions_list": [_sub(5, 1, "a")]}
    table = table_from_documents(connz=[docs, docs], subsz=[subs, subs])
    assert len(table.subscriptions) == 1 and len(table.connections) == 1


def test_other_accounts_do_not_count() -> None:
    subs = [{**_sub(5, 1, "a"), "account": "OTHER"}]
    table = table_from_documents(
        connz=[{"server_id": S1, "connections": [{**_conn(5, "x"), "account": "OTHER"}]}],
        subsz=[{"server_id": S1, "subscriptions_list": subs}],
        account="APP",
    )
    assert table.subscriptions == () and dict(table.connections) == {}
