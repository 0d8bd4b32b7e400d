"""``evmon interest`` against real nats-servers, with services written as services write them.

nats-py services: a mailer that subscribed to ``User.Created`` (the publisher sends
``user.created``), a billing queue group of two on ``orders.created``, a publisher of
``payments.failed`` that nobody listens to. Every figure evmon reports is compared with the
server's own answer: ``/subsz?subs=1`` and ``/connz?subs=detail`` on the monitoring port,
``$SYS.REQ.SERVER.PING.SUBSZ`` with the system account, every node of a 3-node cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from evmon.config import NatsSettings
from evmon.interest import InterestReport
from evmon.sources.nats.connect import connect_nats
from evmon.sources.nats.interest import (
    MonitorTable,
    SystemTable,
    TableSource,
    account_of,
    watch_interest,
)
from tests.brokers import NatsServer
from tests.nats_cluster import NatsCluster
from tests.waiting import async_wait_for

SYS_CONFIG = """
accounts {
  APP { users [{user: app, password: app-secret}] }
  SYS { users [{user: sys, password: sys-secret}] }
}
system_account: SYS
max_pending: 4MB
"""


@pytest.fixture(scope="module")
def monitored() -> Iterator[NatsServer]:
    with NatsServer(config="max_pending: 4MB\n") as server:
        yield server


@pytest.fixture(scope="module")
def with_system_account() -> Iterator[NatsServer]:
    with NatsServer(config=SYS_CONFIG, jetstream=False) as server:
        yield server


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


@dataclass
class Shop:
    """The services: their connections and what each one received."""

    got: Counter[str] = field(default_factory=Counter)
    conns: list[Client] = field(default_factory=list)
    publisher: Client | None = None

    async def publish(self, subject: str, n: int) -> None:
        assert self.publisher is not None
        for i in range(n):
            await self.publisher.publish(subject, json.dumps({"n": i}).encode())
        await self.publisher.flush()


@contextlib.asynccontextmanager
async def shop(urls: list[str], user: str | None = None) -> AsyncIterator[Shop]:
    """mailer (User.Created), billing-1 and billing-2 (queue billing on orders.created) and
    a publisher, spread over ``urls`` (one per node in a cluster)."""
    s = Shop()

    def counter(name: str) -> Any:
        async def cb(msg: Msg) -> None:
            s.got[name] += 1

        return cb

    auth = {"user": user, "password": f"{user}-secret"} if user else {}

    async def conn(name: str, i: int) -> Client:
        nc = await nats.connect(urls[i % len(urls)], name=name, **auth)
        s.conns.append(nc)
        return nc

    try:
        mailer = await conn("mailer", 0)
        await mailer.subscribe("User.Created", cb=counter("mailer"))
        for i, name in enumerate(("billing-1", "billing-2"), 1):
            nc = await conn(name, i)
            await nc.subscribe("orders.created", queue="billing", cb=counter(name))
        for nc in s.conns:
            await nc.flush()
        s.publisher = await conn("signup", 0)
        yield s
    finally:
        for nc in s.conns:
            with contextlib.suppress(Exception):
                await nc.close()


async def _window(
    evmon_url: str, source_of: Any, s: Shop, *, user: str | None = None, n: int = 6
) -> tuple[InterestReport, Client]:
    """One interest window on evmon's own connection while the shop publishes."""
    settings = NatsSettings(
        urls=(evmon_url,), user=user, password=f"{user}-secret" if user else None
    )
    nc = await connect_nats(settings)
    source: TableSource = await source_of()
    started, stop = asyncio.Event(), asyncio.Event()
    account = await account_of(nc)
    task = asyncio.create_task(
        watch_interest(nc, [">"], 60, source, account=account, stop=stop, started=started)
    )
    await asyncio.wait_for(started.wait(), 20)
    await s.publish("user.created", n)
    await s.publish("orders.created", n)
    await s.publish("payments.failed", 3)
    await async_wait_for(
        lambda: s.got["billing-1"] + s.got["billing-2"] == n, message="billing got every order"
    )
    stop.set()
    report = await task
    return report, nc


def _check_shop_rows(report: InterestReport, n: int) -> None:
    by = {r.subject: r.to_record() for r in report.rows}
    assert by["user.created"] == {
        "subject": "user.created",
        "msgs": n,
        "subscribers": 0,
        "queues": {},
        "issue": "near-miss",
        "near": ["User.Created"],
    }
    assert by["User.Created"] == {
        "subject": "User.Created",
        "msgs": 0,
        "subscribers": 1,
        "queues": {},
        "issue": "near-miss",
        "near": ["user.created"],
    }
    assert by["orders.created"] == {
        "subject": "orders.created",
        "msgs": n,
        "subscribers": 0,
        "queues": {"billing": 2},
        "issue": None,
        "near": [],
    }
    assert by["payments.failed"]["issue"] == "no-subscriber"
    assert by["payments.failed"]["msgs"] == 3


