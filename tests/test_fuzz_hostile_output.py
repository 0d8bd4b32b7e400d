"""Fuzz: the hostile byte set, published to a real nats-server (and Kafka), through every
headless output path (tail text, tail JSONL on a terminal and piped, lag table, errors; replay's
dry run, question, summary and refusals; skip's previews, questions, results and refusals on
Kafka and JetStream). Nothing below 0x20
but a newline (and a tab where JSONL's embedded JSON keeps one), and no ESC, reaches stdout
or stderr."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pty
import socket
import subprocess
import tty
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.js.api
import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.brokers import NatsServer
from tests.helpers import evmon_cmd, run_evmon
from tests.kafka_kit import commit_one, create_topic
from tests.test_hostile_cli import assert_clean, raw_publish

C0 = [bytes([b]) for b in range(0x20)]
C1 = [chr(c).encode() for c in range(0x80, 0xA0)]
BIDI = [chr(c).encode() for c in (0x61C, 0x200E, 0x200F, *range(0x202A, 0x202F), 0x2066, 0x2069)]
SEQUENCES = [b"\x1b[31m", b"\x1b]0;pwned\x07", b"\x1b]8;;http://evil/\x1b\\", b"\x1b[2J", b"\x9b1m"]
INVALID = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]
HOSTILE = [*C0, b"\x7f", *C1, *BIDI, *SEQUENCES, *INVALID, b"\r\n", b"ok", b" ", b"{", b'"']

pieces = st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=12).map(b"".join)
#: Subjects and header names end at whitespace and ':' in the protocol: everything else goes,
#: except \x0b and \x0c: nats-server accepts them in a subject, but nats-py's MSG parser
#: reads them as separators and stalls (a known gap, reported in issue 17's notes).
token = pieces.map(lambda b: b.translate(None, b" \t\r\n\x0b\x0c.*>:") or b"t")
header_value = pieces.map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
message = st.tuples(token, pieces, token, header_value)


def _hpub(subject: bytes, payload: bytes, name: bytes, value: bytes) -> bytes:
    head = b"NATS/1.0\r\n" + name + b": " + value + b"\r\n\r\n"
    return b"HPUB %s %d %d\r\n%s%s\r\n" % (
        subject,
        len(head),
        len(head) + len(payload),
        head,
        payload,
    )


def _publish(url: str, prefix: bytes, messages: list[tuple[bytes, bytes, bytes, bytes]]) -> None:
    plain = [(prefix + b"." + s, p) for s, p, _, _ in messages]
    raw_publish(url, plain)  # the same messages again, with a hostile header each:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        f = s.makefile("rb")
        f.readline()
        out = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
        out += b"".join(_hpub(prefix + b"." + s, p, n, v) for s, p, n, v in messages)
        s.sendall(out + b"PING\r\n")
        while (line := f.readline()) != b"PONG\r\n":
            assert not line.startswith(b"-ERR"), line


def _run_on_a_terminal(argv: list[str]) -> tuple[int, bytes, bytes]:
    """Run with stdout on a raw pty (a terminal, without the CR the line discipline adds)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    with contextlib.suppress(OSError):  # EIO once the process closed its end
        while chunk := os.read(master, 65536):
            out += chunk
    _, err = proc.communicate(timeout=60)
    os.close(master)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(workdir=tmp_path_factory.mktemp("fuzz-nats")) as s:
        yield s


_counter = iter(range(1_000_000))


