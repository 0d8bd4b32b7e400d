"""The duplicate and drift lenses through ``evmon tail``, against a real nats-server and a
real Kafka broker, with publishers written the way services write them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from pathlib import Path

import nats
import nats.errors
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.helpers import evmon_cmd, run_evmon
from tests.waiting import wait_for


def _has_subscription(monitor_url: str, subject: str) -> bool:
    with urllib.request.urlopen(f"{monitor_url}/subsz?subs=1", timeout=2) as resp:
        data = json.loads(resp.read())
    return any(s.get("subject") == subject for s in data.get("subscriptions_list", []))


async def _publish_at_least_once(url: str, stream: str, unique: str) -> list[bool]:
    """A service's JetStream publisher: on a timeout it publishes again with the same
    ``Nats-Msg-Id``, as at-least-once publishers do. Returns the PubAcks' ``duplicate``."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    duplicates: list[bool] = []

    async def publish(subject: str, msg_id: str, body: bytes, wait: float = 5.0) -> None:
        for _attempt in range(2):
            try:
                ack = await js.publish(subject, body, timeout=wait, headers={"Nats-Msg-Id": msg_id})
            except nats.errors.TimeoutError:
                continue  # no PubAck in time: try again, same id (the store may have it)
            duplicates.append(bool(ack.duplicate))
            if not ack.duplicate:
                return

    try:
        await js.add_stream(name=stream, subjects=[f"{unique}.orders"])
        await publish(f"{unique}.orders", "o-1", b'{"id": 1}')
        # the retry of a publish whose PubAck was lost: JetStream stores it once ...
        again = await js.publish(f"{unique}.orders", b'{"id": 1}', headers={"Nats-Msg-Id": "o-1"})
        duplicates.append(bool(again.duplicate))
        await publish(f"{unique}.orders", "o-2", b'{"id": 2}')
        # ... and a subject no stream captures: evmon's subscription is interest, so the
        # request waits for its timeout instead of failing fast, and the service retries
        await publish(f"{unique}.audit", "a-1", b'{"id": 3}', wait=0.3)
        await publish(f"{unique}.orders", "o-3", b'{"id": 4}')
        again = await js.publish(f"{unique}.orders", b'{"id": 4}', headers={"Nats-Msg-Id": "o-3"})
        duplicates.append(bool(again.duplicate))
        await nc.flush()
    finally:
        await nc.close()
    return duplicates


