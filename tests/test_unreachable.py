"""A broker nobody listens for reads the same everywhere, and NATS says so at once.

Each test closes a loopback port it bound (so nothing listens there) and points evmon at it.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import orjson
import pytest

from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import ConnectError
from evmon.sources.nats.connect import connect_nats
from evmon.store import EventStore
from evmon.tui.app import EvmonApp
from evmon.tui.connections import kafka_spec, nats_spec
from tests.helpers import run_evmon
from tests.waiting import async_wait_for


def closed_port() -> int:
    """A loopback port that refuses: bound, read, closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _record(source: str, subject: str) -> bytes:
    return orjson.dumps(
        {
            "source": source,
            "subject": subject,
            "stream": None,
            "partition": 0 if source == "kafka" else None,
            "offset": 1 if source == "kafka" else None,
            "timestamp": "2024-05-01T12:00:00.000Z",
            "key": None,
            "headers": [],
            "size": 1,
            "data": "x",
        }
    )


def _commands(flag: str, where: str, events: Path) -> dict[str, list[str]]:
    if flag == "--kafka":
        skip = ["skip", flag, where, "--group", "g", "--topic", "t", "--partition", "0", "--yes"]
    else:
        skip = ["skip", flag, where, "--stream", "S", "--consumer", "c", "--yes"]
    return {
        "tail": ["tail", flag, where, *(["-t", "t"] if flag == "--kafka" else ["-s", ">"])],
        "lag": ["lag", flag, where],
        "replay": ["replay", str(events), flag, where, "--yes"],
        "skip": skip,
    }


@pytest.mark.parametrize("command", ["tail", "lag", "replay", "skip"])
def test_kafka_unreachable_reads_the_same_in_every_command(command: str, tmp_path: Path) -> None:
    where = f"127.0.0.1:{closed_port()}"
    events = tmp_path / "k.jsonl"
    events.write_bytes(_record("kafka", "t") + b"\n")
    res = run_evmon(_commands("--kafka", where, events)[command], timeout=60)
    assert res.returncode == 2, res.stderr
    assert res.stderr.decode().splitlines() == [
        f"evmon: error: cannot connect to Kafka at {where}: broker unreachable (connection refused)"
    ]


@pytest.mark.parametrize("command", ["tail", "lag", "replay", "skip"])
def test_nats_refused_reads_the_same_in_every_command(command: str, tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{closed_port()}"
    events = tmp_path / "n.jsonl"
    events.write_bytes(_record("nats", "a.b") + b"\n")
    res = run_evmon(_commands("--nats", url, events)[command], timeout=60)
    assert res.returncode == 2, res.stderr
    assert res.stderr.decode().splitlines() == [
        f"evmon: error: cannot connect to NATS at {url}: connection refused"
    ]


async def test_nats_refused_ends_the_wait_at_once() -> None:
    """With an hour to wait, the connect still ends as soon as every server refused."""
    urls = tuple(f"nats://127.0.0.1:{closed_port()}" for _ in range(2))
    async with asyncio.timeout(60):  # a safety net, far below the hour
        with pytest.raises(ConnectError, match="connection refused"):
            await connect_nats(NatsSettings(urls=urls), wait=3600)


async def test_the_status_bar_says_it_the_same_way() -> None:
    kafka = f"127.0.0.1:{closed_port()}"
    nats_url = f"nats://127.0.0.1:{closed_port()}"
    specs = [
        nats_spec(NatsSettings(urls=(nats_url,)), subjects=[">"]),
        kafka_spec(KafkaSettings(bootstrap=kafka), topics=["t"]),
    ]
    app = EvmonApp(EventStore(1000), specs, blink=False)
    async with app.run_test(size=(200, 30)):
        await async_wait_for(
            lambda: (
                [(v.state, v.detail) for v in app.connections]
                == [
                    ("connecting", "connection refused"),
                    ("connecting", "broker unreachable (connection refused)"),
                ]
            ),
            timeout=30,
            message="both connections refused",
        )
        await async_wait_for(
            lambda: (
                "connecting: broker unreachable (connection refused)"
                in app.status_bar.render().plain
                and "connecting: connection refused" in app.status_bar.render().plain
            ),
            message="the status bar names both",
        )
        await app.close_sources()