@pytest.mark.timeout(600)
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each run is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messages=st.lists(message, min_size=1, max_size=6), names=st.lists(pieces, max_size=3))
def test_no_control_byte_reaches_the_terminal(
    server: NatsServer, messages: list[tuple[bytes, bytes, bytes, bytes]], names: list[bytes]
) -> None:
    n = next(_counter)
    stream, prefix = f"FZ{n}", f"fz{n}"
    consumers = asyncio.run(_setup(server.url, stream, prefix, names))
    _publish(server.url, prefix.encode(), messages)
    count = str(2 * len(messages))
    base = ["tail", "--nats", server.url, "--stream", stream, "--from", "first", "-n", count]

    text = run_evmon([*base, "--timeout", "30"])
    assert text.returncode == 0, text.stderr
    assert len(text.stdout.splitlines()) == 2 * len(messages)
    assert_clean(text.stdout)
    assert_clean(text.stderr)

    piped = run_evmon([*base, "--timeout", "30", "--format", "jsonl"])
    records = [orjson.loads(line) for line in piped.stdout.splitlines()]
    assert len(records) == 2 * len(messages)
    assert_clean(piped.stdout, allow_tab=True)

    code, out, err = _run_on_a_terminal(evmon_cmd(*base, "--timeout", "30", "--format", "jsonl"))
    assert code == 0, err
    assert [orjson.loads(line) for line in out.splitlines()] == records  # same strings
    assert_clean(out, allow_tab=True)
    assert not any(ch in out.decode() for ch in "\x85\x9b\u202e\u2066\u200f")
    assert_clean(err)

    lag = run_evmon(["lag", "--nats", server.url, "--stream", stream])
    assert lag.returncode == 0, lag.stderr
    # evmon's own ordered consumers (from the tails above) may still be listed too
    assert len(lag.stdout.splitlines()) >= 2 + len(consumers)
    assert_clean(lag.stdout)
    assert_clean(lag.stderr)

    for name in names:
        bad = name.decode(errors="replace").replace("\x00", "")  # argv cannot hold NUL
        res = run_evmon(["lag", "--nats", server.url, "--stream", bad or "x.y"])
        # a name the server could hold: an ERR row for the missing stream; else one error line
        assert res.returncode in (0, 2), res.stderr
        assert len(res.stderr.splitlines()) == (res.returncode == 2), res.stderr
        assert_clean(res.stdout)
        assert_clean(res.stderr)


async def _setup(url: str, stream: str, prefix: str, names: list[bytes]) -> list[str]:
    """A stream for the messages and a durable consumer for each hostile name the server
    accepts as one; the names it took."""
    nc = await nats.connect(url)
    took = []
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        for raw in names:
            name = raw.decode(errors="replace").translate({ord(c): None for c in " \t\r\n.*>/\\"})
            if not name or name in took:
                continue
            with contextlib.suppress(Exception):  # names the server refuses are not the point
                await js.add_consumer(stream, nats.js.api.ConsumerConfig(durable_name=name))
                took.append(name)
    finally:
        await nc.close()
    return took


# --------------------------------------------------------------------------- replay


