"""`evmon tail` and the NATS source against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request

import nats
import nats.js.api
import orjson
import pytest

from evmon.codec import decode_record
from evmon.config import NatsSettings
from evmon.selection import Start
from evmon.sources.nats.tail import NatsSource
from tests.helpers import ListSink, evmon_cmd, run_evmon, run_evmon_beside_a_silent_server
from tests.waiting import async_wait_for, wait_for


async def _source(url: str, **kw: object) -> tuple[NatsSource, ListSink]:
    sink = ListSink()
    src = NatsSource(NatsSettings(urls=(url,)), sink, **kw)  # type: ignore[arg-type]
    await src.start()
    return src, sink


async def test_wildcards_follow_nats_rules(nats_url: str, unique: str) -> None:
    src, sink = await _source(nats_url, subjects=[f"{unique}.*.created", f"{unique}.all.>"])
    nc = await nats.connect(nats_url)
    try:
        for subj in (
            f"{unique}.eu.created",  # matches *
            f"{unique}.eu.x.created",  # * is one token only
            f"{unique}.all",  # > needs at least one more token
            f"{unique}.all.a",
            f"{unique}.all.a.b",
            f"{unique}.end",
        ):
            await nc.publish(subj, b"x")
        await nc.flush()
        await async_wait_for(
            lambda: any(e.subject.endswith(".end") for e in sink.events) or len(sink.events) >= 3,
            message="events",
        )
        await async_wait_for(lambda: len(sink.events) >= 3, message="3 events")
        assert sorted(sink.subjects()) == sorted(
            [f"{unique}.eu.created", f"{unique}.all.a", f"{unique}.all.a.b"]
        )
    finally:
        await nc.close()
        await src.close()


async def test_headers_payloads_and_sizes_are_exact(nats_url: str, unique: str) -> None:
    src, sink = await _source(nats_url, subjects=[f"{unique}.>"])
    nc = await nats.connect(nats_url)
    big = bytes(range(256)) * 4096  # exactly 1 MiB of binary
    try:
        # nats-py publishes a dict; repeated names are sent with a hand-written header block.
        hdr = b"NATS/1.0\r\nTrace: a\r\nTrace: b\r\nNaive: caf\xc3\xa9\r\n\r\n"
        await nc._send_command(
            b"HPUB %s %d %d\r\n%s%s\r\n"
            % (f"{unique}.h".encode(), len(hdr), len(hdr) + 4, hdr, b"body")
        )
        await nc.publish(f"{unique}.bin", b"\x00\xff\xfe\x80")
        await nc.publish(f"{unique}.empty", b"")
        await nc.publish(f"{unique}.big", big)
        await nc.flush()
        await async_wait_for(lambda: len(sink.events) == 4, message="4 events")
        by = {e.subject.rsplit(".", 1)[1]: e for e in sink.events}
        assert by["h"].headers == (("Trace", b"a"), ("Trace", b"b"), ("Naive", "café".encode()))
        assert by["h"].payload == b"body"
        assert by["bin"].payload == b"\x00\xff\xfe\x80" and by["bin"].size == 4
        assert by["empty"].payload == b"" and by["empty"].size == 0
        assert by["big"].payload == big and by["big"].size == 1024 * 1024
        assert all(e.source == "nats" and e.offset is None for e in sink.events)
    finally:
        await nc.close()
        await src.close()


async def _stream_with(nats_url: str, name: str, subjects: list[str], n: int) -> list[float]:
    """Create a stream holding n messages; return each message's server timestamp."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=subjects)
    stamps = []
    for i in range(1, n + 1):
        await js.publish(subjects[0].replace(">", f"m{i}"), f'{{"i": {i}}}'.encode())
        msg = await js.get_msg(name, i)
        assert msg.seq == i
        stamps.append(time.time())
    await nc.close()
    return stamps


async def test_jetstream_from_sequence_then_follows(nats_url: str, unique: str) -> None:
    name = unique.replace("-", "_").upper()
    await _stream_with(nats_url, name, [f"{unique}.>"], 5)
    src, sink = await _source(nats_url, streams=[name], start=Start("offset", offset=3))
    try:
        await async_wait_for(lambda: len(sink.events) == 3, message="seq 3..5")
        nc = await nats.connect(nats_url)
        await nc.jetstream().publish(f"{unique}.m6", b'{"i": 6}')
        await nc.close()
        await async_wait_for(lambda: len(sink.events) == 4, message="seq 6 followed live")
        assert [e.offset for e in sink.events] == [3, 4, 5, 6]
        assert [e.stream for e in sink.events] == [name] * 4
        assert sink.events[0].payload == b'{"i": 3}'
        # evmon created no durable consumer and acked nothing
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().stream_info(name)
        names = [c.name for c in await nc.jetstream().consumers_info(name)]
        assert all(not (c.config.durable_name) for c in await nc.jetstream().consumers_info(name))
        assert info.state.messages == 6 and len(names) <= 1
        await nc.close()
    finally:
        await src.close()


