"""Broker contents the one-shot, quit and scale benchmarks share: a JetStream server of
their own, a filled Kafka topic and a filled JetStream stream.

The ingest benchmarks' NATS server runs without JetStream (its buffering settings are for
core floods), so these benchmarks start a second one, once per run. Topics and streams are
filled once per run and reused by every round, so every contender reads the same data.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.payloads import json_payload, subject_of
from bench.publish_nats import Conn
from tests.brokers import NatsServer

JS_CONFIG = """\
max_payload: 1048576
jetstream { max_memory_store: 268435456 }
"""

_servers: dict[int, NatsServer] = {}
_filled: dict[tuple[int, str], int] = {}


def jetstream(ctx: Context) -> NatsServer:
    """The run's JetStream server (started on first use, stopped with the run)."""
    server = _servers.get(id(ctx))
    if server is None:
        server = ctx._stack.enter_context(NatsServer(config=JS_CONFIG, name="evmon-bench-js"))
        _servers[id(ctx)] = server
    return server


def kafka_topic(
    ctx: Context, topic: str, count: int, size: int = 512, partitions: int = 3
) -> str | None:
    """``topic`` on the run's Kafka broker holding ``count`` JSON records (Kafka's own
    ProducerPerformance, as the ingest benchmark fills its topic); its bootstrap, or None
    without a broker (noted by the context)."""
    broker = ctx.kafka()
    if broker is None:
        return None
    key = (id(ctx), f"kafka:{topic}")
    if _filled.get(key) == count:
        return broker.bootstrap
    made = broker.run_kafka_tool(
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        broker.bootstrap,
        "--create",
        "--if-not-exists",
        "--topic",
        topic,
        "--partitions",
        str(partitions),
        "--replication-factor",
        "1",
    )
    if made.returncode != 0:
        raise RuntimeError(f"creating topic {topic} failed: {made.stderr.strip()[-400:]}")
    if count:
        with tempfile.TemporaryDirectory(prefix="evmon-bench-") as tmp:
            payloads = Path(tmp) / "payloads.jsonl"
            payloads.write_bytes(b"\n".join(json_payload(i, size) for i in range(1000)) + b"\n")
            proc = broker.run_kafka_tool(
                "org.apache.kafka.tools.ProducerPerformance",
                "--topic",
                topic,
                "--num-records",
                str(count),
                "--throughput",
                "-1",
                "--payload-file",
                str(payloads),
                "--producer-props",
                f"bootstrap.servers={broker.bootstrap}",
                "acks=1",
                "linger.ms=20",
                "batch.size=1048576",
                "compression.type=none",
                timeout=900,
            )
        if proc.returncode != 0 or "records sent" not in proc.stdout:
            raise RuntimeError(f"ProducerPerformance failed: {(proc.stdout + proc.stderr)[-600:]}")
    _filled[key] = count
    return broker.bootstrap


def jetstream_stream(ctx: Context, stream: str, count: int, size: int = 128) -> str:
    """A file-backed stream ``stream`` on subjects ``<stream>.{eu,us}.<kind>`` (lower case)
    holding ``count`` JSON messages; the server's URL. Published here over the raw protocol
    (``publish_nats.Conn``, pre-built frames), topped up until the stream holds them all."""
    server = jetstream(ctx)
    key = (id(ctx), f"js:{stream}")
    if _filled.get(key) == count:
        return server.url
    prefix = stream.lower()
    asyncio.run(_add_stream(server.url, stream, prefix))
    conn = Conn(server.url)
    try:
        sent = 0
        deadline = time.monotonic() + 120 + count / 20_000
        while True:
            for lo in range(sent, count, 2_000):
                conn.send(_frames(prefix, lo, min(lo + 2_000, count), size))
                if lo % 100_000 == 0:
                    conn.ping()  # let the stream keep up rather than queue it all
            conn.ping()
            sent = count
            held = asyncio.run(_stream_messages(server.url, stream))
            if held >= count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"stream {stream} holds {held:,} of {count:,} messages")
            time.sleep(0.5)
            held = asyncio.run(_stream_messages(server.url, stream))
            sent = held  # anything the server dropped is published again
    finally:
        conn.sock.close()
    _filled[key] = count
    return server.url


def _frames(prefix: str, start: int, stop: int, size: int) -> bytes:
    parts = []
    for i in range(start, stop):
        payload = json_payload(i, size)
        subject = f"{prefix}.{subject_of(i).removeprefix('bench.')}".encode()
        parts.append(b"PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload))
    return b"".join(parts)


async def _add_stream(url: str, stream: str, prefix: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        with contextlib.suppress(Exception):  # a stream left from an earlier run
            await js.delete_stream(stream)
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
    finally:
        await nc.close()


async def _stream_messages(url: str, stream: str) -> int:
    import nats

    nc = await nats.connect(url)
    try:
        info: Any = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()
