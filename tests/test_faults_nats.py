"""NATS faults against owned servers: restarts, a 3-node cluster losing a node, a server that
never comes back, and a flood beyond what a subscription can buffer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from collections.abc import Iterator

import nats
import pytest

from evmon.config import NatsSettings
from evmon.model import ConnectionStatus
from evmon.selection import Start
from evmon.sources.nats.tail import NatsSource
from tests.brokers import NatsServer, free_port
from tests.helpers import ListSink, evmon_cmd
from tests.waiting import async_wait_for, wait_for


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    srv = NatsServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def running(server: NatsServer) -> NatsServer:
    server.ensure_running()
    return server


class Statuses:
    def __init__(self) -> None:
        self.seen: list[ConnectionStatus] = []

    def __call__(self, status: ConnectionStatus) -> None:
        self.seen.append(status)

    def states(self) -> list[str]:
        return [s.state for s in self.seen]


async def _publish(url: str, subject: str, payloads: list[bytes]) -> None:
    nc = await nats.connect(url)
    try:
        for p in payloads:
            await nc.publish(subject, p)
        await nc.flush()
    finally:
        await nc.close()


async def test_core_subscription_resumes_after_restart(running: NatsServer, unique: str) -> None:
    sink, statuses = ListSink(), Statuses()
    src = NatsSource(
        NatsSettings(urls=(running.url,)), sink, subjects=[f"{unique}.>"], on_status=statuses
    )
    await src.start()
    try:
        await _publish(running.url, f"{unique}.a", [b"1", b"2"])
        await async_wait_for(lambda: len(sink.events) == 2, message="before the restart")
        await asyncio.to_thread(running.restart)
        await async_wait_for(
            lambda: statuses.states()[-1] == "connected" and "reconnecting" in statuses.states(),
            timeout=20,
            message="reconnected",
        )
        await _publish(running.url, f"{unique}.a", [b"3", b"4"])
        await async_wait_for(lambda: len(sink.events) == 4, message="after the restart")
        assert [e.payload for e in sink.events] == [b"1", b"2", b"3", b"4"]
    finally:
        await src.close()


async def test_jetstream_read_resumes_without_gaps_or_duplicates(
    running: NatsServer, unique: str
) -> None:
    stream = unique.replace("-", "_").upper()
    nc = await nats.connect(running.url)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{unique}.>"])
    for i in range(1, 51):
        await js.publish(f"{unique}.m", str(i).encode())
    await nc.close()

    sink = ListSink()
    src = NatsSource(
        NatsSettings(urls=(running.url,)), sink, streams=[stream], start=Start(kind="first")
    )
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) >= 50, message="the first 50")
        await asyncio.to_thread(running.restart)  # the stream is on disk and survives

        async def publish_rest() -> bool:
            pub = await nats.connect(running.url)
            try:
                pjs = pub.jetstream()
                for i in range(51, 101):
                    await pjs.publish(f"{unique}.m", str(i).encode())
            finally:
                await pub.close()
            return True

        await async_wait_for(
            publish_rest, timeout=20, message="published after the restart", ignore=(Exception,)
        )
        await async_wait_for(lambda: len(sink.events) >= 100, timeout=40, message="all 100")
        seqs = [e.offset for e in sink.events]
        assert seqs == list(range(1, 101))
        assert [e.payload for e in sink.events] == [str(i).encode() for i in range(1, 101)]
    finally:
        await src.close()


def _cluster(n: int = 3) -> list[NatsServer]:
    cluster_ports = [free_port() for _ in range(n)]
    routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in cluster_ports)
    return [
        NatsServer(
            config=(
                f"cluster {{\n  name: c\n  listen: 127.0.0.1:{port}\n  routes: [{routes}]\n}}\n"
            ),
            jetstream=False,
            name=f"n{i}",
        )
        for i, port in enumerate(cluster_ports)
    ]


def _routes(server: NatsServer) -> int:
    with urllib.request.urlopen(f"{server.monitor_url}/routez", timeout=2) as resp:
        return int(json.loads(resp.read()).get("num_routes", 0))


async def test_cluster_node_loss_moves_to_another_node(unique: str) -> None:
    nodes = _cluster()
    try:
        for node in nodes:
            node.start()
        wait_for(lambda: all(_routes(n) >= 2 for n in nodes), timeout=20, message="full mesh")
        first, others = nodes[0], nodes[1:]
        sink, statuses = ListSink(), Statuses()
        # Only the first node's URL: the others are learned from the cluster (INFO).
        src = NatsSource(
            NatsSettings(urls=(first.url,)), sink, subjects=[f"{unique}.>"], on_status=statuses
        )
        await src.start()
        pub = await nats.connect(others[1].url)
        try:
            await pub.publish(f"{unique}.before", b"0")
            await pub.flush()
            await async_wait_for(lambda: sink.events, message="delivery through the cluster")
            seen_before_kill = len(statuses.seen)
            first.kill()
            i = 0

            async def after_kill_delivered() -> bool:
                nonlocal i
                i += 1
                await pub.publish(f"{unique}.after", str(i).encode())
                await pub.flush()
                return any(e.subject == f"{unique}.after" for e in sink.events)

            await async_wait_for(
                after_kill_delivered,
                timeout=30,
                interval=0.1,
                message="the tail continuing on another node",
            )
            # In order: the loss was noticed, then a connection to another node, and the
            # messages published since arrive in the order sent.
            states = [s.state for s in statuses.seen[seen_before_kill:]]
            assert "reconnecting" in states and states[-1] == "connected", states
            after = [int(e.payload) for e in sink.events if e.subject == f"{unique}.after"]
            assert after and after == sorted(after) and after[-1] <= i, (after, i)
            assert statuses.seen[-1].state == "connected"
            assert statuses.seen[-1].detail != f"127.0.0.1:{first.port}"
        finally:
            await pub.close()
            await src.close()
    finally:
        for node in nodes:
            node.cleanup()


async def test_source_gives_up_after_the_deadline(running: NatsServer, unique: str) -> None:
    statuses = Statuses()
    src = NatsSource(
        NatsSettings(urls=(running.url,), reconnect_deadline=1.5),
        ListSink(),
        subjects=[unique],
        on_status=statuses,
    )
    await src.start()
    try:
        running.stop()
        closed = await async_wait_for(
            lambda: [s for s in statuses.seen if s.state == "closed"], timeout=10, message="closed"
        )
        assert closed[0].detail.startswith(
            f"lost the connection to NATS at {running.url} for 1.5 s"
        )
    finally:
        await src.close()
        running.start()


def _subscribed(server: NatsServer, subject: str) -> bool:
    with urllib.request.urlopen(f"{server.monitor_url}/subsz?subs=1", timeout=2) as resp:
        data = json.loads(resp.read())
    return any(s.get("subject") == subject for s in data.get("subscriptions_list", []))


def test_cli_exits_1_when_the_server_never_comes_back(running: NatsServer, unique: str) -> None:
    proc = subprocess.Popen(
        evmon_cmd("tail", "--nats", running.url, "-s", unique, "--reconnect-deadline", "2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _subscribed(running, unique), timeout=15, message="tail subscribed")
        running.stop()
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        running.start()
    text = err.decode()
    assert proc.returncode == 1, text
    lost = f"lost the connection to NATS at {running.url} for 2 s"
    assert lost in text
    assert "Traceback" not in text
    # It gave up only after trying: the reconnecting line comes first.
    assert "reconnecting" in text and text.index("reconnecting") < text.index(lost), text


async def test_slow_consumer_drops_are_counted(running: NatsServer, unique: str) -> None:
    sink = ListSink()
    src = NatsSource(NatsSettings(urls=(running.url,)), sink, subjects=[unique])
    src.pending_msgs_limit = 10
    await src.start()
    try:
        await _publish(running.url, unique, [b"x" * 100] * 20_000)
        await async_wait_for(
            lambda: sink.dropped > 0 and len(sink.events) + sink.dropped >= 20_000,
            timeout=20,
            message="every message delivered or counted as dropped",
        )
        assert len(sink.events) + sink.dropped == 20_000
    finally:
        await src.close()


async def test_pending_bytes_limit_drops_are_counted_and_the_rest_arrive_in_order(
    running: NatsServer, unique: str
) -> None:
    sink = ListSink()
    src = NatsSource(NatsSettings(urls=(running.url,)), sink, subjects=[unique])
    src.pending_bytes_limit = 2_000  # twenty 100-byte messages
    await src.start()
    try:
        payloads = [b"%05d" % i + b"z" * 95 for i in range(20_000)]
        await _publish(running.url, unique, payloads)
        await async_wait_for(
            lambda: len(sink.events) + sink.dropped >= 20_000,
            timeout=20,
            message="every message delivered or counted as dropped",
        )
        assert sink.dropped > 0
        assert len(sink.events) + sink.dropped == 20_000
        got = [ev.payload for ev in sink.events]
        assert got == sorted(got) and len(set(got)) == len(got)  # publish order, no repeats
        assert set(got) <= set(payloads)
        assert {ev.subject for ev in sink.events} == {unique}
    finally:
        await src.close()


def test_cli_reports_dropped_messages(running: NatsServer, unique: str) -> None:
    import os

    proc = subprocess.Popen(
        evmon_cmd("tail", "--nats", running.url, "-s", unique, "--timeout", "4"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "EVMON_NATS_PENDING_MSGS": "10"},
    )
    try:
        wait_for(lambda: _subscribed(running, unique), timeout=15, message="tail subscribed")
        asyncio.run(_publish(running.url, unique, [b"y" * 100] * 20_000))
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = err.decode()
    assert proc.returncode == 0, text
    assert "dropped" in text and "slow consumer" in text
    count = int(text.split("evmon: ", 1)[1].split()[0])
    assert count > 0
