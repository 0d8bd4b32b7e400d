"""Re-publish (replay) against real brokers: exact bytes, acks, and nothing sent on refusal.

Originals are published with hand-written wire frames (NATS) or aiokafka directly (Kafka),
read back by the sources, exported with ``evmon.actions.export``, replayed with the
``evmon replay`` command, read back again and compared byte for byte.
"""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
from dataclasses import replace
from pathlib import Path

import nats
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from evmon.actions import (
    PROVENANCE_HEADER,
    ActionContext,
    AuditLog,
    ReplayError,
    export,
    identity,
    replay,
)
from evmon.codec import decode_record
from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import UsageError
from evmon.model import Event, Headers
from evmon.selection import Start
from evmon.sources.kafka.tail import KafkaSource
from evmon.sources.nats.tail import NatsSource
from tests.helpers import ListSink, evmon_cmd, run_evmon
from tests.waiting import async_wait_for

#: Header sets that nats-py's dict API could not send: repeats, non-ASCII, non-UTF-8.
TRICKY_HEADERS: Headers = (
    ("Trace", b"a"),
    ("Trace", b"b"),
    ("X-Name", "żółw ☃ café".encode()),
    ("X-Raw", b"\xff\xfe\x80 not utf-8"),
    ("Trace", b"c"),
)


@pytest.fixture(autouse=True)
def _audit_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Commands (and AuditLog()) write their audit log under tmp_path, never in $HOME."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "evmon" / "audit.jsonl"


def _ctx(tmp_path: Path, nats_url: str | None = None, kafka: str | None = None) -> ActionContext:
    return ActionContext(
        nats=NatsSettings((nats_url,)) if nats_url else None,
        kafka=KafkaSettings(kafka) if kafka else None,
        audit=AuditLog(tmp_path / "audit.jsonl"),
    )


def _replay(
    path: Path, *args: str, stdin: int = subprocess.DEVNULL
) -> subprocess.CompletedProcess[bytes]:
    return run_evmon(["replay", str(path), *args], stdin=stdin)


async def _hpub(nc: nats.NATS, subject: str, payload: bytes, headers: Headers) -> None:
    """A hand-written HPUB frame (independent of evmon's publisher)."""
    block = b"NATS/1.0\r\n" + b"".join(n.encode() + b": " + v + b"\r\n" for n, v in headers)
    block += b"\r\n"
    await nc._send_command(
        b"HPUB %s %d %d\r\n%s%s\r\n"
        % (subject.encode(), len(block), len(block) + len(payload), block, payload)
    )


async def _nats_source(url: str, **kw: object) -> tuple[NatsSource, ListSink]:
    sink = ListSink()
    src = NatsSource(NatsSettings(urls=(url,)), sink, **kw)  # type: ignore[arg-type]
    await src.start()
    return src, sink


class _Service:
    """A plain nats-py subscriber, as a service would run one: the interest evmon looks for
    (evmon's own connections never count)."""

    def __init__(self, url: str, subjects: list[str]) -> None:
        self.url, self.subjects = url, subjects
        self.nc: nats.NATS | None = None

    async def __aenter__(self) -> _Service:
        self.nc = await nats.connect(self.url)
        for subject in self.subjects:
            await self.nc.subscribe(subject)
        await self.nc.flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.nc is not None
        await self.nc.close()


def _without_provenance(ev: Event) -> tuple[Headers, bytes | None]:
    """The headers before the provenance header, and its value (which must be last, once)."""
    names = [n for n, _ in ev.headers]
    assert names.count(PROVENANCE_HEADER) <= 1, ev.headers
    if names and names[-1] == PROVENANCE_HEADER:
        return ev.headers[:-1], ev.headers[-1][1]
    assert PROVENANCE_HEADER not in names, ev.headers
    return ev.headers, None


# --------------------------------------------------------------------------- NATS


NATS_ORIGINALS: list[tuple[str, bytes, Headers]] = [
    ("bin", bytes(range(256)) * 3, TRICKY_HEADERS),
    ("json", b'{"id": 7, "note": "caf\xc3\xa9"}', (("Content-Type", b"application/json"),)),
    ("empty", b"", (("Only", b"header"), ("Only", b"twice"))),
    ("noheaders", b"line one\nline two\r\n", ()),
]


