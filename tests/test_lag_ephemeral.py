"""Ephemeral JetStream consumers in the lag reports, against a real nats-server.

A dashboard reading a stream (``--stream``) holds an ordered consumer under a name the server
picks; its lag screen must not list it. Another process's ephemeral consumer (here a real
``evmon tail --stream`` next to the test) is listed and marked ``(ephemeral)``, and
``evmon lag --format json`` gives it ``"ephemeral": true`` (a durable's record is unchanged).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import nats.js.api
import orjson
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerInfo

from evmon.config import NatsSettings
from evmon.selection import START_NEW
from evmon.sources.nats.jetstream_lag import JetStreamLagClient
from evmon.sources.nats.own import own_deliver_subjects
from evmon.sources.spec import nats_spec
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.screens.lag import LagScreen
from evmon.tui.widgets.lag_tables import SEP
from tests.helpers import evmon_cmd, run_evmon
from tests.waiting import async_wait_for

INTERVAL = 0.3


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def stream(nc: Client, unique: str) -> AsyncIterator[str]:
    """A stream with a few messages and one durable consumer, ``worker``."""
    js = nc.jetstream()
    name = f"{unique}-S"
    await js.add_stream(name=name, subjects=[f"{unique}.>"])
    for i in range(3):
        await js.publish(f"{unique}.orders", f"m{i}".encode())
    await js.add_consumer(name, nats.js.api.ConsumerConfig(durable_name="worker"))
    try:
        yield name
    finally:
        await js.delete_stream(name)


@contextlib.contextmanager
def other_tail(nats_url: str, stream: str) -> Iterator[subprocess.Popen[bytes]]:
    """Another evmon process reading the stream (an ordered, ephemeral consumer of its own)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = evmon_cmd("tail", "--nats", nats_url, "--stream", stream, "--format", "jsonl")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def ephemerals(nc: Client, stream: str, count: int) -> list[ConsumerInfo]:
    """Wait until the stream has ``count`` consumers without a durable name; return them."""
    js = nc.jetstream()

    async def found() -> list[ConsumerInfo] | None:
        infos = [c for c in await js.consumers_info(stream) if not c.config.durable_name]
        return infos if len(infos) == count else None

    got = await async_wait_for(found, timeout=30, message=f"{count} ephemeral consumers")
    assert got is not None
    return got


def consumers_shown(screen: LagScreen) -> dict[str, str]:
    """Consumer name -> the consumer cell as drawn."""
    table = screen.jetstream_table
    out = {}
    for key in table.row_keys():
        _, consumer = key.split(SEP)
        out[consumer] = table.get_cell(key, "consumer").plain
    return out


async def test_the_lag_screen_hides_its_own_read_and_marks_other_ephemeral_consumers(
    nats_url: str, nc: Client, stream: str
) -> None:
    with other_tail(nats_url, stream) as proc:
        (theirs,) = await ephemerals(nc, stream, 1)
        settings = NatsSettings(urls=(nats_url,))
        spec = nats_spec(settings, streams=[stream], start=START_NEW)
        app = EvmonApp(EventStore(1_000), [spec], streams=[stream], blink=False)
        async with app.run_test(size=(160, 44)) as pilot:
            infos = await ephemerals(nc, stream, 2)  # the dashboard's own read is up
            ours = [c for c in infos if c.config.deliver_subject in own_deliver_subjects()]
            assert [c.name for c in ours] != [] and ours[0].name != theirs.name
            screen = LagScreen(interval=INTERVAL)
            app.install_screen(screen, "lag")
            await pilot.press("l")
            await async_wait_for(lambda: screen.refreshes >= 1, timeout=30, message="refresh")
            shown = consumers_shown(screen)
            assert shown == {"worker": "worker", theirs.name: f"{theirs.name} (ephemeral)"}
            assert ours[0].name not in shown
            assert "2 consumers" in str(screen.query_one("#jetstream-box").border_subtitle)

            # the JSON record of the same rows, from this process: ours is left out here too
            client = JetStreamLagClient(settings)
            try:
                rows = {r.consumer: r for r in await client.snapshot([stream])}
                assert set(rows) == {"worker", theirs.name}
                assert rows[theirs.name].to_record()["ephemeral"] is True
                assert "ephemeral" not in rows["worker"].to_record()
                # named, it is shown (and marked): a script asking for it gets it
                (named,) = await client.snapshot([stream], [ours[0].name])
                assert named.consumer == ours[0].name and named.ephemeral
            finally:
                await client.close()
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""


async def _lag(nats_url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    res = await asyncio.to_thread(run_evmon, ["lag", "--nats", nats_url, *args])
    assert res.returncode == 0, res.stderr.decode()
    return res


async def test_evmon_lag_marks_another_process_ephemeral_consumer(
    nats_url: str, nc: Client, stream: str
) -> None:
    with other_tail(nats_url, stream):
        (theirs,) = await ephemerals(nc, stream, 1)
        res = await _lag(nats_url, "--stream", stream, "--format", "json")
        rows: dict[str, dict[str, Any]] = {r["consumer"]: r for r in orjson.loads(res.stdout)}
        assert set(rows) == {"worker", theirs.name}
        assert rows[theirs.name]["ephemeral"] is True
        assert list(rows[theirs.name])[-2:] == ["status", "ephemeral"]  # added last
        assert "ephemeral" not in rows["worker"]  # a durable's record as it always was

        table = (await _lag(nats_url, "--stream", stream)).stdout.decode()
        line = next(ln for ln in table.splitlines() if theirs.name in ln)
        assert f"{theirs.name} (ephemeral)" in line
        assert "(ephemeral)" not in next(ln for ln in table.splitlines() if " worker " in ln)
