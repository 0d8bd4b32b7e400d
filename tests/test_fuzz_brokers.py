"""Hostile input through real brokers: broken UTF-8 in payloads and headers, ANSI escapes and
control characters in payloads, subjects and keys, the server's maximum payload, 10,000-level
JSON, empty subject tokens, Kafka null keys and values. `tail` must stay up and print
nothing a terminal would act on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from pathlib import Path

import nats
import orjson
from aiokafka import AIOKafkaProducer

from tests.helpers import evmon_cmd, run_evmon
from tests.waiting import wait_for

ESC = b"\x1b"


def _subscribed(monitor_url: str, subject: str) -> bool:
    with urllib.request.urlopen(f"{monitor_url}/subsz?subs=1", timeout=2) as resp:
        data = json.loads(resp.read())
    return any(s.get("subject") == subject for s in data.get("subscriptions_list", []))


async def _raw_hpub(url: str, subject: str, header_block: bytes, payload: bytes) -> None:
    """Publish with a raw header block (nats-py only sends str header values)."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    await reader.readline()  # INFO
    total = len(header_block) + len(payload)
    writer.write(
        b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n'
        + f"HPUB {subject} {len(header_block)} {total}\r\n".encode()
        + header_block
        + payload
        + b"\r\nPING\r\n"
    )
    await writer.drain()
    line = await reader.readline()
    assert line.startswith(b"PONG"), line
    writer.close()
    await writer.wait_closed()


def _tail(
    nats_server: object, url: str, subject: str, n: int, fmt: str = "text"
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        evmon_cmd(
            "tail", "--nats", url, "-s", subject, "-n", str(n), "--timeout", "30", "--format", fmt
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    monitor = nats_server.monitor_url  # type: ignore[attr-defined]
    wait_for(lambda: _subscribed(monitor, subject), timeout=15, message="tail subscribed")
    return proc


def test_nats_hostile_payloads_subjects_and_headers(
    nats_server: object, nats_url: str, unique: str
) -> None:
    nasty_subject = f"{unique}.\x1b[31mred\x1b[0m.\x07bell"
    proc = _tail(nats_server, nats_url, f"{unique}.>", 5)

    async def publish() -> None:
        nc = await nats.connect(nats_url)
        await nc.publish(f"{unique}.ansi", b"\x1b[2J\x1b]0;owned\x07 clear screen \xc2\x9b1m")
        await nc.publish(nasty_subject, b"subject with escapes")
        await nc.publish(f"{unique}.bad-utf8", b"\xff\xfe\xc3(\x00\r\x1b")
        await nc.publish(f"{unique}.deep", b"[" * 10_000 + b"]" * 10_000)
        await nc.flush()
        await nc.close()
        await _raw_hpub(
            nats_url, f"{unique}.hdr", b"NATS/1.0\r\nX-Bad: \xff\xfe\x1b[31m\r\n\r\n", b"h"
        )

    asyncio.run(publish())
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert ESC not in out and b"\x07" not in out and "\x9b" not in out.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 5
    assert any("\\x1b[31mred" in line for line in lines), lines
    assert any("\\x1b[2J" in line and "\\x9b1m" in line for line in lines), lines


def test_nats_bad_utf8_header_round_trips_in_jsonl(
    nats_server: object, nats_url: str, unique: str
) -> None:
    proc = _tail(nats_server, nats_url, f"{unique}.>", 1, "jsonl")
    asyncio.run(
        _raw_hpub(
            nats_url, f"{unique}.h", b"NATS/1.0\r\nX-Bad: \xff\x1b\r\nX-Bad: ok\r\n\r\n", b"\xc3"
        )
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rec = orjson.loads(out)
    assert rec["headers"] == [["X-Bad", {"b64": "/xs="}], ["X-Bad", "ok"]]
    assert rec["data_b64"] == "ww=="


def test_nats_max_payload_exact_works_and_one_more_is_a_clear_error(
    nats_server: object, nats_url: str, unique: str, tmp_path: Path
) -> None:
    async def max_payload() -> int:
        nc = await nats.connect(nats_url)
        try:
            return int(nc.max_payload)
        finally:
            await nc.close()

    limit = asyncio.run(max_payload())
    subject = f"{unique}.big"

    def record(size: int) -> bytes:
        return orjson.dumps(
            {
                "source": "nats",
                "subject": subject,
                "timestamp": "2024-01-01T00:00:00.000Z",
                "data": "a" * size,
            }
        )

    over = tmp_path / "over.jsonl"
    over.write_bytes(record(limit + 1) + b"\n")
    proc = _tail(nats_server, nats_url, subject, 1, "jsonl")

    async def publish_exact() -> None:
        nc = await nats.connect(nats_url)
        await nc.publish(subject, b"a" * limit)
        await nc.flush()
        await nc.close()

    asyncio.run(publish_exact())
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert orjson.loads(out)["size"] == limit

    async def replay_with_a_listener() -> subprocess.CompletedProcess[bytes]:
        # A real subscriber, so the one line is about max_payload, not about interest.
        nc = await nats.connect(nats_url)
        try:
            await nc.subscribe(subject)
            await nc.flush()
            return await asyncio.to_thread(
                run_evmon, ["replay", str(over), "--nats", nats_url, "--yes"]
            )
        finally:
            await nc.close()

    res = asyncio.run(replay_with_a_listener())
    text = res.stderr.decode()
    assert res.returncode in (1, 2) and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1 and "max_payload" in text


def test_empty_subject_tokens_are_a_usage_error(nats_url: str) -> None:
    for subject in ("a..b", ".a", "a.", "a.>.b"):
        res = run_evmon(["tail", "--nats", nats_url, "-s", subject, "--timeout", "5"])
        text = res.stderr.decode()
        assert res.returncode == 2, (subject, text)
        assert len(text.strip().splitlines()) == 1 and "Traceback" not in text


def test_kafka_null_keys_values_and_escapes(kafka_bootstrap: str, unique: str) -> None:
    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(unique, b"no key", key=None)
            await producer.send_and_wait(unique, None, key=b"\x1b[31mk")
            await producer.send_and_wait(
                unique, b"\x1b]0;x\x07\xff", key=None, headers=[("h", b"\x1b[0m\xff")]
            )
        finally:
            await producer.stop()

    asyncio.run(produce())
    base = ["tail", "--kafka", kafka_bootstrap, "-t", unique, "--from", "first", "-n", "3"]
    res = run_evmon([*base, "--timeout", "30"])
    assert res.returncode == 0, res.stderr
    assert ESC not in res.stdout and b"\x07" not in res.stdout
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 3 and "key=" not in lines[0] and "<tombstone>" in lines[1]
    res = run_evmon([*base, "--timeout", "30", "--format", "jsonl"])
    recs = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert recs[0]["key"] is None and recs[0]["data"] == "no key"
    assert recs[1]["key"] == "\x1b[31mk" and recs[1]["data"] is None
    assert recs[2]["data_b64"] and recs[2]["headers"][0][1] == {"b64": "G1swbf8="}
