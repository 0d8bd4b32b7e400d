"""The parser-side ordered consumer of ``--stream`` reads (evmon/sources/nats/ordered.py),
against a real nats-server: flow control, gaps found by sequence and by idle heartbeat,
a consumer lost on the server, a parser-side fault, and the records it gives.

Messages "lost in flight" are lost for real, between nats-py's parser and the reader: the
wrapper around ``OrderedRead.receive`` swallows the data message a test names, so the
server has delivered it and evmon never saw it, which is what a reconnect does to what was
in the socket. The reader must notice (the next message's consumer sequence, or the next
idle heartbeat's ``Nats-Last-Consumer``) and re-read from where it was.
"""

from __future__ import annotations

import nats
import nats.js.api
import pytest

from evmon.config import NatsSettings
from evmon.model import ConnectionStatus
from evmon.selection import Start
from evmon.sources.nats.connect import connect_nats
from evmon.sources.nats.ordered import OrderedRead
from evmon.sources.nats.tail import NatsSource
from evmon.sources.nats.wire import RawHeaderClient
from tests.helpers import ListSink
from tests.waiting import async_wait_for

LIMITS = {"msgs_limit": 1_000_000, "bytes_limit": 512 * 1024 * 1024}


async def _stream(url: str, name: str, subject: str, payloads: list[bytes]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{subject}.>"])
        for p in payloads:
            await js.publish(f"{subject}.m", p)
    finally:
        await nc.close()


async def _publish(url: str, subject: str, payloads: list[bytes]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for p in payloads:
            await js.publish(f"{subject}.m", p)
    finally:
        await nc.close()


async def _reader(
    url: str, stream: str, sink: ListSink, heartbeat: float = 0.5
) -> tuple[RawHeaderClient, OrderedRead]:
    nc = await connect_nats(NatsSettings(urls=(url,)))
    assert isinstance(nc, RawHeaderClient)
    config = nats.js.api.ConsumerConfig(
        deliver_policy=nats.js.api.DeliverPolicy.ALL, idle_heartbeat=heartbeat
    )
    faults: list[BaseException] = []
    read = OrderedRead(
        nc, stream, config, sink, **LIMITS, on_fault=lambda err, seq: faults.append(err)
    )
    await read.start()
    return nc, read


def _swallow(monkeypatch: pytest.MonkeyPatch, lost: set[bytes]) -> None:
    """Data messages whose payload is in ``lost`` vanish before the reader sees them, once."""
    receive = OrderedRead.receive

    def lossy(self: OrderedRead, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        if data in lost:
            lost.discard(data)
            return
        receive(self, subject, reply, data, headers)

    monkeypatch.setattr(OrderedRead, "receive", lossy)


def _payloads(n: int, start: int = 1) -> list[bytes]:
    return [b'{"i":%d}' % i for i in range(start, start + n)]


async def test_a_stream_past_the_flow_control_window_is_read_whole(
    nats_url: str, unique: str
) -> None:
    name = unique.replace("-", "_").upper()
    pad = b"x" * 10_000
    payloads = [b'{"i":%d,"pad":"%s"}' % (i, pad) for i in range(1, 1501)]  # 15 MB
    await _stream(nats_url, name, unique, payloads)
    sink = ListSink()
    nc, read = await _reader(nats_url, name, sink, heartbeat=5.0)
    try:
        await async_wait_for(lambda: len(sink.events) >= 1500, timeout=60, message="1500")
    finally:
        await read.close()
        await nc.close()
    assert [e.offset for e in sink.events] == list(range(1, 1501))
    assert [e.payload for e in sink.events] == payloads
    # the server paused for flow control and evmon answered (or it would stall at ~1 MB)
    assert read.flow_replies >= 1 and read.resets == 0


async def test_a_gap_in_the_consumer_sequence_is_read_again(
    nats_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique.replace("-", "_").upper()
    payloads = _payloads(200)
    await _stream(nats_url, name, unique, payloads)
    _swallow(monkeypatch, {payloads[49], payloads[50]})  # 50 and 51 lost in flight
    sink = ListSink()
    nc, read = await _reader(nats_url, name, sink)
    try:
        await async_wait_for(lambda: len(sink.events) >= 200, timeout=30, message="all 200")
    finally:
        await read.close()
        await nc.close()
    assert [e.offset for e in sink.events] == list(range(1, 201))  # none lost, none twice
    assert read.resets == 1


async def test_an_idle_heartbeat_reveals_lost_last_messages(
    nats_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last two messages are lost and nothing follows them: only the heartbeat's
    Nats-Last-Consumer says the server delivered them."""
    name = unique.replace("-", "_").upper()
    payloads = _payloads(30)
    await _stream(nats_url, name, unique, payloads)
    _swallow(monkeypatch, {payloads[28], payloads[29]})
    sink = ListSink()
    nc, read = await _reader(nats_url, name, sink, heartbeat=0.5)
    try:
        await async_wait_for(lambda: len(sink.events) >= 30, timeout=30, message="all 30")
    finally:
        await read.close()
        await nc.close()
    assert [e.offset for e in sink.events] == list(range(1, 31))
    assert read.resets == 1


async def test_a_consumer_deleted_on_the_server_is_recreated(nats_url: str, unique: str) -> None:
    """No message and no heartbeat for two intervals: a new consumer after the last one."""
    name = unique.replace("-", "_").upper()
    await _stream(nats_url, name, unique, _payloads(20))
    sink = ListSink()
    nc, read = await _reader(nats_url, name, sink, heartbeat=0.5)
    try:
        await async_wait_for(lambda: len(sink.events) >= 20, message="the first 20")
        admin = await nats.connect(nats_url)
        try:
            js = admin.jetstream()
            for info in await js.consumers_info(name):
                await js.delete_consumer(name, info.name)
            await _publish(nats_url, unique, _payloads(20, start=21))
            await async_wait_for(
                lambda: len(sink.events) >= 40, timeout=30, message="after the deletion"
            )
            consumers = await js.consumers_info(name)
        finally:
            await admin.close()
    finally:
        await read.close()
        await nc.close()
    assert [e.offset for e in sink.events] == list(range(1, 41))
    assert read.resets >= 1 and len(consumers) == 1
    assert consumers[0].config.deliver_subject == (read.sub.subject if read.sub else None)


async def test_a_read_of_new_messages_resets_without_replaying_the_stream(
    nats_url: str, unique: str
) -> None:
    """nats-py resumes an ordered consumer at its last sequence + 1, which is 1 before the
    first message: a --from new read whose consumer is lost early would replay it all."""
    name = unique.replace("-", "_").upper()
    await _stream(nats_url, name, unique, _payloads(10))
    sink = ListSink()
    nc = await connect_nats(NatsSettings(urls=(nats_url,)))
    assert isinstance(nc, RawHeaderClient)
    config = nats.js.api.ConsumerConfig(
        deliver_policy=nats.js.api.DeliverPolicy.NEW, idle_heartbeat=0.5
    )
    read = OrderedRead(nc, name, config, sink, **LIMITS, on_fault=lambda err, seq: None)
    await read.start()
    try:
        admin = await nats.connect(nats_url)
        try:
            js = admin.jetstream()
            for info in await js.consumers_info(name):
                await js.delete_consumer(name, info.name)
            await async_wait_for(lambda: read.resets >= 1, timeout=30, message="a reset")
            await _publish(nats_url, unique, _payloads(3, start=11))
            await async_wait_for(lambda: len(sink.events) >= 3, timeout=30, message="3 new")
        finally:
            await admin.close()
    finally:
        await read.close()
        await nc.close()
    assert [e.offset for e in sink.events] == [11, 12, 13]


async def test_a_failing_handler_hands_the_stream_to_nats_py(
    nats_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique.replace("-", "_").upper()
    payloads = _payloads(100)
    payloads[40] = b"poison"
    await _stream(nats_url, name, unique, payloads)
    receive = OrderedRead.receive

    def failing(
        self: OrderedRead, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        if data == b"poison":
            raise RuntimeError("injected\nfault")
        receive(self, subject, reply, data, headers)

    monkeypatch.setattr(OrderedRead, "receive", failing)
    statuses: list[ConnectionStatus] = []
    sink = ListSink()
    src = NatsSource(
        NatsSettings(urls=(nats_url,)), sink, streams=[name], start=Start("first"),
        on_status=statuses.append,
    )  # fmt: skip
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) >= 100, timeout=30, message="all 100")
        await _publish(nats_url, unique, [b"later"])
        await async_wait_for(lambda: len(sink.events) >= 101, message="a later one")
        summary = src.summary()
    finally:
        await src.close()
    assert [e.offset for e in sink.events] == list(range(1, 102))
    assert [e.payload for e in sink.events] == [*payloads, b"later"]
    assert src.delivery_faults == 1 and "fell back to nats-py's delivery" in summary
    assert any(
        s.detail.startswith("degraded: parser-side delivery failed on stream") for s in statuses
    )