def _ask_on_a_terminal(argv: list[str], answer: bytes) -> tuple[int, bytes, bytes]:
    """Run with stdin on a raw pty (the confirmation is only asked on a terminal), answer
    the question, and return what reached stdout and stderr (where the question is asked)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(argv, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(slave)
    try:
        os.write(master, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
    return proc.returncode, out, err


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


def _nats_record(subject: str, payload: bytes, value: bytes) -> bytes:
    header: str | dict[str, str]
    try:
        header = value.decode()
    except UnicodeDecodeError:
        header = {"b64": base64.b64encode(value).decode()}
    rec = {
        "source": "nats",
        "subject": subject,
        "timestamp": "2024-05-01T12:00:00.000Z",
        "data_b64": base64.b64encode(payload).decode(),
        "headers": [["X-Hostile", header]],
    }
    return orjson.dumps(rec)


@pytest.mark.timeout(600)
@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messages=st.lists(message, min_size=1, max_size=4), bad=pieces)
def test_replay_prints_no_control_byte(
    server: NatsServer,
    tmp_path_factory: pytest.TempPathFactory,
    messages: list[tuple[bytes, bytes, bytes, bytes]],
    bad: bytes,
) -> None:
    n = next(_counter)
    stream, prefix = f"FZR{n}", f"fzr{n}"
    asyncio.run(_setup(server.url, stream, prefix, []))
    subjects = [f"{prefix}.{_text(s)}" for s, _, _, _ in messages]
    lines = [_nats_record(s, p, v) for s, (_, p, _, v) in zip(subjects, messages, strict=True)]
    path = tmp_path_factory.mktemp("replay") / "events.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))

    dry = run_evmon(["replay", str(path), "--dry-run", "--nats", server.url])
    assert dry.returncode == 0, dry.stderr
    assert len(dry.stdout.splitlines()) == len(messages) + 1
    assert_clean(dry.stdout)
    assert_clean(dry.stderr)

    code, out, err = _ask_on_a_terminal(
        evmon_cmd("replay", str(path), "--nats", server.url), b"n\n"
    )
    assert code == 1, err
    assert out == b""
    assert b"Re-publish" in err and b"cancelled" in err, err
    assert_clean(out)
    assert_clean(err)

    sent = run_evmon(["replay", str(path), "--nats", server.url, "--yes"])
    assert sent.returncode == 0, sent.stderr
    assert len(sent.stdout.splitlines()) == len(messages) + 1
    assert sent.stdout.splitlines()[-1].startswith(b"sent "), sent.stdout
    assert_clean(sent.stdout)
    assert_clean(sent.stderr)
    assert asyncio.run(_stored(server.url, stream)) == len(messages)

    # a subject no NATS message can be sent to: one line naming it, nothing sent
    invalid = path.with_name("invalid.jsonl")
    subject = f"{prefix}.{_text(bad)} \r\n.x"
    invalid.write_bytes(lines[0] + b"\n" + _nats_record(subject, b"p", b"v") + b"\n")
    for extra in (["--dry-run"], ["--yes"]):
        res = run_evmon(["replay", str(invalid), "--nats", server.url, *extra])
        assert res.returncode == 2, res.stderr
        assert res.stdout == b""
        assert len(res.stderr.splitlines()) == 1, res.stderr
        assert res.stderr.startswith(b"evmon: error: line 2: "), res.stderr
        assert_clean(res.stderr)
    assert asyncio.run(_stored(server.url, stream)) == len(messages)


async def _stored(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


# --------------------------------------------------------------------------- skip


async def _kafka_stuck_on(bootstrap: str, topic: str, group: str, key: bytes, value: bytes) -> None:
    """A topic whose offset 0 holds the hostile record, and ``group`` committed on it."""
    await create_topic(bootstrap, topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key, partition=0, headers=[(_text(key), value)]
        )
        await producer.send_and_wait(topic, b"next", partition=0)
    finally:
        await producer.stop()
    await commit_one(bootstrap, group, TopicPartition(topic, 0), 0)


@pytest.mark.timeout(600)
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(key=pieces, value=pieces, name=pieces)
def test_kafka_skip_prints_no_control_byte(
    kafka_bootstrap: str, key: bytes, value: bytes, name: bytes
) -> None:
    n = next(_counter)
    topic = f"fzk{n}"
    group = f"fzg{n}-" + _text(name).replace("\x00", "")  # argv cannot hold NUL
    asyncio.run(_kafka_stuck_on(kafka_bootstrap, topic, group, key, value))
    base = ["skip", "--kafka", kafka_bootstrap, "--group", group, "--topic", topic]
    base += ["--partition", "0"]

    code, out, err = _ask_on_a_terminal(evmon_cmd(*base), b"n\n")
    assert code == 1, err
    assert out.startswith(b"group "), out
    assert len(out.splitlines()) == 4, out  # head, key, size, payload
    assert b"Commit offset 1" in err and b"cancelled" in err, err
    assert_clean(out)
    assert_clean(err)

    res = run_evmon([*base, "--yes"], stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 4 + 3, res.stdout  # preview, then the result
    assert res.stdout.splitlines()[-1].endswith(b"committed 1 (log 0-2)"), res.stdout
    assert_clean(res.stdout)
    assert_clean(res.stderr)


async def _hostile_consumer(url: str, stream: str, prefix: str, raw: bytes) -> str:
    """A stream and a durable pull consumer named with the hostile bytes when the server
    takes the name (a plain one otherwise); the name."""
    name = raw.decode(errors="replace").translate({ord(c): None for c in " \t\r\n.*>/\\\x00"})
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        for candidate in (c for c in (name, "plain") if c):
            with contextlib.suppress(Exception):  # names the server refuses are not the point
                config = nats.js.api.ConsumerConfig(durable_name=candidate, ack_wait=30)
                await js.add_consumer(stream, config)
                return candidate
    finally:
        await nc.close()
    raise AssertionError("no consumer created")


def _deliver_and_nak(url: str, stream: str, consumer: str, delay: int | None) -> bytes:
    """Take the next message as a service would and nak it (with a delay in seconds: held).
    Through the raw protocol: nats-py cannot decode a subject that is not UTF-8."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}".encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(
            b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.fz 1\r\n'
            b'PUB %s _INBOX.fz 11\r\n{"batch":1}\r\n' % api
        )
        while not (line := f.readline()).startswith(b"MSG "):
            assert not line.startswith(b"-ERR"), line
        *_, reply, size = line.rstrip(b"\r\n").split(b" ")
        payload = f.read(int(size) + 2)[:-2]
        nak = b"-NAK" if delay is None else b'-NAK {"delay":%d}' % (delay * 1_000_000_000)
        s.sendall(b"PUB %s %d\r\n%s\r\nPING\r\n" % (reply, len(nak), nak))
        while (line := f.readline()) != b"PONG\r\n":
            assert not line.startswith(b"-ERR"), line
    return payload


