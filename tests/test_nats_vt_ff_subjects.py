"""Subjects holding \\x0b or \\x0c, published through the raw protocol to a real nats-server.

nats-server accepts them (its parser splits on space and tab only); nats-py's MSG parser
took them for separators, so one such message dropped evmon's connection or stalled it
until the stale-ping check. The tail must read on and show the subject escaped.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import orjson
import pytest

from tests.brokers import NatsServer
from tests.helpers import evmon_cmd
from tests.test_hostile_cli import _subscribed, assert_clean, raw_publish
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

#: The big payload puts more than 4 KiB behind the hostile control line in one read: the
#: case where nats-py's parser waited for more bytes forever instead of failing.
BIG = b"x" * 8192


def _messages(prefix: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (prefix + b".vt\x0bx", b"one"),
        (prefix + b".ff\x0c", BIG),
        (prefix + b".\x0b\x0c.both", b"three"),
        (prefix + b".after", b"four"),
    ]


def _tail(server: NatsServer, prefix: str, fmt: str, tmp_path: Path) -> bytes:
    out_path = tmp_path / f"{fmt}.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            evmon_cmd(
                "tail", "--nats", server.url, "-s", f"{prefix}.>", "-n", "4",
                "--timeout", "60", "--format", fmt,
            ),
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: _subscribed(server, f"{prefix}.>"), timeout=30, message="subscribed")
        raw_publish(server.url, _messages(prefix.encode()))
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        reader.join()
    err = errors[0] if errors else b""
    assert code == 0, err
    assert err == b"", err  # no reconnect, no stale connection
    return out_path.read_bytes()


def test_text_tail_reads_past_vt_and_ff_subjects(
    nats_server: NatsServer, unique: str, tmp_path: Path
) -> None:
    out = _tail(nats_server, unique, "text", tmp_path)
    assert_clean(out)
    lines = out.decode().splitlines()
    assert len(lines) == 4
    for line, subject in zip(
        lines,
        [f"{unique}.vt\\x0bx", f"{unique}.ff\\x0c", f"{unique}.\\x0b\\x0c.both", f"{unique}.after"],
        strict=True,
    ):
        assert f" {subject} " in line, line
    assert lines[3].endswith("four")


def test_jsonl_tail_reads_past_vt_and_ff_subjects(
    nats_server: NatsServer, unique: str, tmp_path: Path
) -> None:
    out = _tail(nats_server, unique, "jsonl", tmp_path)
    assert_clean(out)
    assert b"\\u000b" in out and b"\\f" in out  # JSON's escapes, never the raw bytes
    records = [orjson.loads(line) for line in out.splitlines()]
    assert [r["subject"] for r in records] == [
        s.decode() for s, _ in _messages(unique.encode())
    ]  # the exact subjects, after decoding the JSON
    assert records[1]["size"] == len(BIG) and records[3]["data"] == "four"


async def test_the_nats_py_parser_hook_reads_msg_lines_split_on_space_and_tab() -> None:
    """Broker-free, names the hook: evmon runs nats-py's own ``Parser.parse`` code with its
    ``MSG_RE`` / ``HMSG_RE`` globals swapped for space-and-tab-only patterns. A nats-py that
    renames those globals or stops using them fails here."""
    from nats.protocol import parser as nats_parser

    from evmon.sources.nats.wire import RawHeaderClient

    names = nats_parser.Parser.parse.__code__.co_names
    assert "MSG_RE" in names and "HMSG_RE" in names
    assert nats_parser.Parser.parse.__closure__ is None  # the code runs with other globals
    assert nats_parser.MSG_RE.match(b"MSG a\x0bb 1 5\r\n").groups()[:2] == (b"a", b"b")  # type: ignore[union-attr]

    nc = RawHeaderClient()
    got: list[tuple[bytes, bytes, bytes]] = []
    nc.deliver_directly(1, lambda s, d, h: got.append((s, d, h)))
    head = b"NATS/1.0\r\nk: v\r\n\r\n"
    await nc._ps.parse(
        b"MSG a\x0bb 1 5\r\nhello\r\n"
        + b"MSG c\x0c 1 _INBOX.r\x0b 2\r\nhi\r\n"
        + b"HMSG d\x0b\x0c 1 %d %d\r\n%sok\r\n" % (len(head), len(head) + 2, head)
        + b"MSG e\t1\t2\r\nyo\r\n"
    )
    assert got == [
        (b"a\x0bb", b"hello", None),
        (b"c\x0c", b"hi", None),
        (b"d\x0b\x0c", b"ok", head),
        (b"e", b"yo", None),
    ]