async def test_monitoring_endpoint_figures_match_the_server(monitored: NatsServer) -> None:
    async with shop([monitored.url]) as s:

        async def source() -> TableSource:
            return MonitorTable(monitored.monitor_url)

        report, nc = await _window(monitored.url, source, s)
        try:
            _check_shop_rows(report, 6)
            # the server's own answers, now (evmon's window subscription is gone)
            subsz = _get(f"{monitored.monitor_url}/subsz?subs=1")["subscriptions_list"]
            connz = _get(f"{monitored.monitor_url}/connz?subs=detail")["connections"]
            names = {c["cid"]: c.get("name", "") for c in connz}
            billing = [x for x in subsz if x.get("qgroup") == "billing"]
            mailer = [x for x in subsz if x["subject"] == "User.Created"]
            assert len(billing) == 2 and len(mailer) == 1
            (split,) = report.queues
            server_msgs = {names[x["cid"]]: x["msgs"] for x in billing}
            assert {m.client: m.msgs for m in split.members} == server_msgs
            assert server_msgs == {"billing-1": s.got["billing-1"], "billing-2": s.got["billing-2"]}
            assert sum(server_msgs.values()) == 6
            # evmon's own connection holds subscriptions the server lists; none was counted
            mine = [c for c in connz if c.get("name") == "evmon"]
            assert mine and all(r.subject != "_INBOX.>" for r in report.rows)
        finally:
            await nc.close()


async def test_system_account_figures_match_the_server(with_system_account: NatsServer) -> None:
    server = with_system_account
    async with shop([server.url], user="app") as s:
        sys_nc = await connect_nats(
            NatsSettings(urls=(server.url,), user="sys", password="sys-secret")
        )
        try:

            async def source() -> TableSource:
                return SystemTable(sys_nc)

            report, nc = await _window(server.url, source, s, user="app")
            await nc.close()
            _check_shop_rows(report, 6)
            answer = await sys_nc.request(
                "$SYS.REQ.SERVER.PING.SUBSZ",
                json.dumps({"subscriptions": True, "account": "APP"}).encode(),
                timeout=5,
            )
            subs = json.loads(answer.data)["data"]["subscriptions_list"]
            billing = sorted(x["msgs"] for x in subs if x.get("qgroup") == "billing")
            assert billing == sorted(m.msgs for m in report.queues[0].members)
            # the system account's own connection (another account) never shows
            assert all(not r.subject.startswith("$SYS") for r in report.rows)
        finally:
            await sys_nc.close()


async def test_a_cluster_is_merged_by_server_id() -> None:
    with NatsCluster() as cluster:
        urls = cluster.urls
        monitors = [n.monitor_url for n in cluster.nodes.values()]
        async with shop(urls) as s:
            # one node named twice: merged by server id, not counted twice
            async def source() -> TableSource:
                return MonitorTable(",".join([*monitors, monitors[0]]))

            report, nc = await _window(urls[1], source, s)
            await nc.close()
            assert report.servers == 3
            _check_shop_rows(report, 6)
            (split,) = report.queues
            assert {m.client for m in split.members} == {"billing-1", "billing-2"}
            assert len({m.server_id for m in split.members}) == 2  # on two different nodes
            per_node = []
            for url in monitors:
                subs = _get(f"{url}/subsz?subs=1")["subscriptions_list"]
                per_node += [x["msgs"] for x in subs if x.get("qgroup") == "billing"]
            assert sorted(per_node) == sorted(m.msgs for m in split.members)


