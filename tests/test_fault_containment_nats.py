"""Fault containment of the parser-side NATS delivery, against a real nats-server.

An exception in the direct path (what a nats-py change to ``_process_msg`` or a bug in
evmon's handler would cause) used to end nats-py's read loop: every later message lost,
nothing counted, the status still "connected". Now the subscription falls back to nats-py's
own delivery: no message is lost, the connection stays, the status says "degraded: ...".
The fault is injected by making the handler raise on one message.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request

import nats
import pytest

from evmon.config import NatsSettings
from evmon.model import ConnectionStatus
from evmon.sources.nats import tail
from evmon.sources.nats.tail import NatsSource
from tests.helpers import ListSink
from tests.waiting import async_wait_for, wait_for

N = 200
POISON = 57  # the message whose delivery raises


def _poison_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser-side handler raises on the payload ``poison``, works for the others."""
    receive = tail._PendingEvents.receive

    def failing(self: tail._PendingEvents, subject: bytes, data: bytes, headers: bytes) -> None:
        if data == b"poison":
            raise RuntimeError("injected\nfault")  # a line break: the status stays one line
        receive(self, subject, data, headers)

    monkeypatch.setattr(tail._PendingEvents, "receive", failing)


def _payload(i: int) -> bytes:
    return b"poison" if i == POISON else b"m%d" % i