@pytest.mark.timeout(600)
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=pieces, first=message, second=message)
def test_jetstream_skip_prints_no_control_byte(
    server: NatsServer,
    name: bytes,
    first: tuple[bytes, bytes, bytes, bytes],
    second: tuple[bytes, bytes, bytes, bytes],
) -> None:
    n = next(_counter)
    stream, prefix = f"FZJ{n}", f"fzj{n}"
    consumer = asyncio.run(_hostile_consumer(server.url, stream, prefix, name))
    base = ["skip", "--nats", server.url, "--stream", stream, "--consumer", consumer]

    # nothing awaits its ack: the refusal names the consumer on one clean line
    idle = run_evmon([*base, "--yes"], stdin=subprocess.DEVNULL)
    assert idle.returncode == 2, idle.stderr
    assert idle.stdout == b""
    assert len(idle.stderr.splitlines()) == 1 and b"is not stuck" in idle.stderr, idle.stderr
    assert_clean(idle.stderr)

    # stuck on a hostile subject: the preview, the question, the result
    raw_publish(server.url, [(prefix.encode() + b"." + first[0], first[1])])
    assert _deliver_and_nak(server.url, stream, consumer, None) == first[1]
    code, out, err = _ask_on_a_terminal(evmon_cmd(*base), b"n\n")
    assert code == 1, err
    assert out.startswith(b"consumer ") and len(out.splitlines()) == 4, out
    assert b"Terminate " in err and b"nothing was terminated" in err, err
    assert_clean(out)
    assert_clean(err)
    done = run_evmon([*base, "--yes"], stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) > 4, done.stdout
    assert_clean(done.stdout)
    assert_clean(done.stderr)
    # the audit log was written (a subject that is not UTF-8 once stopped it, with a traceback)
    log = Path(os.environ["XDG_STATE_HOME"]) / "evmon" / "audit.jsonl"
    entry = orjson.loads(log.read_bytes().splitlines()[-1])
    assert entry["outcome"] == "ok", entry
    (event,) = entry["events"]
    assert event.startswith(f"nats:{prefix}.") and event.endswith(":1"), entry

    # held by a client (a nak delay): the refusal names the subject on one clean line
    raw_publish(server.url, [(prefix.encode() + b"." + second[0], second[1])])
    assert _deliver_and_nak(server.url, stream, consumer, 60) == second[1]
    held = run_evmon([*base, "--yes", "--wait", "1"], stdin=subprocess.DEVNULL)
    assert held.returncode == 2, held.stderr
    assert held.stdout == b""
    assert len(held.stderr.splitlines()) == 1, held.stderr
    assert b"was not redelivered" in held.stderr, held.stderr
    assert_clean(held.stderr)
