"""The parser loop of ``_CountingParser`` (evmon/sources/nats/wire.py) against nats-py's own:
the same protocol bytes, cut into reads at every position and at random ones, deliver the
same messages in the same order, whatever the cut, and leave nothing behind.

MSG and HMSG are parsed by evmon's loop (whole messages only), the other lines by nats-py's
parser one at a time; a direct subscription gets its messages without a coroutine, others
go through ``Client._process_msg``.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from nats.errors import ProtocolError

from evmon.sources.nats.wire import RawHeaderClient, _CountingParser

BLOCK = b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n"
FC = b"NATS/1.0 100 FlowControl Request\r\n\r\n"


def _stream() -> tuple[bytes, list[tuple[int, bytes, bytes, bytes, bytes]]]:
    """Protocol bytes and the (sid, subject, reply, data, headers) they carry."""
    parts: list[bytes] = []
    want: list[tuple[int, bytes, bytes, bytes, bytes]] = []
    rng = random.Random(7)
    for i in range(60):
        sid = 1 + i % 3
        subject = b"s.%d" % i
        reply = b"r.%d" % i if i % 4 == 0 else b""
        data = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 5, 300))))
        if i % 7 == 3:
            parts.append(b"+OK\r\n")
        if i % 11 == 5:
            parts.append(b'INFO {"server_id":"X%d","max_payload":1048576}\r\n' % i)
            want.append((0, b"INFO", b"", b"X%d" % i, b""))
        if i % 9 == 2:
            parts.append(b"PONG\r\n")
            want.append((0, b"PONG", b"", b"", b""))
        if i % 5 == 1:
            hdr = FC if not data else BLOCK
            sep = b"\t" if i % 2 else b" "
            head = b"HMSG%s%s %d %s%d %d\r\n" % (
                sep,
                subject,
                sid,
                reply + b" " if reply else b"",
                len(hdr),
                len(hdr) + len(data),
            )
            parts.append(head + hdr + data + b"\r\n")
            want.append((sid, subject, reply, data, hdr))
        else:
            head = b"MSG %s %d %s%d\r\n" % (subject, sid, reply + b" " if reply else b"", len(data))
            parts.append(head + data + b"\r\n")
            want.append((sid, subject, reply, data, b""))
    return b"".join(parts), want


def _client() -> tuple[RawHeaderClient, list[tuple[int, bytes, bytes, bytes, bytes]]]:
    nc = RawHeaderClient()
    got: list[tuple[int, bytes, bytes, bytes, bytes]] = []
    nc.deliver_directly(1, lambda s, d, h: got.append((1, s, b"?", d, h or b"")))
    nc.deliver_js_directly(2, lambda s, r, d, h: got.append((2, s, r, d, h)), lambda e: None)

    async def others(sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> None:
        got.append((sid, subject, reply, data, headers or b""))

    async def info(doc: dict[str, Any]) -> None:
        got.append((0, b"INFO", b"", doc["server_id"].encode(), b""))

    async def pong() -> None:
        got.append((0, b"PONG", b"", b"", b""))

    nc._process_msg = others  # type: ignore[method-assign]  # sid 3: nats-py's path
    nc._process_info = info  # type: ignore[method-assign,assignment]
    nc._process_pong = pong  # type: ignore[method-assign]
    return nc, got


def _expected(want: list[tuple[int, bytes, bytes, bytes, bytes]]) -> list[Any]:
    # the core handler is not given the reply subject
    return [(s, subj, b"?" if s == 1 else r, d, h) for s, subj, r, d, h in want]  # and lines


async def _feed(nc: RawHeaderClient, data: bytes, cuts: list[int]) -> None:
    last = 0
    for cut in [*cuts, len(data)]:
        await nc._ps.parse(data[last:cut])
        last = cut


async def test_every_single_cut_gives_the_same_messages() -> None:
    data, want = _stream()
    for cut in range(0, len(data), 3):
        nc, got = _client()
        await _feed(nc, data, [cut])
        assert got == _expected(want), cut
        assert not nc._ps.buf


async def test_random_cuts_and_byte_by_byte() -> None:
    data, want = _stream()
    rng = random.Random(1)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randrange(1, 40)))
        nc, got = _client()
        await _feed(nc, data, cuts)
        assert got == _expected(want)
    nc, got = _client()
    await _feed(nc, data[:3000], list(range(1, 3000)))
    assert got == _expected(want)[: len(got)] and got


async def test_a_malformed_msg_line_is_a_protocol_error_as_in_nats_py() -> None:
    nc, _ = _client()
    with pytest.raises(ProtocolError):
        await nc._ps.parse(b"MSG a notasid 2\r\nhi\r\n")
    nc, _ = _client()
    with pytest.raises(ProtocolError):
        await nc._ps.parse(b"BOGUS\r\n")


async def test_a_big_payload_in_many_reads_and_a_reset_in_the_middle() -> None:
    """A 4 MiB message arriving in 32 KiB reads is delivered whole (while it arrives the
    parser only waits for the bytes it knows it needs); a reconnect's ``reset`` in the
    middle of one forgets it, and the next connection's messages are read at once."""
    nc, got = _client()
    big = bytes(range(256)) * (4 * 4096)
    frame = b"MSG big 1 %d\r\n%s\r\nMSG after 1 1\r\nx\r\n" % (len(big), big)
    await _feed(nc, frame, list(range(32768, len(frame), 32768)))
    assert got == [(1, b"big", b"?", big, b""), (1, b"after", b"?", b"x", b"")]
    await nc._ps.parse(frame[:100_000])  # half a message: the parser waits for the rest
    ps = nc._ps
    assert isinstance(ps, _CountingParser) and ps._want > 100_000
    nc._ps.reset()
    await nc._ps.parse(b"MSG fresh 2 2\r\nok\r\n")
    assert got[-1] == (2, b"fresh", b"", b"ok", b"")
