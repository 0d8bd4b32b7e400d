"""Fuzz: the hostile byte set, published to a real nats-server, through every headless output
path (tail text, tail JSONL on a terminal and piped, lag table, errors). Nothing below 0x20
but a newline (and a tab where JSONL's embedded JSON keeps one), and no ESC, reaches stdout
or stderr."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import subprocess
import tty
from collections.abc import Iterator

import nats
import nats.js.api
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.brokers import NatsServer
from tests.helpers import evmon_cmd, run_evmon
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
    import socket

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