def _stuck_reader(port: int, name: str, subject: str) -> socket.socket:
    """A client that subscribes and then never reads its socket (a callback that blocks the
    reader, at the wire): the server's pending bytes for it grow."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.recv(4096)  # INFO
    connect = json.dumps({"name": name, "verbose": False, "pedantic": False})
    sock.sendall(f"CONNECT {connect}\r\nSUB {subject} 1\r\nPING\r\n".encode())
    return sock


def _conn_named(monitor: str, name: str, state: str = "open") -> dict[str, Any] | None:
    for c in _get(f"{monitor}/connz?state={state}&limit=1024")["connections"]:
        if c.get("name") == name:
            found: dict[str, Any] = c
            return found
    return None


async def test_slow_clients_are_named(monitored: NatsServer) -> None:
    sock = _stuck_reader(monitored.port, "stuck-reader", "bulk.>")
    pub = await nats.connect(monitored.url, name="bulk-publisher")
    nc = await connect_nats(NatsSettings(urls=(monitored.url,)))
    try:
        await async_wait_for(lambda: _conn_named(monitored.monitor_url, "stuck-reader"))
        source = MonitorTable(monitored.monitor_url)
        started, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            watch_interest(nc, ["bulk.>"], 60, source, stop=stop, started=started)
        )
        await asyncio.wait_for(started.wait(), 20)
        chunk = b"x" * 65536

        async def pending() -> bool:
            await pub.publish("bulk.data", chunk)
            await pub.flush()
            conn = _conn_named(monitored.monitor_url, "stuck-reader")
            # past what the socket buffers absorb: from here on it only grows
            return conn is None or conn["pending_bytes"] > 1_000_000

        await async_wait_for(pending, timeout=30, message="the server holds pending bytes")
        stop.set()
        report = await task
        assert report.slow, report
        assert report.slow[0].client == "stuck-reader"

        # keep sending until the server closes it as a slow consumer (max_pending 4MB)
        async def closed() -> bool:
            await pub.publish("bulk.data", chunk)
            await pub.flush()
            return _conn_named(monitored.monitor_url, "stuck-reader", "closed") is not None

        started, stop = asyncio.Event(), asyncio.Event()
        before = await source.snapshot(None)
        await async_wait_for(closed, timeout=60, message="closed as a slow consumer")
        after = await source.snapshot(None)
        from evmon.interest import interest_report

        slow = interest_report({}, before, after).slow
        gone = _conn_named(monitored.monitor_url, "stuck-reader", "closed")
        assert gone is not None and "Slow Consumer" in gone["reason"]
        assert any(x.client == "stuck-reader" and "slow consumer" in x.why for x in slow)
    finally:
        sock.close()
        await pub.close()
        await nc.close()


def _evmon(*args: str, env: dict[str, str] | None = None) -> Any:
    return asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evmon",
        "interest",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


async def _run_while_publishing(
    s: Shop, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = await _evmon(*args, env=env)

    async def publish() -> None:
        while True:
            await s.publish("user.created", 1)
            await s.publish("payments.failed", 1)
            await asyncio.sleep(0.05)

    pub = asyncio.create_task(publish())
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        pub.cancel()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_command_prints_table_and_json(monitored: NatsServer) -> None:
    async with shop([monitored.url]) as s:
        base = ("--nats", monitored.url, "--nats-monitor", monitored.monitor_url, "--seconds", "1")
        rc, out, err = await _run_while_publishing(
            s, *base, "-s", "user.>", "-s", "User.>", "-s", "payments.>", "--format", "json"
        )
        assert rc == 0, err
        rows = {r["subject"]: r for r in json.loads(out)}
        assert set(rows) == {"user.created", "User.Created", "payments.failed"}
        assert rows["user.created"]["issue"] == "near-miss" and rows["user.created"]["msgs"] > 0
        assert rows["payments.failed"]["issue"] == "no-subscriber"
        assert list(rows["User.Created"]) == [
            "subject",
            "msgs",
            "subscribers",
            "queues",
            "issue",
            "near",
        ]
        rc, out, err = await _run_while_publishing(s, *base)
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("Who listens (window 1 s, table from http://")
        assert lines[1].split() == ["SUBJECT", "MSGS", "SUBSCRIBERS", "QUEUES", "ISSUE"]
        assert any(
            ln.startswith("payments.failed") and ln.endswith("no-subscriber") for ln in lines
        )
        assert "orders.created billing: 2 members:" in out


async def test_the_system_account_from_flags(with_system_account: NatsServer) -> None:
    server = with_system_account
    async with shop([server.url], user="app") as s:
        rc, out, err = await _run_while_publishing(
            s,
            "--nats",
            server.url,
            "--nats-user",
            "app",
            "--nats-system-user",
            "sys",
            "--seconds",
            "1",
            "--format",
            "json",
            env={"EVMON_NATS_PASSWORD": "app-secret", "EVMON_NATS_SYSTEM_PASSWORD": "sys-secret"},
        )
        assert rc == 0, err
        rows = {r["subject"]: r for r in json.loads(out)}
        assert rows["orders.created"]["queues"] == {"billing": 2}
        assert rows["User.Created"]["issue"] == "near-miss"


async def test_without_a_source_it_names_what_it_needs(monitored: NatsServer) -> None:
    proc = await _evmon("--nats", monitored.url, "--seconds", "1")
    out, err = await proc.communicate()
    assert proc.returncode == 2 and out == b""
    assert err.decode().splitlines() == [
        "evmon: error: evmon interest needs the server's subscription table: give "
        "--nats-monitor http://HOST:8222 (the server's monitoring port, -m) or system-account "
        "credentials (--nats-system-context NAME, --nats-system-creds FILE or "
        "--nats-system-user USER)"
    ]
