"""Watching is not free on core NATS: evmon's wildcard subscription is interest.

A request to a subject nobody serves fails at once with "no responders" (the server sees no
interest and answers the requester with a 503 status). While ``evmon tail -s '>'`` runs, its
subscription covers that subject: the server delivers the request to evmon, which never
answers, and the requester waits for its timeout. The tail says so once, on stderr, the first
time it sees a message with a reply subject under a wildcard subscription. A nats-server of
the test's own, so a ``>`` subscription hears nobody else's tests.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from collections.abc import Iterator

import nats
import nats.errors
import pytest

from evmon.config import NatsSettings
from evmon.model import ConnectionStatus
from evmon.sources.nats.tail import NatsSource
from evmon.store import EventStore
from evmon.tui.connections import nats_spec
from tests.brokers import NatsServer
from tests.helpers import ListSink, evmon_cmd
from tests.tui_actions_kit import RecordingApp
from tests.waiting import async_wait_for, wait_for

NOTICE = (
    "evmon: billing.refund carries requests: evmon's subscription to > counts as interest, "
    "so a request nobody serves times out instead of 'no responders'"
)


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as srv:
        yield srv


def _subscribed(monitor_url: str, subject: str) -> bool:
    with urllib.request.urlopen(f"{monitor_url}/subsz?subs=1", timeout=2) as resp:
        data = json.loads(resp.read())
    return any(s.get("subject") == subject for s in data.get("subscriptions_list", []))


async def _request(url: str, subject: str, timeout: float = 0.5) -> str:  # noqa: ASYNC109
    """What a nats-py requester gets: 'no responders', 'timeout' or 'answered'."""
    nc = await nats.connect(url)
    try:
        await nc.request(subject, b'{"order_id":"ord_1"}', timeout=timeout)
    except nats.errors.NoRespondersError:
        return "no responders"
    except nats.errors.TimeoutError:
        return "timeout"
    finally:
        await nc.close()
    return "answered"


def test_a_tail_on_everything_turns_no_responders_into_a_timeout(server: NatsServer) -> None:
    assert asyncio.run(_request(server.url, "billing.refund")) == "no responders"
    proc = subprocess.Popen(
        evmon_cmd("tail", "--nats", server.url, "-s", ">", "--timeout", "60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _subscribed(server.monitor_url, ">"), message="the tail subscribed")
        assert asyncio.run(_request(server.url, "billing.refund")) == "timeout"
        assert asyncio.run(_request(server.url, "billing.refund")) == "timeout"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    lines = err.decode().splitlines()
    assert lines.count(NOTICE) == 1, err.decode()  # said once, for two requests
    assert [line for line in lines if "carries requests" in line] == [NOTICE]
    assert out.decode().count(" billing.refund ") == 2  # and the tail shows both requests
    # once evmon is gone, the requester fails fast again
    wait_for(lambda: not _subscribed(server.monitor_url, ">"), message="the tail unsubscribed")
    assert asyncio.run(_request(server.url, "billing.refund")) == "no responders"


async def test_only_wildcards_and_only_requests(server: NatsServer) -> None:
    """No notice for plain publishes, for JetStream's own replies on deliveries, or under an
    exact subscription; one, naming the pattern, under a wildcard."""
    statuses: list[ConnectionStatus] = []
    sink = ListSink()
    src = NatsSource(
        NatsSettings(urls=(server.url,)),
        sink,
        subjects=["exact.subject", "jobs.*"],
        on_status=statuses.append,
    )
    await src.start()
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        await nc.publish("jobs.plain", b"1")  # no reply subject
        # a push consumer's delivery to its service on jobs.push (evmon's jobs.* hears it
        # too): the reply is JetStream's $JS.ACK subject, not a requester's inbox
        await nc.subscribe("jobs.push")
        await js.add_stream(name="WORK", subjects=["work.in"])
        await js.add_consumer("WORK", deliver_subject="jobs.push", durable_name="pusher")
        await js.publish("work.in", b"2")
        await async_wait_for(lambda: len(sink.events) == 2, message="the push delivery")
        assert sink.events[1].subject == "work.in"  # a delivery keeps the stored subject
        assert not [s for s in statuses if s.notice]
        await nc.publish("exact.subject", b"3", reply="_INBOX.exact")  # not a wildcard
        await nc.publish("jobs.resize", b"4", reply="_INBOX.a")
        await nc.publish("jobs.resize", b"5", reply="_INBOX.b")
        await nc.flush()
        await async_wait_for(lambda: len(sink.events) == 5, message="5 events")
    finally:
        await nc.close()
        await src.close()
    notices = [s.notice for s in statuses if s.notice]
    assert notices == [
        "jobs.resize carries requests: evmon's subscription to jobs.* counts as interest, "
        "so a request nobody serves times out instead of 'no responders'"
    ]
    assert [e.payload for e in sink.events] == [b"1", b"2", b"3", b"4", b"5"]


async def test_the_dashboard_says_it_once_in_a_toast(server: NatsServer) -> None:
    spec = nats_spec(NatsSettings(urls=(server.url,)), subjects=[">"])
    app = RecordingApp(EventStore(1000), [spec], blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await async_wait_for(
            lambda: _subscribed(server.monitor_url, ">"), message="the dashboard subscribed"
        )
        assert await _request(server.url, "billing.refund") == "timeout"
        assert await _request(server.url, "billing.refund") == "timeout"
        await async_wait_for(lambda: len(app.store) >= 2, message="both requests stored")
        await pilot.pause()
        said = [(t, m) for t, m, _ in app.notes if "carries requests" in m]
        assert said == [("evmon", NOTICE.removeprefix("evmon: "))]
        assert app.connections[0].state == "connected"  # the status is not the notice
