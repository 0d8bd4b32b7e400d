"""Re-publish reports what the broker stored: JetStream duplicates, Nats-Msg-Id policies,
interest on core subjects, hostile subjects in what replay prints, and a closed stdout.

Real nats-server throughout (the session server, with its monitoring port; one private
server without a system account for "interest unknown"). Records are read from a stream
with ``evmon tail --format jsonl`` as an operator would, then replayed with ``evmon replay``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import orjson
import pytest

from evmon.actions import (
    MSG_ID_HEADER,
    ActionContext,
    AuditLog,
    PlannedPublish,
    identity,
    plan_event,
    replay,
)
from evmon.codec import decode_record
from evmon.config import NatsSettings
from evmon.model import Event
from evmon.selection import Start
from evmon.sources.nats.tail import NatsSource
from tests.brokers import ExternalNats, NatsServer
from tests.helpers import ListSink, evmon_cmd, run_evmon
from tests.waiting import async_wait_for

UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "evmon" / "audit.jsonl"


def _audit(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _stream_name(unique: str) -> str:
    return unique.replace("-", "_").upper()


async def _stream_with_ids(nats_url: str, unique: str, n: int = 2) -> tuple[str, str]:
    """A stream on ``<unique>.orders.>`` holding n messages with Nats-Msg-Id ``id-<i>``."""
    stream, subject = _stream_name(unique), f"{unique}.orders.eu"
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{unique}.orders.>"])
        for i in range(n):
            await js.publish(subject, b'{"n": %d}' % i, headers={MSG_ID_HEADER: f"id-{i}"})
    finally:
        await nc.close()
    return stream, subject


def _tail_stream(nats_url: str, stream: str, n: int, path: Path) -> list[bytes]:
    res = run_evmon(
        [
            *("tail", "--nats", nats_url, "--stream", stream, "--from", "first"),
            *("-n", str(n), "--timeout", "30", "--format", "jsonl"),
        ]
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == n
    path.write_bytes(res.stdout)
    return lines


async def _stored(nats_url: str, stream: str, first: int, n: int) -> list[Event]:
    sink = ListSink()
    src = NatsSource(
        NatsSettings((nats_url,)), sink, streams=[stream], start=Start("offset", offset=first)
    )
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) >= n, message=f"{n} stored messages")
    finally:
        await src.close()
    return sink.events


async def _last_seq(nats_url: str, stream: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info(stream)).state.last_seq)
    finally:
        await nc.close()


def _replay(path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return run_evmon(["replay", str(path), *args], stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- JetStream


async def test_duplicates_inside_the_window_are_counted_apart_and_exit_1(
    nats_url: str, unique: str, tmp_path: Path, _audit_in_tmp: Path
) -> None:
    stream, subject = await _stream_with_ids(nats_url, unique)
    path = tmp_path / "dlq.jsonl"
    lines = _tail_stream(nats_url, stream, 2, path)
    # a third record whose id the stream has not seen: the one that is stored
    fresh = orjson.loads(lines[0])
    fresh.update(offset=None, headers=[[MSG_ID_HEADER, "fresh-1"]], data='{"n": 9}')
    fresh.pop("json", None)
    path.write_bytes(path.read_bytes() + orjson.dumps(fresh) + b"\n")

    res = _replay(path, "--nats", nats_url, "--yes")
    assert res.returncode == 1, res.stderr
    assert res.stdout.decode().splitlines() == [
        f"nats:{subject}:1 -> {subject}: dropped as a duplicate by stream {stream} "
        f"({MSG_ID_HEADER} already stored as {stream}#1)",
        f"nats:{subject}:2 -> {subject}: dropped as a duplicate by stream {stream} "
        f"({MSG_ID_HEADER} already stored as {stream}#2)",
        f"nats:{subject} -> {subject} {stream}#3: stored",
        f"sent 3 events to {subject}: 1 stored, 2 dropped as duplicates by stream {stream} "
        f"({MSG_ID_HEADER} within the duplicate window)",
    ]
    assert await _last_seq(nats_url, stream) == 3  # the broker agrees: one message more
    [entry] = _audit(_audit_in_tmp)
    assert (entry["outcome"], entry["sent"], entry["stored"]) == ("partial", 3, 1)
    assert entry["duplicates"] == {stream: 2}
    assert entry["detail"] == res.stdout.decode().splitlines()[-1]
    assert (entry["edited"], entry["copies"], entry["msg_id"]) == (False, 1, "keep")


async def test_msg_id_new_stores_every_copy_with_an_id_that_shows_its_origin(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    stream, subject = await _stream_with_ids(nats_url, unique)
    path = tmp_path / "dlq.jsonl"
    _tail_stream(nats_url, stream, 2, path)
    res = _replay(path, "--nats", nats_url, "--yes", "--msg-id", "new")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines() == [
        f"nats:{subject}:1 -> {subject} {stream}#3: stored",
        f"nats:{subject}:2 -> {subject} {stream}#4: stored",
        f"sent 2 events to {subject}: 2 stored",
    ]
    copies = await _stored(nats_url, stream, 3, 2)
    for i, copy in enumerate(copies):
        msg_id = copy.header(MSG_ID_HEADER)
        assert msg_id is not None
        assert re.fullmatch(f"id-{i}\\.evmon-{UUID}", msg_id.decode()), msg_id
        assert copy.header("evmon-replayed-from") == f"nats:{subject}:{i + 1}".encode()
    # a second run makes other fresh ids: stored again, no duplicates
    res = _replay(path, "--nats", nats_url, "--yes", "--msg-id", "new")
    assert res.returncode == 0, res.stderr
    assert await _last_seq(nats_url, stream) == 6


async def test_msg_id_drop_stores_without_the_header(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    stream, subject = await _stream_with_ids(nats_url, unique)
    path = tmp_path / "dlq.jsonl"
    _tail_stream(nats_url, stream, 2, path)
    res = _replay(path, "--nats", nats_url, "--yes", "--msg-id", "drop", "--no-provenance")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines()[-1] == f"sent 2 events to {subject}: 2 stored"
    copies = await _stored(nats_url, stream, 3, 2)
    assert [(c.payload, c.headers) for c in copies] == [(b'{"n": 0}', ()), (b'{"n": 1}', ())]


async def test_dry_run_warns_about_the_duplicate_window(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    stream, subject = await _stream_with_ids(nats_url, unique)
    path = tmp_path / "dlq.jsonl"
    _tail_stream(nats_url, stream, 2, path)
    res = _replay(path, "--nats", nats_url, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert res.stderr.decode().splitlines() == [
        f"evmon: warning: 2 events carry {MSG_ID_HEADER} and {subject} is stored by stream "
        f"{stream} with a 2 min duplicate window: an id it already holds is dropped as a "
        "duplicate, not stored (--msg-id new gives fresh ids, --msg-id drop none)"
    ]
    assert res.stdout.decode().splitlines() == [
        f"nats:{subject}:1 -> nats:{subject}, 8 B, 2 headers, {MSG_ID_HEADER} id-0",
        f"nats:{subject}:2 -> nats:{subject}, 8 B, 2 headers, {MSG_ID_HEADER} id-1",
        f"dry run: would re-publish 2 events to {subject}; nothing was sent",
    ]
    # with fresh ids there is nothing to warn about; without --nats evmon says it cannot tell
    res = _replay(path, "--nats", nats_url, "--dry-run", "--msg-id", "new")
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    res = _replay(path, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert res.stderr.decode().strip() == (
        f"evmon: warning: records carry {MSG_ID_HEADER}: give --nats URL to check whether "
        "the target stream would drop them as duplicates"
    )
    assert await _last_seq(nats_url, stream) == 2  # dry runs send nothing


# --------------------------------------------------------------------------- core NATS


def _core_file(tmp_path: Path, subject: str, n: int = 2) -> Path:
    rec = {"source": "nats", "subject": subject, "timestamp": "2024-05-01T12:00:00.000Z"}
    path = tmp_path / "core.jsonl"
    path.write_bytes(
        b"".join(orjson.dumps({**rec, "data": f"m{i}", "headers": []}) + b"\n" for i in range(n))
    )
    return path


async def test_core_target_without_interest_warns_refuses_and_says_dropped(
    nats_server: NatsServer | ExternalNats, nats_url: str, unique: str, tmp_path: Path
) -> None:
    target = f"{unique}.nobody"
    path = _core_file(tmp_path, target)
    monitor = nats_server.monitor_url  # type: ignore[union-attr]
    # evmon's own subscription (a dashboard on the subject) is no interest
    sink = ListSink()
    src = NatsSource(NatsSettings((nats_url,)), sink, subjects=[target])
    await src.start()
    try:
        warning = (
            f"evmon: warning: nobody subscribes to {target} (per {monitor}): the server will "
            "drop the 2 events published there"
        )
        res = _replay(path, "--nats", nats_url, "--nats-monitor", monitor)
        assert res.returncode == 2
        assert res.stderr.decode().splitlines() == [
            warning,
            "evmon: error: standard input is not a terminal: pass --yes to confirm",
        ]
        res = _replay(path, "--nats", nats_url, "--nats-monitor", monitor, "--yes")
        assert res.returncode == 1, res.stderr
        assert res.stderr.decode().splitlines() == [warning]
        assert res.stdout.decode().splitlines() == [
            f"nats:{target} -> {target}: delivered to the server; no subscriber, dropped",
            f"nats:{target} -> {target}: delivered to the server; no subscriber, dropped",
            f"sent 2 events to {target}: 2 delivered to the server with no subscriber: dropped",
        ]
        # the account's CONNZ (no monitoring URL) knows the same
        res = _replay(path, "--nats", nats_url, "--yes")
        assert res.returncode == 1
        assert b"(per the account's CONNZ)" in res.stderr
        await async_wait_for(lambda: len(sink.events) == 4, message="evmon saw the publishes")
    finally:
        await src.close()


async def test_core_target_with_a_real_subscriber_is_delivered(
    nats_server: NatsServer | ExternalNats, nats_url: str, unique: str, tmp_path: Path
) -> None:
    target = f"{unique}.served"
    path = _core_file(tmp_path, target)
    got: list[bytes] = []
    service = await nats.connect(nats_url)  # a service: one plain and one queue subscriber

    async def on_msg(msg: nats.aio.msg.Msg) -> None:
        got.append(msg.data)

    try:
        await service.subscribe(f"{unique}.*", cb=on_msg)
        await service.subscribe(target, queue="workers", cb=on_msg)
        await service.flush()
        res = _replay(path, "--nats", nats_url, "--nats-monitor", nats_server.monitor_url, "--yes")  # type: ignore[union-attr]
        assert res.returncode == 0, res.stderr
        assert res.stderr == b""
        who = "1 subscriber, queue group workers (1 member)"
        assert res.stdout.decode().splitlines() == [
            f"nats:{target} -> {target}: delivered to {who}",
            f"nats:{target} -> {target}: delivered to {who}",
            f"sent 2 events to {target}: 2 delivered to the server, which has {who}",
        ]
        await async_wait_for(lambda: len(got) == 4, message="both subscriptions got both")
        assert sorted(got) == [b"m0", b"m0", b"m1", b"m1"]
    finally:
        await service.close()


@pytest.fixture
def server_without_system_account(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(config="no_sys_acc: true\n", jetstream=False, workdir=tmp_path / "ns")
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


async def test_interest_unknown_when_the_server_cannot_be_asked(
    server_without_system_account: NatsServer, unique: str, tmp_path: Path
) -> None:
    url = server_without_system_account.url
    target = f"{unique}.somewhere"
    res = _replay(_core_file(tmp_path, target, 1), "--nats", url, "--yes")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines() == [
        f"nats:{target} -> {target}: delivered to the server; interest unknown",
        f"sent 1 event to {target}: 1 delivered to the server; interest unknown",
    ]
    # a monitoring URL that cannot be read is an error, before anything is sent
    res = _replay(
        _core_file(tmp_path, target, 1),
        "--nats",
        url,
        "--yes",
        "--nats-monitor",
        "http://127.0.0.1:1",
    )
    assert res.returncode == 2
    assert res.stderr.decode().startswith(
        "evmon: error: cannot read the NATS monitoring endpoint http://127.0.0.1:1: "
    )
    assert res.stderr.decode().rstrip().endswith("; check --nats-monitor")


# --------------------------------------------------------------------------- output


def test_hostile_subjects_stay_on_one_escaped_line(tmp_path: Path) -> None:
    evil = "a.\x1b]0;owned\x07.b"
    split = "x.\r\nevmon: fake line"
    rec = {"source": "nats", "timestamp": "2024-05-01T12:00:00.000Z", "data": "x"}
    path = tmp_path / "evil.jsonl"
    path.write_bytes(orjson.dumps({**rec, "subject": evil}) + b"\n")
    res = _replay(path, "--dry-run", "--no-provenance")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "\x1b" not in out and "\x07" not in out
    assert (
        out.splitlines()[0]
        == "nats:a.\\x1b]0;owned\\x07.b -> nats:a.\\x1b]0;owned\\x07.b, 1 B, 0 headers"
    )
    path.write_bytes(orjson.dumps({**rec, "subject": split}) + b"\n")
    res = _replay(path, "--dry-run")
    assert res.returncode == 2
    err = res.stderr.decode()
    assert err.count("\n") == 1 and "\r" not in err, err
    assert err.startswith("evmon: error: line 1: nats:x.\\r\\nevmon: fake line: cannot publish")


def test_dry_run_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    rec = {"source": "nats", "subject": "a.b", "timestamp": "2024-05-01T12:00:00.000Z"}
    path = tmp_path / "many.jsonl"
    path.write_bytes(
        b"".join(orjson.dumps({**rec, "data": "x" * 40}) + b"\n" for _ in range(20000))
    )
    proc = subprocess.Popen(
        evmon_cmd("replay", str(path), "--dry-run"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert first == b"nats:a.b -> nats:a.b, 40 B, 1 header\n"
    assert err == b""


# --------------------------------------------------------------------------- audit, export


def _expected_digest(plan: list[PlannedPublish]) -> str:
    """sha256 over each sent message as [source, target, key, headers, payload] (base64)."""

    def b64(b: bytes | None) -> str | None:
        return None if b is None else base64.b64encode(b).decode()

    h = hashlib.sha256()
    for p in plan:
        item = [p.source, p.target, b64(p.event.key), [[n, b64(v)] for n, v in p.headers]]
        h.update(orjson.dumps([*item, b64(p.event.payload)]) + b"\n")
    return h.hexdigest()


async def test_audit_marks_an_edited_republish_and_exports_are_private(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    from evmon.actions import export

    stream = _stream_name(unique)
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().add_stream(name=stream, subjects=[f"{unique}.t"])
    finally:
        await nc.close()
    ctx = ActionContext(nats=NatsSettings((nats_url,)), audit=AuditLog(tmp_path / "audit.jsonl"))
    original = Event(
        "nats", f"{unique}.t", b"old", 1.0, ((MSG_ID_HEADER, b"m-1"),), stream=stream, offset=7
    )
    edited = Event("nats", original.subject, b"new", 1.0, original.headers, stream=stream, offset=7)
    plan = [plan_event(edited, msg_id="new") for _ in range(2)]
    result = await replay(ctx, plan, edited=True, copies=2, msg_id="new")
    assert result.ok and result.stored == 2
    [entry] = ctx.audit.entries()  # type: ignore[union-attr]
    assert (entry["edited"], entry["copies"], entry["msg_id"]) == (True, 2, "new")
    assert entry["sha256"] == _expected_digest(plan)
    assert entry["events"] == [identity(original)] * 2 and entry["outcome"] == "ok"

    path = tmp_path / "out.jsonl"
    await export(ctx, [original], path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert decode_record(path.read_bytes().strip()).payload == b"old"