async def _capture_nats_originals(nats_url: str, unique: str) -> list[Event]:
    src, sink = await _nats_source(nats_url, subjects=[f"{unique}.src.>"])
    nc = await nats.connect(nats_url)
    try:
        for name, payload, headers in NATS_ORIGINALS:
            await _hpub(nc, f"{unique}.src.{name}", payload, headers)
        await nc.flush()
        await async_wait_for(lambda: len(sink.events) == len(NATS_ORIGINALS), message="originals")
    finally:
        await nc.close()
        await src.close()
    for ev, (_, payload, headers) in zip(sink.events, NATS_ORIGINALS, strict=True):
        assert (ev.payload, ev.headers) == (payload, headers)
    return sink.events


async def test_nats_core_round_trip_is_byte_exact(
    nats_url: str, unique: str, tmp_path: Path, _audit_in_tmp: Path
) -> None:
    originals = await _capture_nats_originals(nats_url, unique)
    path = tmp_path / "export.jsonl"
    result = await export(_ctx(tmp_path), originals, path)
    assert result.count == len(originals)

    dst, dst_plain = f"{unique}.dst", f"{unique}.plain"
    src, sink = await _nats_source(nats_url, subjects=[dst, dst_plain])
    service = _Service(nats_url, [dst, dst_plain])
    try:
        await service.__aenter__()
        res = _replay(path, "--nats", nats_url, "--to", dst, "--yes")
        assert res.returncode == 0, res.stderr
        n = len(originals)
        assert res.stdout.decode().splitlines() == [
            *(f"{identity(e)} -> {dst}: delivered to 1 subscriber" for e in originals),
            f"sent {n} events to {dst}: {n} delivered to the server, which has 1 subscriber",
        ]
        await async_wait_for(lambda: len(sink.events) == n, message="replayed copies")

        res = _replay(path, "--nats", nats_url, "--to", dst_plain, "--yes", "--no-provenance")
        assert res.returncode == 0, res.stderr
        await async_wait_for(lambda: len(sink.events) == 2 * n, message="copies, no provenance")
    finally:
        await service.__aexit__()
        await src.close()

    copies = [e for e in sink.events if e.subject == dst]
    plain = [e for e in sink.events if e.subject == dst_plain]
    for orig, copy, bare in zip(originals, copies, plain, strict=True):
        headers, prov = _without_provenance(copy)
        assert copy.payload == orig.payload
        assert headers == orig.headers
        assert prov == identity(orig).encode() == f"nats:{orig.subject}".encode()
        assert (bare.payload, bare.headers) == (orig.payload, orig.headers)
    # the export read back is the same events (timestamps to the millisecond)
    exported = [replace(decode_record(line), timestamp=0.0) for line in _lines(path)]
    assert exported == [replace(e, timestamp=0.0) for e in originals]
    audit = [orjson.loads(x) for x in _lines(_audit_in_tmp)]
    assert [(a["action"], a["target"], a["outcome"]) for a in audit] == [
        ("replay", dst, "ok"),
        ("replay", dst_plain, "ok"),
    ]


async def test_nats_jetstream_target_is_acknowledged(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    originals = await _capture_nats_originals(nats_url, unique)
    path = tmp_path / "export.jsonl"
    await export(_ctx(tmp_path), originals, path)
    stream = unique.replace("-", "_").upper()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[f"{unique}.stored"])
        await js.publish(f"{unique}.stored", b"already there")
        res = _replay(path, "--nats", nats_url, "--to", f"{unique}.stored", "--yes")
        assert res.returncode == 0, res.stderr
        lines = res.stdout.decode().splitlines()
        assert lines[0] == f"{identity(originals[0])} -> {unique}.stored {stream}#2: stored"
        assert lines[-1] == f"sent {len(originals)} events to {unique}.stored: 4 stored"
        info = await js.stream_info(stream)
        assert info.state.last_seq == 1 + len(originals)
    finally:
        await nc.close()

    src, sink = await _nats_source(nats_url, streams=[stream], start=Start("offset", offset=2))
    try:
        await async_wait_for(lambda: len(sink.events) == len(originals), message="stored copies")
    finally:
        await src.close()
    for orig, copy in zip(originals, sink.events, strict=True):
        headers, prov = _without_provenance(copy)
        assert (copy.payload, headers, prov) == (
            orig.payload,
            orig.headers,
            identity(orig).encode(),
        )
    assert [e.offset for e in sink.events] == list(range(2, 2 + len(originals)))


