"""`evmon lag` for JetStream consumers against a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import nats
import nats.errors
import nats.js.api
import nats.js.errors
import orjson
import pytest
from nats.aio.client import Client

from evmon.config import NatsSettings
from evmon.lag import JetStreamLagRow, LagHistory
from evmon.sources.nats.jetstream_lag import JetStreamLagClient
from tests.brokers import NatsServer, free_port
from tests.helpers import evmon_cmd, run_evmon
from tests.waiting import async_wait_for


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def _lag(nats_url: str, *args: str) -> list[dict[str, Any]]:
    res = await asyncio.to_thread(run_evmon, ["lag", "--nats", nats_url, "--format", "json", *args])
    assert res.returncode == 0, res.stderr.decode()
    rows: list[dict[str, Any]] = orjson.loads(res.stdout)
    return rows


async def test_pull_consumer_numbers_equal_consumer_info(
    nats_url: str, nc: Client, unique: str
) -> None:
    js = nc.jetstream()
    stream = f"{unique}-S"
    await js.add_stream(name=stream, subjects=[f"{unique}.>"])
    try:
        for i in range(8):
            await js.publish(f"{unique}.orders", f"m{i}".encode())
        config = nats.js.api.ConsumerConfig(ack_wait=300, max_deliver=5)
        sub = await js.pull_subscribe(f"{unique}.>", durable="worker", stream=stream, config=config)
        first = await sub.fetch(8, timeout=5)
        assert [m.metadata.sequence.stream for m in first] == list(range(1, 9))
        for m in first[:3]:
            await m.ack_sync()  # ack floor 3
        for m in first[3:6]:
            await m.nak()  # 4, 5, 6 come back (nothing else is left to deliver)
        again: list[Any] = []

        async def redelivered() -> bool:
            with contextlib.suppress(TimeoutError):  # nats-py's or asyncio's
                again.extend(await sub.fetch(1, timeout=0.5))
            return len(again) == 3

        await async_wait_for(redelivered, message="3 redeliveries")
        assert [(m.metadata.sequence.stream, m.metadata.num_delivered) for m in again] == [
            (4, 2),
            (5, 2),
            (6, 2),
        ]
        for i in range(8, 20):
            await js.publish(f"{unique}.orders", f"m{i}".encode())

        async def settled() -> bool:  # no pull request of ours still waiting on the server
            return (await js.consumer_info(stream, "worker")).num_waiting == 0

        await async_wait_for(settled, message="no waiting pull requests")
        # now: 4..8 delivered and not acked (5), 4..6 redelivered (3), 9..20 pending (12)
        (row,) = await _lag(nats_url, "--stream", stream)
        info = await js.consumer_info(stream, "worker")
        assert row == {
            "system": "jetstream",
            "stream": stream,
            "consumer": "worker",
            "num_pending": info.num_pending,
            "num_ack_pending": info.num_ack_pending,
            "num_redelivered": info.num_redelivered,
            "num_waiting": info.num_waiting,
            "delivered_stream_seq": info.delivered.stream_seq if info.delivered else None,
            "ack_floor_stream_seq": info.ack_floor.stream_seq if info.ack_floor else None,
            "last_stream_seq": (await js.stream_info(stream)).state.last_seq,
            "status": "OK",
        }
        expected = (12, 5, 3, 0, 8, 3, 20)
        got = tuple(row[k] for k in list(row)[3:10])
        assert got == expected
        # the same consumer is found without naming its stream
        everything = await _lag(nats_url, "--consumer", "worker")
        assert row in everything
    finally:
        await js.delete_stream(stream)


async def test_pages_through_more_than_256_streams_and_consumers(
    nats_url: str, nc: Client, unique: str
) -> None:
    js = nc.jetstream()
    big = f"{unique}-big"
    streams = [f"{unique}-s{i:03d}" for i in range(260)]
    memory = nats.js.api.StorageType.MEMORY
    try:
        await js.add_stream(name=big, subjects=[f"{unique}.big"], storage=memory)
        for i in range(300):
            await js.add_consumer(big, nats.js.api.ConsumerConfig(durable_name=f"c{i:03d}"))
        for i, name in enumerate(streams):
            await js.add_stream(name=name, subjects=[f"{unique}.s{i}"], storage=memory)
            await js.add_consumer(name, nats.js.api.ConsumerConfig(durable_name="only"))

        client = JetStreamLagClient(NatsSettings((nats_url,)))
        await client.start()
        try:
            one = await client.snapshot(streams=[big])
            assert [r.consumer for r in one] == [f"c{i:03d}" for i in range(300)]
            every = [r for r in await client.snapshot() if (r.stream or "").startswith(unique)]
        finally:
            await client.close()
        assert len(every) == 300 + 260
        assert {r.stream for r in every if r.consumer == "only"} == set(streams)
    finally:
        for name in [big, *streams]:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(name)


async def test_named_stream_or_consumer_that_is_missing_is_err(
    nats_url: str, nc: Client, unique: str
) -> None:
    js = nc.jetstream()
    stream = f"{unique}-S"
    await js.add_stream(name=stream, subjects=[f"{unique}.>"])
    try:
        await js.add_consumer(stream, nats.js.api.ConsumerConfig(durable_name="here"))
        rows = await _lag(nats_url, "--stream", stream, "--stream", f"{unique}-nope")
        got = [(r["stream"], r["consumer"], r["num_pending"], r["status"]) for r in rows]
        assert got == [(stream, "here", 0, "OK"), (f"{unique}-nope", None, None, "ERR")]
        rows = await _lag(nats_url, "--stream", stream, "--consumer", "gone")
        assert [(r["stream"], r["consumer"], r["status"]) for r in rows] == [
            (stream, "gone", "ERR")
        ]
    finally:
        await js.delete_stream(stream)


async def test_window_tells_stall_from_stop(nats_url: str, nc: Client, unique: str) -> None:
    """A consumer that receives but never acks is stalled; once nothing happens, stopped."""
    js = nc.jetstream()
    stream = f"{unique}-S"
    await js.add_stream(name=stream, subjects=[f"{unique}.>"])
    client = JetStreamLagClient(NatsSettings((nats_url,)))
    await client.start()
    try:
        for _ in range(5):
            await js.publish(f"{unique}.x", b"x")
        config = nats.js.api.ConsumerConfig(ack_wait=300)
        sub = await js.pull_subscribe(f"{unique}.>", durable="slow", stream=stream, config=config)
        history: LagHistory[JetStreamLagRow] = LagHistory(window=2)

        async def status() -> str:
            (row,) = history.observe(await client.snapshot([stream]))
            return row.status

        assert await status() == "OK"  # one sample
        await sub.fetch(1, timeout=5)  # delivered, never acked: alive, ack floor frozen
        assert await status() == "STALL"
        assert await status() == "STOP"  # no delivery, ack or waiting pull inside the window
        await js.delete_stream(stream)
        rows = history.observe(await client.snapshot())  # other tests' streams may be there
        (row,) = [r for r in rows if r.stream == stream]
        assert (row.consumer, row.status) == ("slow", "ERR")
    finally:
        await client.close()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)


async def test_watch_prints_one_array_per_refresh_until_interrupted(nats_url: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *evmon_cmd("lag", "--nats", nats_url, "--watch", "0.2", "--format", "json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        for _ in range(3):
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert isinstance(orjson.loads(line), list)
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0 and err == b""


async def test_watch_survives_a_server_restart() -> None:
    """A failed refresh turns the rows ERR (one stderr line); the next good one recovers."""
    server = NatsServer()
    await asyncio.to_thread(server.start)
    proc = None
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="RS", subjects=["rs.>"])
        await js.add_consumer("RS", nats.js.api.ConsumerConfig(durable_name="c"))
        await nc.close()
        proc = await asyncio.create_subprocess_exec(
            *evmon_cmd("lag", "--nats", server.url, "--watch", "0.5", "--format", "json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None

        async def until(status: str) -> None:
            async def line_has() -> bool:
                assert proc is not None and proc.stdout is not None
                rows = orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
                return [(r["consumer"], r["status"]) for r in rows] == [("c", status)]

            await async_wait_for(line_has, timeout=60, message=f"status {status}")

        await until("OK")
        await asyncio.to_thread(server.stop)
        await until("ERR")
        await asyncio.to_thread(server.start)
        await until("OK")
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0
        assert err and all(line.startswith(b"evmon: ") for line in err.splitlines())
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.to_thread(server.cleanup)


async def test_watch_gives_up_after_the_reconnect_deadline() -> None:
    server = NatsServer()
    await asyncio.to_thread(server.start)
    try:
        proc = await asyncio.create_subprocess_exec(
            *evmon_cmd(
                "lag",
                "--nats",
                server.url,
                "--watch",
                "0.3",
                "--format",
                "json",
                "--reconnect-deadline",
                "2",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 30)) == []
        await asyncio.to_thread(server.stop)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        await asyncio.to_thread(server.cleanup)
    assert proc.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("evmon: error: JetStream unreachable for 2 s"), err


def test_unreachable_nats_is_one_line_and_exit_2() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    res = run_evmon(["lag", "--nats", url, "--format", "json"])
    assert res.returncode == 2
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and lines[0].startswith("evmon: error:")
