"""Safety of the operator actions: read-only mode refuses every broker change, and every
action leaves exactly one correct audit line (and no secret)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import nats
import nats.js.api
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from evmon.actions import (
    ActionContext,
    AuditLog,
    ReadOnlyError,
    default_audit_path,
    export,
    replay,
    skip_jetstream,
    skip_kafka,
)
from evmon.codec import encode_record
from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import UsageError
from evmon.model import Event
from evmon.sources.nats.tail import NatsSource
from tests.helpers import ListSink, run_evmon
from tests.waiting import async_wait_for

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


def _cli(*args: str) -> tuple[int, str]:
    res = run_evmon(list(args), stdin=subprocess.DEVNULL)
    return res.returncode, res.stderr.decode()


async def _kafka_group_at(bootstrap: str, topic: str, group: str, offset: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"m{i}".encode(), partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        group_id=group, enable_auto_commit=False, bootstrap_servers=bootstrap
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): offset})
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(
        group_id=group, enable_auto_commit=False, bootstrap_servers=bootstrap
    )
    await consumer.start()
    try:
        value: int | None = await consumer.committed(TopicPartition(topic, 0))
        return value
    finally:
        await consumer.stop()


async def _stream_with_consumer(nats_url: str, unique: str) -> tuple[str, str]:
    stream, consumer = unique.replace("-", "_").upper(), "worker"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[f"{unique}.work"])
        for body in (b"poison", b"next"):
            await js.publish(f"{unique}.work", body)
        await js.add_consumer(
            stream,
            nats.js.api.ConsumerConfig(
                durable_name=consumer, ack_policy=nats.js.api.AckPolicy.EXPLICIT
            ),
        )
        # the worker fails on the poison and naks it: the consumer is stuck on sequence 1
        sub = await js.pull_subscribe_bind(durable=consumer, stream=stream)
        [msg] = await sub.fetch(1, timeout=5)
        await nc.request(msg.reply, b"-NAK", timeout=5)
    finally:
        await nc.close()
    return stream, consumer


async def _ack_floor(nats_url: str, stream: str, consumer: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(stream, consumer)
    finally:
        await nc.close()
    assert info.ack_floor is not None
    return info.ack_floor.stream_seq


def _hidden_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def _audit_lines(state_home: Path) -> list[bytes]:
    path = state_home / "evmon" / "audit.jsonl"
    return path.read_bytes().splitlines() if path.exists() else []


async def test_read_only_refuses_every_broker_change(
    nats_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path, state_home: Path
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await _kafka_group_at(kafka_bootstrap, topic, group, 1)
    stream, consumer = await _stream_with_consumer(nats_url, unique)
    ctx = ActionContext(
        nats=NatsSettings((nats_url,)), kafka=KafkaSettings(kafka_bootstrap), read_only=True
    )
    assert ctx.disabled_reason("replay") == "read-only mode: re-publish is disabled"
    assert ctx.disabled_reason("skip") == "read-only mode: skip is disabled"
    assert ctx.disabled_reason("export") is None

    target = f"{unique}.out"
    ev = Event("nats", target, b"payload", 1.0)
    with pytest.raises(ReadOnlyError, match=r"^read-only mode: re-publish is disabled$"):
        await replay(ctx, [ev])
    with pytest.raises(ReadOnlyError, match=r"^read-only mode: skip is disabled$"):
        await skip_kafka(ctx, group, topic, 0)
    with pytest.raises(ReadOnlyError, match=r"^read-only mode: skip is disabled$"):
        await skip_jetstream(ctx, stream, consumer)
    with pytest.raises(ReadOnlyError, match=r"^read-only mode: skip is disabled$"):
        await skip_jetstream(ctx, stream, consumer, seq=2)

    # the same from the command line
    records = tmp_path / "r.jsonl"
    records.write_bytes(encode_record(ev) + b"\n")
    sink = ListSink()
    src = NatsSource(NatsSettings((nats_url,)), sink, subjects=[target])
    await src.start()
    try:
        refusals = [
            ("replay", str(records), "--nats", nats_url, "--yes", "--read-only"),
            (
                "skip",
                "--kafka",
                kafka_bootstrap,
                "--group",
                group,
                "--topic",
                topic,
                "--partition",
                "0",
                "--yes",
                "--read-only",
            ),
            (
                "skip",
                "--nats",
                nats_url,
                "--stream",
                stream,
                "--consumer",
                consumer,
                "--yes",
                "--read-only",
            ),
        ]
        for args in refusals:
            rc, err = _cli(*args)
            what = "re-publish" if args[0] == "replay" else "skip"
            assert (rc, err) == (2, f"evmon: error: read-only mode: {what} is disabled\n")
        # a dry run changes nothing, so it is allowed
        rc, err = _cli("replay", str(records), "--dry-run", "--read-only")
        assert rc == 0, err

        # nothing moved, nothing was sent, nothing was recorded
        nc = await nats.connect(nats_url)
        await nc.publish(target, b"sentinel")
        await nc.close()
        await async_wait_for(lambda: sink.events, message="sentinel")
        assert [e.payload for e in sink.events] == [b"sentinel"]
    finally:
        await src.close()
    assert await _committed(kafka_bootstrap, group, topic) == 1
    assert await _ack_floor(nats_url, stream, consumer) == 0
    assert _audit_lines(state_home) == []

    # export changes no broker: allowed in read-only mode (and recorded)
    result = await export(ctx, [ev], tmp_path / "x.jsonl")
    assert result.path.read_bytes() == encode_record(ev) + b"\n"
    assert len(_audit_lines(state_home)) == 1


async def test_one_correct_audit_line_per_action_without_secrets(
    nats_url: str, kafka_bootstrap: str, unique: str, tmp_path: Path, state_home: Path
) -> None:
    topic, group = f"{unique}-t", f"{unique}-g"
    await _kafka_group_at(kafka_bootstrap, topic, group, 1)
    stream, consumer = await _stream_with_consumer(nats_url, unique)
    host, port = nats_url.removeprefix("nats://").rsplit(":", 1)
    secret = "s3cret-pw"
    # credentials in the URL and in the settings; the test server ignores them
    ctx = ActionContext(
        nats=NatsSettings((f"nats://evmon:{secret}@{host}:{port}",), password=secret),
        kafka=KafkaSettings(kafka_bootstrap),
    )
    assert ctx.audit is not None and ctx.audit.path == state_home / "evmon" / "audit.jsonl"

    events = [
        Event("nats", f"{unique}.a", b"one", 1.0, stream="SRC", offset=7),
        Event("nats", f"{unique}.b", b"two", 2.0),
    ]
    service = await nats.connect(nats_url)  # a subscriber: the copies have somewhere to go
    try:
        await service.subscribe(f"{unique}.copy")
        await service.flush()
        await replay(ctx, events, target=f"{unique}.copy")
    finally:
        await service.close()
    await skip_kafka(ctx, group, topic, 0)
    await skip_jetstream(ctx, stream, consumer)
    exported = await export(ctx, events, tmp_path / "out.jsonl")

    raw = b"\n".join(_audit_lines(state_home))
    assert secret.encode() not in raw and b"evmon:" not in raw
    entries = AuditLog().entries()
    assert len(entries) == 4
    replay_fields = {"edited", "copies", "msg_id", "sha256", "sent", "stored", "duplicates"}
    for e in entries:
        assert set(e) - (replay_fields | {"delivered"} if e["action"] == "replay" else set()) == {
            "time",
            "user",
            "host",
            "action",
            "broker",
            "target",
            "events",
            "outcome",
            "detail",
        }
        assert TIME.fullmatch(e["time"]) and e["host"] == socket.gethostname() and e["user"]
        assert e["outcome"] == "ok"
    nats_display = f"nats://{host}:{port}"
    picked = [(e["action"], e["broker"], e["target"], e["events"]) for e in entries]
    assert picked == [
        ("replay", nats_display, f"{unique}.copy", [f"nats:{unique}.a:7", f"nats:{unique}.b"]),
        ("skip", kafka_bootstrap, f"group {group} on {topic}[0]", [f"kafka:{topic}:0:1"]),
        (
            "skip",
            nats_display,
            f"consumer {consumer} on stream {stream}",
            [f"nats:{unique}.work:1"],
        ),
        ("export", "", str(exported.path.resolve()), [f"nats:{unique}.a:7", f"nats:{unique}.b"]),
    ]
    assert entries[0]["detail"] == (
        f"sent 2 events to {unique}.copy: 2 delivered to the server, which has 1 subscriber"
    )
    assert (entries[0]["edited"], entries[0]["copies"], entries[0]["sent"]) == (False, 1, 2)
    assert entries[1]["detail"] == "committed 2"
    assert entries[2]["detail"] == f"terminated {stream}#1 ({unique}.work, 2 times)"


async def test_unwritable_audit_log_stops_the_action_before_it_starts(
    nats_url: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    target = f"{unique}.t"
    sink = ListSink()
    src = NatsSource(NatsSettings((nats_url,)), sink, subjects=[target])
    await src.start()
    try:
        ctx = ActionContext(nats=NatsSettings((nats_url,)))
        with pytest.raises(UsageError, match=r"^cannot write the audit log .*not-a-dir/evmon"):
            await replay(ctx, [Event("nats", target, b"x", 1.0)])
        nc = await nats.connect(nats_url)
        await nc.publish(target, b"sentinel")
        await nc.close()
        await async_wait_for(lambda: sink.events, message="sentinel")
        assert [e.payload for e in sink.events] == [b"sentinel"]
    finally:
        await src.close()


def test_audit_path_follows_xdg_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_audit_path() == tmp_path / "xdg" / "evmon" / "audit.jsonl"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in ("", "relative/dir"):  # XDG: a relative path is ignored
        monkeypatch.setenv("XDG_STATE_HOME", unset)
        assert default_audit_path() == tmp_path / "home" / ".local/state/evmon/audit.jsonl"


async def test_export_default_name_no_overwrite_and_replayable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    ctx = ActionContext(audit=None)
    events = [
        Event("kafka", "t", None, 1.5, (("h", b"\xff"), ("h", b"2")), b"\x00k", None, 2, 40),
        Event("nats", "a.b", b"\x00\xff", 2.25, (), None, "S", None, 9),
    ]
    first = await export(ctx, events)
    second = await export(ctx, events[:1])
    exports = tmp_path / "data" / "evmon" / "exports"
    assert first.path.parent == exports and second.path != first.path
    assert re.fullmatch(r"evmon-export-\d{8}-\d{6}\.jsonl", first.path.name)
    assert re.fullmatch(r"evmon-export-\d{8}-\d{6}(-2)?\.jsonl", second.path.name)
    with pytest.raises(UsageError, match="already exists"):
        await export(ctx, events, first.path)
    assert _hidden_files(exports) == []  # no temporary file left behind
    # the export feeds replay unchanged
    rc, err = _cli("replay", str(first.path), "--dry-run")
    assert rc == 0, err


@pytest.mark.parametrize(
    "module",
    [
        "evmon.actions",
        "evmon.actions.context",
        "evmon.actions.audit",
        "evmon.actions.republish",
        "evmon.actions.jsonl_export",
        "evmon.actions.kafka_skip",
        "evmon.actions.jetstream_skip",
        "evmon.actions.skip_report",
        "evmon.commands.replay",
        "evmon.commands.skip",
        "evmon.sources.ack",
        "evmon.sources.nats.publish",
        "evmon.sources.kafka.publish",
        "evmon.sources.kafka.group_offsets",
        "evmon.sources.nats.consumer_skip",
    ],
)
def test_action_modules_do_not_import_textual(module: str) -> None:
    code = f"import sys, {module}\nprint(any(m.split('.')[0] == 'textual' for m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"