async def test_refused_publish_names_the_event_and_what_was_acknowledged(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    """A stream that takes one message more: the second publish is refused by JetStream."""
    stream = unique.replace("-", "_").upper()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(
        name=stream, subjects=[f"{unique}.full"], max_msgs=2, discard=nats.js.api.DiscardPolicy.NEW
    )
    await js.publish(f"{unique}.full", b"first")
    events = [
        Event("nats", f"{unique}.a", f"e{i}".encode(), 1.0, stream="SRC", offset=10 + i)
        for i in range(3)
    ]
    ctx = _ctx(tmp_path, nats_url)
    try:
        with pytest.raises(ReplayError) as info:
            await replay(ctx, events, target=f"{unique}.full")
        err = info.value
        assert (err.acknowledged, err.total, err.failed) == (1, 3, f"nats:{unique}.a:11")
        assert str(err).startswith(f"re-publish of nats:{unique}.a:11 to {unique}.full failed: ")
        assert "maximum messages exceeded" in str(err)
        assert "1 of 3 events were acknowledged before it, the rest were not sent" in str(err)
        state = (await js.stream_info(stream)).state
        assert (state.messages, state.last_seq) == (2, 2)
        [entry] = ctx.audit.entries()  # type: ignore[union-attr]
        assert entry["outcome"] == "failed" and entry["events"] == [identity(e) for e in events]
    finally:
        await nc.close()


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _record(subject: str, data: str, **kw: object) -> bytes:
    rec = {"source": "nats", "subject": subject, "timestamp": "2024-05-01T12:00:00.000Z"}
    rec.update({"data": data, "headers": [], **kw})
    return orjson.dumps(rec)


async def _nothing_arrived(nats_url: str, sink: ListSink, subject: str) -> None:
    """Publish a sentinel after the command finished: it must be the only message seen."""
    nc = await nats.connect(nats_url)
    try:
        await nc.publish(subject, b"sentinel")
        await nc.flush()
    finally:
        await nc.close()
    await async_wait_for(lambda: len(sink.events) >= 1, message="sentinel")
    assert [e.payload for e in sink.events] == [b"sentinel"]


async def test_malformed_line_stops_before_anything_is_sent(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    target = f"{unique}.t"
    path = _write(
        tmp_path / "bad.jsonl",
        [_record(target, "one"), b"", _record(target, "two"), b'{"source": "nats", "subj'],
    )
    src, sink = await _nats_source(nats_url, subjects=[target])
    try:
        res = _replay(path, "--nats", nats_url, "--yes")
        assert res.returncode == 2
        err = res.stderr.decode()
        assert err.startswith("evmon: error: line 4: not JSON"), err
        # a record that parses but cannot be sent as it is (a wildcard subject) names its line too
        _write(path, [_record(target, "one"), _record(f"{unique}.*", "two")])
        res = _replay(path, "--nats", nats_url, "--yes")
        assert res.returncode == 2
        assert res.stderr.decode().startswith(f"evmon: error: line 2: nats:{unique}.*: cannot")
        await _nothing_arrived(nats_url, sink, target)
    finally:
        await src.close()


async def test_refusals_without_terminal_and_dry_run_send_nothing(
    nats_url: str, unique: str, tmp_path: Path
) -> None:
    target = f"{unique}.t"
    path = _write(
        tmp_path / "ok.jsonl",
        [
            _record(target, "one", stream="S", offset=3, headers=[["A", "1"], ["A", "2"]]),
            _record(target, "two"),
        ],
    )
    src, sink = await _nats_source(nats_url, subjects=[target])
    try:
        res = _replay(path, "--nats", nats_url)  # stdin is not a terminal, no --yes
        assert res.returncode == 2
        assert res.stderr.decode().splitlines() == [
            # the sink is evmon's own subscription: that is no interest
            f"evmon: warning: nobody subscribes to {target} (per the account's CONNZ): "
            "the server will drop the 2 events published there",
            "evmon: error: standard input is not a terminal: pass --yes to confirm",
        ]
        res = _replay(path, "--nats", nats_url, "--dry-run")
        assert res.returncode == 0, res.stderr
        assert res.stdout.decode().splitlines() == [
            f"nats:{target}:3 -> nats:{target}, 3 B, 3 headers",
            f"nats:{target} -> nats:{target}, 3 B, 1 header",
            f"dry run: would re-publish 2 events to {target}; nothing was sent",
        ]
        res = _replay(path, "--yes")  # NATS records without --nats
        assert res.returncode == 2
        assert res.stderr.decode().strip() == "evmon: error: line 1: NATS records need --nats URL"
        await _nothing_arrived(nats_url, sink, target)
    finally:
        await src.close()


async def test_filter_selects_what_is_replayed(nats_url: str, unique: str, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mixed.jsonl",
        [
            _record(f"{unique}.orders.created", '{"status": "paid"}'),
            _record(f"{unique}.orders.created", '{"status": "open"}'),
            _record(f"{unique}.users.created", '{"status": "paid"}'),
        ],
    )
    target = f"{unique}.out"
    src, sink = await _nats_source(nats_url, subjects=[target])
    try:
        expr = f"{unique}.orders.* json:status=paid"
        async with _Service(nats_url, [target]):
            res = _replay(path, "--nats", nats_url, "--to", target, "--filter", expr, "--yes")
        assert res.returncode == 0, res.stderr
        assert res.stdout.decode().splitlines()[-1] == (
            f"sent 1 event to {target}: 1 delivered to the server, which has 1 subscriber"
        )
        await async_wait_for(lambda: len(sink.events) == 1, message="the selected event")
        assert sink.events[0].payload == b'{"status": "paid"}'
        assert sink.events[0].header(PROVENANCE_HEADER) == f"nats:{unique}.orders.created".encode()
    finally:
        await src.close()


async def test_terminal_question_no_then_yes(nats_url: str, unique: str, tmp_path: Path) -> None:
    target = f"{unique}.t"
    path = _write(tmp_path / "one.jsonl", [_record(target, "hello")])
    src, sink = await _nats_source(nats_url, subjects=[target])
    service = _Service(nats_url, [target])
    await service.__aenter__()
    try:
        for answer, expect_rc in ((b"n\n", 1), (b"y\n", 0)):
            master, slave = pty.openpty()
            try:
                os.write(master, answer)
                proc = await asyncio.to_thread(
                    subprocess.run,
                    evmon_cmd("replay", str(path), "--nats", nats_url),
                    stdin=slave,
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
            finally:
                os.close(slave)
                os.close(master)
            assert proc.returncode == expect_rc, proc.stderr
            assert proc.stderr.startswith(f"Re-publish 1 event to {target}? [y/N] ".encode())
            if expect_rc == 1:
                assert b"cancelled; nothing was changed" in proc.stderr
        await async_wait_for(lambda: len(sink.events) == 1, message="the confirmed replay")
        assert sink.events[0].payload == b"hello"
    finally:
        await service.__aexit__()
        await src.close()


# --------------------------------------------------------------------------- Kafka


async def _create_topics(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics]
        )
    finally:
        await admin.close()


def _key_not_on(partition: int) -> bytes:
    """A key the default partitioner sends elsewhere, to prove the partition was kept."""
    parts = [0, 1, 2]
    for i in range(100):
        key = f"k{i}".encode()
        if DefaultPartitioner()(key, parts, parts) != partition:
            return key
    raise AssertionError("no key found")


async def _kafka_read(bootstrap: str, topic: str, n: int) -> list[Event]:
    sink = ListSink()
    src = KafkaSource(KafkaSettings(bootstrap), sink, topics=[topic], start=Start("first"))
    await src.start()
    try:
        await async_wait_for(lambda: len(sink.events) >= n, timeout=30, message=f"{n} records")
    finally:
        await src.close()
    assert len(sink.events) == n
    return sink.events


async def test_kafka_round_trip_keys_headers_tombstone_partitions(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    src_topic, dst_topic = f"{unique}-src", f"{unique}-dst"
    await _create_topics(kafka_bootstrap, src_topic, dst_topic)
    sticky_key = _key_not_on(2)
    records: list[dict[str, object]] = [
        {
            "value": bytes(range(255, -1, -1)),
            "key": b"\x00\xff\x80key",
            "headers": list(TRICKY_HEADERS),
        },
        {"value": None, "key": b"gone", "headers": [("reason", b"deleted")]},  # tombstone
        {"value": b"", "key": None, "headers": []},
        {"value": b'{"a": 1}', "key": sticky_key, "partition": 2, "headers": [("h", b"")]},
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait(src_topic, **r)  # type: ignore[arg-type]
    finally:
        await producer.stop()
    originals = await _kafka_read(kafka_bootstrap, src_topic, len(records))
    by_ident = {identity(e): e for e in originals}
    path = tmp_path / "kafka.jsonl"
    await export(_ctx(tmp_path), originals, path)

    res = _replay(path, "--kafka", kafka_bootstrap, "--to", dst_topic, "--yes")
    assert res.returncode == 0, res.stderr
    *per_event, summary = res.stdout.decode().splitlines()
    assert summary == f"sent 4 events to {dst_topic}: 4 stored"
    copies = await _kafka_read(kafka_bootstrap, dst_topic, len(records))
    provenance = [(_without_provenance(c)[1] or b"").decode() for c in copies]
    assert sorted(per_event) == sorted(
        f"{prov} -> {dst_topic} p{c.partition}@{c.offset}: stored"
        for prov, c in zip(provenance, copies, strict=True)
    )
    for copy in copies:
        headers, prov = _without_provenance(copy)
        assert prov is not None
        orig = by_ident[prov.decode()]
        assert (copy.payload, copy.key, headers) == (orig.payload, orig.key, orig.headers)
    tombstones = [c for c in copies if c.payload is None]
    assert len(tombstones) == 1 and tombstones[0].key == b"gone"

    # to the same topic: the original partition is kept even where the key hashes elsewhere
    res = _replay(
        path,
        "--kafka",
        kafka_bootstrap,
        "--filter",
        "partition:2 key:" + sticky_key.decode(),
        "--yes",
        "--no-provenance",
    )
    assert res.returncode == 0, res.stderr
    again = await _kafka_read(kafka_bootstrap, src_topic, len(records) + 1)
    orig = next(e for e in originals if e.key == sticky_key)
    [copy] = [e for e in again if e.key == sticky_key and e.offset != orig.offset]
    assert (copy.partition, copy.payload, copy.headers) == (2, orig.payload, orig.headers)


async def test_kafka_unknown_target_topic_sends_nothing(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    ev = Event("kafka", f"{unique}-src", b"x", 1.0, key=b"k", partition=0, offset=0)
    ctx = _ctx(tmp_path, kafka=kafka_bootstrap)
    with pytest.raises(UsageError, match=f"Kafka topic '{unique}-missing' not found"):
        await replay(ctx, [ev], target=f"{unique}-missing")
    assert ctx.audit.entries() == []  # type: ignore[union-attr]


async def test_rate_paces_the_publishes(nats_url: str, unique: str, tmp_path: Path) -> None:
    events = [Event("nats", f"{unique}.r", f"{i}".encode(), 1.0) for i in range(5)]
    ctx = _ctx(tmp_path, nats_url)
    progress: list[tuple[int, int]] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await replay(ctx, events, rate=40.0, on_progress=lambda d, t: progress.append((d, t)))
    assert loop.time() - started >= 4 / 40.0  # the 5th publish is due 100 ms after the 1st
    assert result.count == 5 and progress == [(i, 5) for i in range(1, 6)]


async def test_missing_connection_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    ctx = ActionContext(audit=AuditLog(tmp_path / "audit.jsonl"))
    kafka_event = Event("kafka", "t", b"x", 1.0, partition=0, offset=1)
    with pytest.raises(UsageError, match="Kafka events needs a Kafka connection: give --kafka"):
        await replay(ctx, [kafka_event])
    with pytest.raises(UsageError, match="NATS events needs a NATS connection: give --nats URL"):
        await replay(ctx, [Event("nats", "a.b", b"x", 1.0)])
    assert ctx.audit is not None and ctx.audit.entries() == []