def test_tail_dup_prints_exactly_the_second_copies_on_nats(
    nats_server: object, nats_url: str, unique: str
) -> None:
    monitor = nats_server.monitor_url  # type: ignore[attr-defined]
    stream = unique.replace("-", "_").upper()
    proc = subprocess.Popen(
        evmon_cmd(
            "tail",
            "--nats",
            nats_url,
            "-s",
            f"{unique}.>",
            "--filter",
            "dup",
            "--format",
            "jsonl",
            "-n",
            "3",
            "--timeout",
            "60",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _has_subscription(monitor, f"{unique}.>"), message="tail subscribed")
        duplicates = asyncio.run(_publish_at_least_once(nats_url, stream, unique))
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    # the server's own answer: the second copies on the stream's subject were not stored
    assert duplicates == [False, True, False, False, True]
    records = [orjson.loads(line) for line in out.splitlines()]
    got = [(r["subject"].removeprefix(unique + "."), r["headers"], r["data"]) for r in records]
    assert got == [
        ("orders", [["Nats-Msg-Id", "o-1"]], '{"id": 1}'),
        ("audit", [["Nats-Msg-Id", "a-1"]], '{"id": 3}'),
        ("orders", [["Nats-Msg-Id", "o-3"]], '{"id": 4}'),
    ]
    summary = err.decode().strip().splitlines()[-1]
    assert summary == (
        f"evmon: 3 duplicates (header:Nats-Msg-Id on NATS, the record key on Kafka): "
        f"nats {unique}.orders 2, nats {unique}.audit 1"
    )


async def _drifting_stream(url: str, stream: str, subject: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[subject])
        for payload in (
            {"id": 1, "email": "a@x", "amount": 5},
            {"id": 2, "email": "b@x", "amount": 7.5},
            {"id": 3, "email": "c@x", "amount": 1},
            {"id": 4, "mail": "d@x", "amount": 2},  # a producer renamed a field
            {"id": 5, "email": "e@x", "amount": 3},
            {"id": 6, "email": "f@x", "amount": "4.00"},  # and another sends a string
        ):
            await js.publish(subject, orjson.dumps(payload))
    finally:
        await nc.close()


def test_tail_drift_matches_the_drifted_events_and_says_how(nats_url: str, unique: str) -> None:
    stream = unique.replace("-", "_").upper()
    subject = f"{unique}.users.created"
    asyncio.run(_drifting_stream(nats_url, stream, subject))
    res = run_evmon(
        [
            "tail",
            "--nats",
            nats_url,
            "--stream",
            stream,
            "--from",
            "first",
            "--filter",
            "drift",
            "-n",
            "2",
            "--timeout",
            "30",
        ]
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 2
    assert f"{stream}#4" in lines[0] and '{"id":4,"mail"' in lines[0]
    assert f"{stream}#6" in lines[1] and '{"id":6,' in lines[1]
    assert res.stderr.decode().splitlines() == [
        f"evmon: drift: nats {subject} {stream}#4: missing: email; added: mail",
        f"evmon: drift: nats {subject} {stream}#6: type: amount number→string",
    ]
    # !drift: the others, and nothing on stderr about them
    res = run_evmon(
        [
            "tail",
            "--nats",
            nats_url,
            "--stream",
            stream,
            "--from",
            "first",
            "--filter",
            "!drift",
            "-n",
            "4",
            "--timeout",
            "30",
            "--format",
            "jsonl",
        ]
    )
    assert res.returncode == 0, res.stderr
    assert [orjson.loads(x)["json"]["id"] for x in res.stdout.splitlines()] == [1, 2, 3, 5]
    assert res.stderr == b""


async def _produce_keys(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in (
            (b"pay-1", b'{"n": 1}'),
            (b"pay-2", b'{"n": 2}'),
            (b"pay-1", b'{"n": 1}'),  # the same record sent twice: a producer retry
            (b"pay-3", b'{"n": 3}'),
            (b"pay-3", b'{"n": 3}'),
        ):
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def test_tail_dup_on_kafka_keys_and_other_identities(kafka_bootstrap: str, unique: str) -> None:
    topic = f"{unique}-payments"
    asyncio.run(_produce_keys(kafka_bootstrap, topic))
    base = ["tail", "--kafka", kafka_bootstrap, "-t", topic, "--from", "first", "--format", "jsonl"]
    res = run_evmon([*base, "--filter", "dup", "-n", "2", "--timeout", "30"])
    assert res.returncode == 0, res.stderr
    records = [orjson.loads(x) for x in res.stdout.splitlines()]
    assert [(r["key"], r["offset"]) for r in records] == [("pay-1", 2), ("pay-3", 4)]
    assert res.stderr.decode().splitlines()[-1] == (
        "evmon: 2 duplicates (header:Nats-Msg-Id on NATS, the record key on Kafka): "
        f"kafka {topic} 2"
    )
    # an identity of the payload's own, and !dup: the first copies
    res = run_evmon(
        [*base, "--dedupe-key", "json:n", "--filter", "!dup", "-n", "3", "--timeout", "30"]
    )
    assert res.returncode == 0, res.stderr
    assert [orjson.loads(x)["offset"] for x in res.stdout.splitlines()] == [0, 1, 3]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dedupe-key", "msgid"], "--dedupe-key takes header:NAME"),
        (["--dedupe-key", "json:"], "--dedupe-key takes header:NAME"),
    ],
)
def test_bad_lens_flags_are_one_line_usage_errors(
    nats_url: str, args: list[str], expected: str
) -> None:
    res = run_evmon(["tail", "--nats", nats_url, *args, "--timeout", "5"])
    err = res.stderr.decode()
    assert res.returncode == 2 and expected in err and len(err.splitlines()) == 1, err


def test_replay_refuses_the_lens_terms(tmp_path: Path) -> None:
    """A file has no live order to judge in: replay --filter dup is a usage error."""
    path = tmp_path / "events.jsonl"
    record: dict[str, object] = {"source": "nats", "subject": "a", "stream": None}
    record |= {"partition": None}
    record |= {"offset": None, "timestamp": "2026-01-01T00:00:00.000Z", "key": None}
    record |= {"headers": [], "size": 1, "data": "x"}
    path.write_bytes(orjson.dumps(record) + b"\n")
    res = run_evmon(["replay", str(path), "--filter", "dup", "--dry-run"])
    err = res.stderr.decode()
    assert res.returncode == 2 and "'dup' is judged on live events" in err, err
    assert len(err.splitlines()) == 1
