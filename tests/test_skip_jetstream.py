"""JetStream skip against a consumer written as services write them: only the poison dies.

The service is a nats-py durable pull consumer (MaxAckPending 1000) fetching in a loop: it
acks good messages and naks the poison with a delay, while a publisher adds 10 messages a
second. ``evmon skip`` must terminate exactly the poison's stream sequence, hand every other
message it fetched on the way back, and leave the service processing each of them once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.api
import pytest

from evmon.actions import ActionContext, AuditLog, default_audit_path, skip_jetstream
from evmon.config import NatsSettings
from evmon.errors import UsageError
from tests.helpers import run_evmon
from tests.waiting import async_wait_for

POISON = b"poison"


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _audit() -> list[dict[str, Any]]:
    return AuditLog(default_audit_path()).entries()


def _skip(*args: str) -> tuple[int, str, str]:
    res = run_evmon(["skip", *args, "--yes"], stdin=subprocess.DEVNULL)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


@dataclass
class Service:
    """What the service did: times each stream sequence was processed (acked), poison seen."""

    processed: collections.Counter[int] = field(default_factory=collections.Counter)
    poison_deliveries: int = 0


async def _stream(nats_url: str, unique: str) -> tuple[str, str, str]:
    stream, consumer, subject = unique.replace("-", "_").upper(), "worker", f"{unique}.work"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[f"{unique}.>"])
        await js.add_consumer(
            stream,
            nats.js.api.ConsumerConfig(
                durable_name=consumer,
                ack_policy=nats.js.api.AckPolicy.EXPLICIT,
                ack_wait=30,
                max_ack_pending=1000,
            ),
        )
    finally:
        await nc.close()
    return stream, consumer, subject


@contextlib.asynccontextmanager
async def _service(
    nats_url: str, stream: str, consumer: str, nak_delay: float
) -> AsyncIterator[Service]:
    """The consumer service, running until the block ends."""
    seen = Service()
    nc = await nats.connect(nats_url)
    sub = await nc.jetstream().pull_subscribe_bind(durable=consumer, stream=stream)
    stop = asyncio.Event()

    async def work() -> None:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(10, timeout=1)
            except TimeoutError:  # nats-py raises its own or asyncio's, depending on the path
                continue
            for msg in msgs:
                if msg.data == POISON:  # the handler fails on it: retry later
                    seen.poison_deliveries += 1
                    await msg.nak(delay=nak_delay)
                else:
                    seen.processed[msg.metadata.sequence.stream] += 1
                    await msg.ack()

    task = asyncio.create_task(work())
    try:
        yield seen
    finally:
        stop.set()
        await task
        await nc.close()


@contextlib.asynccontextmanager
async def _publisher(nats_url: str, subject: str, poison_at: int) -> AsyncIterator[list[int]]:
    """10 messages a second, the ``poison_at``-th one the poison; yields the stored sequences
    of the good ones (filled as PubAcks arrive)."""
    good: list[int] = []
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    stop = asyncio.Event()

    async def publish() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            body = POISON if i == poison_at else f"good-{i}".encode()
            ack = await js.publish(subject, body)
            if body != POISON:
                good.append(ack.seq)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)  # the rate, not a wait for a condition

    task = asyncio.create_task(publish())
    try:
        yield good
    finally:
        stop.set()
        await task
        await nc.close()


async def _info(nats_url: str, stream: str, consumer: str) -> nats.js.api.ConsumerInfo:
    nc = await nats.connect(nats_url)
    try:
        return await nc.jetstream().consumer_info(stream, consumer)
    finally:
        await nc.close()


async def _stuck_on(nats_url: str, stream: str, consumer: str, seq: int, seen: Service) -> bool:
    info = await _info(nats_url, stream, consumer)
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    return floor == seq - 1 and seen.poison_deliveries >= 2 and len(seen.processed) >= 10


@pytest.mark.parametrize("via", ["api", "cli"])
async def test_skip_terminates_only_the_poison_under_a_live_consumer(
    nats_url: str, unique: str, via: str
) -> None:
    stream, consumer, subject = await _stream(nats_url, unique)
    poison_seq = 5  # the 5th message published into a new stream
    async with _service(nats_url, stream, consumer, nak_delay=0.5) as seen:
        async with _publisher(nats_url, subject, poison_at=poison_seq) as good:
            await async_wait_for(
                lambda: _stuck_on(nats_url, stream, consumer, poison_seq, seen),
                timeout=30,
                message="the service stuck on the poison (ack floor 4, naked twice)",
            )
            if via == "api":
                ctx = ActionContext(nats=NatsSettings((nats_url,)))
                result = await skip_jetstream(ctx, stream, consumer, wait=30)
                assert result.sequence == poison_seq
                lines = result.summary().splitlines()
            else:
                args = ["--nats", nats_url, "--stream", stream, "--consumer", consumer]
                rc, out, err = await asyncio.to_thread(_skip, *args, "--wait", "30")
                assert rc == 0, err
                lines = out.splitlines()
                assert lines[:2] == [
                    f"consumer {consumer} on stream {stream} is stuck on {stream}#{poison_seq}:",
                    f"  subject: {subject}",
                ]
                assert lines[2].startswith("  delivered ") and ", 6 bytes, stored " in lines[2]
                assert lines[3] == "  payload: poison"
                lines = lines[4:]
            assert lines[0].startswith(
                f"consumer {consumer} on stream {stream}: terminated stream sequence "
                f"{poison_seq} ({subject}, delivered "
            )
            deliveries = seen.poison_deliveries
        # the publisher has stopped: the service drains everything that was published

        async def drained() -> bool:
            info = await _info(nats_url, stream, consumer)
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            return set(seen.processed) >= set(good) and floor == max(good)

        await async_wait_for(drained, timeout=60, message="every good message processed")
        info = await _info(nats_url, stream, consumer)
    assert set(seen.processed) == set(good) and poison_seq not in good
    assert [seq for seq, n in seen.processed.items() if n != 1] == []  # each exactly once
    assert seen.poison_deliveries == deliveries  # terminated: never delivered again
    assert info.ack_floor is not None and info.ack_floor.stream_seq == max(good)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)
    entries = _audit()
    assert [(e["action"], e["outcome"]) for e in entries] == [("skip", "ok")]
    assert entries[0]["events"] == [f"nats:{subject}:{poison_seq}"]
    assert entries[0]["detail"].startswith(f"terminated {stream}#{poison_seq} ({subject}, ")


def _state(info: nats.js.api.ConsumerInfo) -> tuple[Any, ...]:
    return (
        info.ack_floor.stream_seq if info.ack_floor else None,
        info.delivered.stream_seq if info.delivered else None,
        info.num_ack_pending,
        info.num_redelivered,
        info.num_pending,
    )


async def _publish(nats_url: str, subject: str, bodies: list[bytes]) -> None:
    nc = await nats.connect(nats_url)
    try:
        for body in bodies:
            await nc.jetstream().publish(subject, body)
    finally:
        await nc.close()


async def test_skip_refuses_a_consumer_that_is_not_stuck(nats_url: str, unique: str) -> None:
    stream, consumer, subject = await _stream(nats_url, unique)
    await _publish(nats_url, subject, [b"a", b"b", b"c"])
    # an idle consumer: two messages processed and acked, one never delivered
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe_bind(durable=consumer, stream=stream)
        for msg in await sub.fetch(2, timeout=5):
            await msg.ack_sync()
    finally:
        await nc.close()
    before = _state(await _info(nats_url, stream, consumer))
    assert before == (2, 2, 0, 0, 1)
    rc, out, err = _skip("--nats", nats_url, "--stream", stream, "--consumer", consumer)
    assert (rc, out) == (2, "")
    assert err == (
        f"evmon: error: consumer {consumer} on stream {stream} is not stuck: no message awaits "
        "its ack (ack floor 2, delivered 2, 1 pending, 0 awaiting ack, 0 redelivered); "
        "nothing to skip (--seq N moves it anyway)\n"
    )
    ctx = ActionContext(nats=NatsSettings((nats_url,)))
    with pytest.raises(UsageError, match="is not stuck"):
        await skip_jetstream(ctx, stream, consumer, wait=1)
    assert _state(await _info(nats_url, stream, consumer)) == before
    assert _audit() == []  # refused before anything was attempted


async def test_skip_refuses_a_message_held_past_the_deadline(nats_url: str, unique: str) -> None:
    stream, consumer, subject = await _stream(nats_url, unique)
    await _publish(nats_url, subject, [b"ok-1", POISON, b"ok-3"])
    # the service took all three, acked the good ones and naked the poison for a minute
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe_bind(durable=consumer, stream=stream)
        for msg in await sub.fetch(3, timeout=5):
            if msg.data == POISON:
                await msg.nak(delay=60)
            else:
                await msg.ack_sync()
    finally:
        await nc.close()
    before = _state(await _info(nats_url, stream, consumer))
    assert before[:3] == (1, 3, 1)  # stuck at floor 1, the poison (2) awaiting ack
    rc, out, err = _skip(
        "--nats", nats_url, "--stream", stream, "--consumer", consumer, "--wait", "1"
    )
    assert rc == 2 and err.count("\n") == 1, err
    assert err == (
        f"evmon: error: {stream}#2 ({subject}) was not redelivered to evmon within 1 s: the "
        "consumer's clients hold it (ack wait 30 s, or a nak delay); stop them and try again, "
        "allow longer with --wait, or move past it with --seq 3; nothing was terminated\n"
    )
    assert out.splitlines() == []  # nothing to preview: it never reached evmon
    assert _state(await _info(nats_url, stream, consumer)) == before
    entries = _audit()
    assert [(e["outcome"], e["events"]) for e in entries] == [("failed", [f"nats:{subject}:2"])]
