"""nats-server cutting evmon off as a slow consumer: said in words, counted, and for
JetStream resumed without a gap.

The server here has a tiny ``max_pending`` (1 MiB). evmon is made slow for real: the tail
process is stopped (SIGSTOP) while a publisher floods, until the server logs "Slow Consumer
Detected" and closes the connection; then it runs again and reads what the kernel held.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import nats
import orjson
import pytest

from evmon.config import NatsSettings
from evmon.sources.nats.cutoffs import CutOffCandidate, closed_reason, confirm_cut_off
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import nats_spec
from tests.brokers import NatsServer, free_port
from tests.helpers import evmon_cmd
from tests.waiting import async_wait_for, wait_for

CUT = "the server disconnected evmon as a slow consumer"


@pytest.fixture
def tight_server() -> Iterator[NatsServer]:
    server = NatsServer(config="max_pending: 1MB\n")
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def _cut_off_logged(server: NatsServer) -> bool:
    return "Slow Consumer Detected" in server.log_path.read_text(errors="replace")


async def _flood_until_cut(server: NatsServer, subject: str) -> int:
    """Publish 1 KiB messages until the server says it cut a slow consumer off."""
    nc = await nats.connect(server.url)
    sent = 0
    try:
        for _ in range(200):  # at most 200 x 1000 messages
            for _ in range(1000):
                await nc.publish(subject, b'{"pad":"' + b"x" * 1000 + b'"}')
                sent += 1
            await nc.flush()
            if _cut_off_logged(server):
                return sent
    finally:
        await nc.close()
    raise AssertionError("the server never cut the stopped tail off")


def _tail(
    server: NatsServer, tmp_path: Path, *args: str
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = tmp_path / "out.jsonl", tmp_path / "err.txt"
    proc = subprocess.Popen(
        evmon_cmd("tail", "--nats", server.url, "--format", "jsonl", *args),
        stdout=out.open("wb"),
        stderr=err.open("wb"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, out, err


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.endswith(b"}")]


@pytest.mark.parametrize("confirmed", [True, False], ids=["monitor", "inferred"])
async def test_tail_says_the_server_cut_it_off_and_carries_on(
    tight_server: NatsServer, tmp_path: Path, unique: str, confirmed: bool
) -> None:
    monitor = ("--nats-monitor", tight_server.monitor_url) if confirmed else ()
    proc, out, err = _tail(tight_server, tmp_path, "-s", f"{unique}.>", *monitor)
    try:
        nc = await nats.connect(tight_server.url)

        async def probe() -> bool:
            await nc.publish(f"{unique}.probe", b"{}")
            await nc.flush()
            return out.stat().st_size > 0

        await async_wait_for(probe, timeout=30, message="the tail is subscribed")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            sent = await _flood_until_cut(tight_server, f"{unique}.flood")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        await async_wait_for(
            lambda: f"reconnected: {CUT}: messages were lost at " in err.read_text(),
            timeout=30,
            message="the cut-off said in words on stderr",
        )

        async def after() -> bool:
            await nc.publish(f"{unique}.after", b'{"after":1}')
            await nc.flush()
            return any(r["subject"] == f"{unique}.after" for r in _lines(out))

        await async_wait_for(after, timeout=30, message="the tail reads again")
        await nc.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    flood = [r for r in _lines(out) if r["subject"] == f"{unique}.flood"]
    assert 0 < len(flood) < sent  # some arrived, the rest the server dropped
    text = err.read_text()
    assert f"evmon: {CUT} once: messages were lost" in text
    assert "stopped answering pings" not in text  # an EOF is not a frozen server
    assert "Traceback" not in text


@pytest.fixture
def deadline_server() -> Iterator[NatsServer]:
    """A server that cuts a client off when a write to it blocks for 2 s.

    A JetStream push consumer (the ordered consumer of ``--stream``) is paced by flow
    control: the server holds at most a window of unacknowledged bytes, much of it in the
    kernel's socket buffers. A ``max_pending`` below what is left of that window
    cuts a Python reader off again at every resumption, whatever its speed; a write deadline
    cuts only a reader that stopped reading (the SIGSTOP below), once.
    """
    server = NatsServer(config='write_deadline: "2s"\n')
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


async def test_a_stream_read_resumes_without_a_gap(
    deadline_server: NatsServer, tmp_path: Path, unique: str
) -> None:
    server = deadline_server
    # Three streams of 3000 x 10 KiB read at once: each ordered consumer may have about 30 MB
    # unacknowledged (its flow-control window), 90 MB in all, while the socket buffers of a
    # stopped reader take at most about 36 MB here (tcp_rmem max 32 MiB, tcp_wmem 4 MiB), so
    # the server's writes to it block, whatever the kernel's buffers had grown to.
    names = [f"{unique.replace('-', '_').upper()}_{k}" for k in range(3)]
    per_stream = 3000
    pad = b"x" * 10_000
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    for k, name in enumerate(names):
        await js.add_stream(name=name, subjects=[f"{unique}.{k}.>"], storage="memory")
        for i in range(per_stream):
            await js.publish(f"{unique}.{k}.m", b'{"i":%d,"pad":"%s"}' % (i, pad))
    await nc.close()
    streams = [arg for name in names for arg in ("--stream", name)]
    total = per_stream * len(names)
    # The monitoring endpoint confirms the cut-off (the server's reason for closing), so the
    # notice does not depend on how fast this busy machine read the backlog.
    proc, out, err = _tail(
        server, tmp_path, *streams, "--from", "first", "-n", str(total),
        "--nats-monitor", server.monitor_url,
    )  # fmt: skip
    try:
        wait_for(lambda: out.stat().st_size > 0, timeout=30, message="the stream read started")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: _cut_off_logged(server), timeout=60, message="a slow consumer cut-off")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        # -n: every message, then exit (a loaded machine may be cut off more than once)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.read_text()
    records = _lines(out)
    for name in names:  # no gap, no duplicate, in order, in every stream
        seqs = [r["offset"] for r in records if r["stream"] == name]
        assert seqs == list(range(1, per_stream + 1)), name
    assert len(records) == total
    text = err.read_text()
    assert f"{CUT}" in text and "the stream read resumed after the last sequence shown" in text


def _flood_from_thread(server: NatsServer, subject: str) -> None:
    asyncio.run(_flood_until_cut(server, subject))


async def test_the_status_bar_names_the_cut_off(tight_server: NatsServer, unique: str) -> None:
    spec = nats_spec(NatsSettings(urls=(tight_server.url,)), subjects=[f"{unique}.>"])
    store = EventStore(10_000)
    app = EvmonApp(store, [spec], blink=False)
    async with app.run_test(size=(220, 30)):
        await async_wait_for(lambda: app.connections[0].state == "connected", timeout=30)
        # "connected" comes before the server has the subscription: a flood started then
        # reaches no one (the loop held below never flushes the SUB), and nothing is cut off.
        nc = await nats.connect(tight_server.url)

        async def probe() -> bool:
            await nc.publish(f"{unique}.probe", b"{}")
            await nc.flush()
            return store.total > 0

        await async_wait_for(probe, timeout=30, message="the dashboard is subscribed")
        await nc.close()
        # The dashboard stops reading (its event loop is held here) while a flood arrives,
        # until the server cuts it off: a slow consumer, for real.
        flood = threading.Thread(target=_flood_from_thread, args=(tight_server, f"{unique}.f"))
        flood.start()
        wait_for(lambda: _cut_off_logged(tight_server), timeout=60, message="cut-off logged")
        flood.join(60)
        await async_wait_for(
            lambda: f"connected: {CUT}: messages were lost at " in app.status_bar.render().plain,
            timeout=30,
            message="the status bar names the cut-off",
        )
        await app.close_sources()


def _server_id(server: NatsServer) -> str:
    with urllib.request.urlopen(f"{server.monitor_url}/varz", timeout=5) as resp:
        return str(orjson.loads(resp.read())["server_id"])


async def test_the_monitor_decides_what_the_backlog_suggests(tight_server: NatsServer) -> None:
    """A connection closed by its client while evmon 'was behind' is no cut-off when the
    server says why it closed; an endpoint that cannot answer leaves the inference."""
    nc = await nats.connect(tight_server.url)
    cid = nc.client_id
    server_id = await asyncio.to_thread(_server_id, tight_server)
    await nc.close()

    async def reason() -> str | None:
        return await closed_reason(tight_server.monitor_url, cid) if cid is not None else None

    await async_wait_for(lambda: reason(), timeout=30, message="the closed connection listed")
    assert await reason() == "Client Closed"
    candidate = CutOffCandidate(server_id, cid, 0.0, behind=True)
    assert not await confirm_cut_off(tight_server.monitor_url, candidate)
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert await confirm_cut_off(unreachable, candidate)
    assert not await confirm_cut_off(unreachable, replace(candidate, behind=False))
    assert await confirm_cut_off(None, candidate)


# The nats-py internals the detection reads (read loop, parser, buffer size) are checked
# broker-free in tests/test_third_party_internals.py.