async def test_jetstream_from_time(nats_url: str, unique: str) -> None:
    name = unique.replace("-", "_").upper()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{unique}.>"])
    for i in (1, 2):
        await js.publish(f"{unique}.old", str(i).encode())
    second = await js.get_msg(name, 2)
    # start just after message 2's server time; messages 3, 4 are newer
    assert second.headers is None
    raw = await nc.request(f"$JS.API.STREAM.MSG.GET.{name}", b'{"seq": 2}')
    ts2 = json.loads(raw.data)["message"]["time"]
    from evmon.codec import parse_timestamp

    cut = parse_timestamp(ts2) + 0.001
    await async_wait_for(lambda: time.time() > cut + 0.005, message="clock past cut")
    for i in (3, 4):
        await js.publish(f"{unique}.new", str(i).encode())
    await nc.close()
    src, sink = await _source(nats_url, streams=[name], start=Start("time", time=cut))
    try:
        await async_wait_for(lambda: len(sink.events) == 2, message="messages after the time")
        assert [e.payload for e in sink.events] == [b"3", b"4"]
        assert [e.offset for e in sink.events] == [3, 4]
        assert all(e.timestamp >= cut for e in sink.events)
    finally:
        await src.close()


def _has_subscription(monitor_url: str, subject: str) -> bool:
    with urllib.request.urlopen(f"{monitor_url}/subsz?subs=1", timeout=2) as resp:
        data = json.loads(resp.read())
    return any(s.get("subject") == subject for s in data.get("subscriptions_list", []))


def test_cli_tail_jsonl_core_subjects(nats_server: object, nats_url: str, unique: str) -> None:
    monitor = nats_server.monitor_url  # type: ignore[attr-defined]
    proc = subprocess.Popen(
        evmon_cmd(
            "tail",
            "--nats",
            nats_url,
            "-s",
            f"{unique}.orders.>",
            "-s",
            f"{unique}.users.*",
            "--format",
            "jsonl",
            "-n",
            "3",
            "--timeout",
            "30",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: _has_subscription(monitor, f"{unique}.users.*"),
            timeout=15,
            message="tail subscribed",
        )

        async def publish() -> None:
            nc = await nats.connect(nats_url)
            await nc.publish(f"{unique}.orders.eu.created", b'{"id": 1}', headers={"k": "v"})
            await nc.publish(f"{unique}.payments.x", b"not selected")
            await nc.publish(f"{unique}.users.created", b"\xff\x00")
            await nc.publish(f"{unique}.users.a.b", b"too deep")
            await nc.publish(f"{unique}.orders.us", b"")
            await nc.flush()
            await nc.close()

        asyncio.run(publish())
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    # each subscription delivers in order; across subscriptions the order is not defined
    records = {
        r["subject"].removeprefix(unique + "."): r for r in map(orjson.loads, out.splitlines())
    }
    assert sorted(records) == ["orders.eu.created", "orders.us", "users.created"]
    assert records["orders.eu.created"]["json"] == {"id": 1}
    assert records["orders.eu.created"]["headers"] == [["k", "v"]]
    assert records["users.created"]["data_b64"] == "/wA=" and "data" not in records["users.created"]
    assert records["orders.us"]["data"] == "" and records["orders.us"]["size"] == 0
    events = {e.subject: e for e in map(decode_record, out.splitlines())}
    assert events[f"{unique}.users.created"].payload == b"\xff\x00"


def test_cli_tail_stream_text_and_filter(nats_url: str, unique: str) -> None:
    name = unique.replace("-", "_").upper()
    asyncio.run(_stream_with(nats_url, name, [f"{unique}.>"], 4))
    res = run_evmon(
        [
            "tail",
            "--nats",
            nats_url,
            "--stream",
            name,
            "--from",
            "first",
            "--filter",
            "json:i=3",
            "-n",
            "1",
            "--timeout",
            "20",
        ]
    )
    assert res.returncode == 0, res.stderr
    line = res.stdout.decode().strip()
    assert f"{unique}.m3" in line and f"{name}#3" in line and '{"i": 3}' in line


def test_cli_unreachable_nats_exits_2_fast(unique: str) -> None:
    from tests.brokers import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    # A refused URL is reported at once, not after the connect wait: it ends while a tail
    # started beside it against a server that never answers is still waiting.
    res, reference_waiting = run_evmon_beside_a_silent_server(["tail", "--nats", url, "-s", ">"])
    assert res.returncode == 2
    err = res.stderr.decode()
    assert url.removeprefix("nats://") in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert reference_waiting, "the refusal waited for the connect wait"


def test_cli_bad_stream_and_bad_filter(nats_url: str) -> None:
    res = run_evmon(["tail", "--nats", nats_url, "--stream", "NOPE_NOT_HERE"])
    assert res.returncode == 2 and b"NOPE_NOT_HERE" in res.stderr and b"not found" in res.stderr
    res = run_evmon(["tail", "--nats", nats_url, "--filter", "json:"])
    assert res.returncode == 2 and b"Traceback" not in res.stderr and b"json:" in res.stderr


@pytest.mark.parametrize("flag", [["--from", "yesterday"], ["-n", "0"]])
def test_cli_usage_errors(nats_url: str, flag: list[str]) -> None:
    res = run_evmon(["tail", "--nats", nats_url, *flag])
    assert res.returncode == 2 and b"Traceback" not in res.stderr