async def test_a_failing_direct_handler_falls_back_without_losing_messages(
    nats_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _poison_handler(monkeypatch)
    statuses: list[ConnectionStatus] = []
    sink = ListSink()
    src = NatsSource(
        NatsSettings(urls=(nats_url,)), sink, subjects=[f"{unique}.>"], on_status=statuses.append
    )
    await src.start()
    nc = await nats.connect(nats_url)
    try:
        for i in range(N):
            hdr = {"I": str(i)} if i % 2 else None  # headers on both paths
            await nc.publish(f"{unique}.s.{i}", _payload(i), headers=hdr)
        await nc.flush()
        await async_wait_for(lambda: len(sink.events) >= N, message=f"{N} events", timeout=30)
        # the connection is the same one, and it still delivers
        assert src.nc is not None and src.nc.is_connected and src.nc.stats["reconnects"] == 0
        await nc.publish(f"{unique}.after", b"later")
        await nc.flush()
        await async_wait_for(lambda: len(sink.events) == N + 1, message="the later message")
    finally:
        await nc.close()
        summary = src.summary()
        await src.close()
    # every message once, in order, the one that failed included, headers kept
    assert [e.payload for e in sink.events] == [_payload(i) for i in range(N)] + [b"later"]
    assert [e.subject for e in sink.events[:N]] == [f"{unique}.s.{i}" for i in range(N)]
    assert sink.events[POISON + 2].headers == (("I", str(POISON + 2).encode()),)
    assert sink.dropped == 0
    assert src.delivery_faults == 1
    degraded = [s for s in statuses if s.detail.startswith("degraded: ")]
    assert degraded and degraded[0].state == "connected"
    assert "RuntimeError: injected fault" in degraded[0].detail and "\n" not in degraded[0].detail
    connected = [s for s in statuses if s.state == "connected"]
    assert connected[-1].detail.startswith("degraded: ")  # and it stays said
    assert summary == (
        "1 NATS subscription fell back to nats-py's delivery after a parser-side fault "
        "(RuntimeError: injected fault)"
    )


#: Runs the CLI with the handler failing on ``poison`` (the fault injected in that process).
_FAILING_TAIL = """
import sys
from evmon.sources.nats import tail
receive = tail._PendingEvents.receive
def failing(self, subject, data, headers):
    if data == b"poison":
        raise RuntimeError("injected")
    receive(self, subject, data, headers)
tail._PendingEvents.receive = failing
from evmon.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _has_subscription(monitor_url: str, subject: str) -> bool:
    with urllib.request.urlopen(f"{monitor_url}/subsz?subs=1", timeout=2) as resp:
        data = json.loads(resp.read())
    return any(s.get("subject") == subject for s in data.get("subscriptions_list", []))


def test_tail_says_degraded_once_and_keeps_going(
    nats_server: object, nats_url: str, unique: str
) -> None:
    """``evmon tail``: the fault is one status line on stderr (and the end's summary line),
    and the output has every message."""
    monitor = nats_server.monitor_url  # type: ignore[attr-defined]
    args = ["tail", "--nats", nats_url, "-s", f"{unique}.>", "-n", str(N), "--timeout", "30"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _FAILING_TAIL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _has_subscription(monitor, f"{unique}.>"), message="tail subscribed")

        async def publish() -> None:
            nc = await nats.connect(nats_url)
            for i in range(N):
                await nc.publish(f"{unique}.s.{i}", _payload(i))
            await nc.flush()
            await nc.close()

        asyncio.run(publish())
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == N and lines[POISON].endswith("poison"), lines[POISON]
    said = [line for line in err.decode().splitlines() if "degraded" in line]
    assert len(said) == 1, err.decode()
    assert "connected: degraded: parser-side delivery failed" in said[0]
    assert "RuntimeError: injected" in said[0]
    assert "1 NATS subscription fell back to nats-py's delivery" in err.decode()


async def _js_stream(url: str, name: str, subject: str, payloads: list[bytes]) -> None:
    """A stream ``name`` on ``subject.>`` holding ``payloads``; the one that is ``b"bad
    header"`` carries the header ``X: Bad``."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{subject}.>"])
        for p in payloads:
            await js.publish(
                f"{subject}.m", p, headers={"X": "Bad"} if p == b"bad header" else None
            )
    finally:
        await nc.close()


async def test_a_failing_jetstream_callback_is_contained(
    nats_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``--stream`` read whose nats-py callback raises (the fallback read, after the
    parser-side one failed): the message is converted plainly, counted, and the status
    says "degraded: ..."; nothing goes to nats-py's error_cb, so no "reconnecting", the
    connection is kept, and no message is lost."""
    from evmon.selection import Start
    from evmon.sources.nats.ordered import OrderedRead

    receive = OrderedRead.receive

    def failing_read(
        self: OrderedRead, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        if data == b"poison":  # the parser-side read hands the stream to nats-py here
            raise RuntimeError("injected read fault")
        receive(self, subject, reply, data, headers)

    parse = tail.parse_header_block

    def failing_parse(raw: bytes) -> object:
        if b"Bad" in raw:  # only in the callback: wire's own parser is left alone
            raise RuntimeError("injected\ncallback fault")
        return parse(raw)

    monkeypatch.setattr(OrderedRead, "receive", failing_read)
    monkeypatch.setattr(tail, "parse_header_block", failing_parse)
    name = unique.replace("-", "_").upper()
    payloads = [b"m%d" % i for i in range(100)]
    payloads[40], payloads[70] = b"poison", b"bad header"
    await _js_stream(nats_url, name, unique, payloads)
    statuses: list[ConnectionStatus] = []
    sink = ListSink()
    src = NatsSource(
        NatsSettings(urls=(nats_url,)),
        sink,
        streams=[name],
        start=Start("first"),
        on_status=statuses.append,
    )
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) >= 100, message="all 100", timeout=30)
        assert src.nc is not None and src.nc.is_connected and src.nc.stats["reconnects"] == 0
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().publish(f"{unique}.m", b"later")
        finally:
            await nc.close()
        await async_wait_for(lambda: len(sink.events) == 101, message="the later message")
        summary = src.summary()
    finally:
        await src.close()
    assert [e.payload for e in sink.events] == [*payloads, b"later"]
    plain = sink.events[70]  # converted plainly: nats-py's headers, no stream position
    assert plain.headers == (("X", b"Bad"),) and plain.offset is None
    assert [e.offset for e in sink.events if e is not plain] == [
        *range(1, 71),
        *range(72, 102),
    ]
    assert sink.dropped == 0
    assert src.callback_faults == 1 and src.callback_dropped == 0
    assert not any(s.state == "reconnecting" for s in statuses)
    connected = [s for s in statuses if s.state == "connected"]
    assert connected[-1].detail.startswith("degraded: ")
    assert (
        "1 JetStream message failed in nats-py's delivery callback "
        "(RuntimeError: injected callback fault)" in summary
    )
