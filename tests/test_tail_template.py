"""``tail --template``: kcat ``-f`` style lines, escaped fields, one-line errors.

The field tests need no broker; one test tails a real nats-server stream with headers and a
hostile payload through the CLI, and one checks the default line is still ``text_line``.
"""

from __future__ import annotations

import asyncio
import os

import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evmon.codec.display import text_line
from evmon.codec.template import FIELDS, TemplateError, compile_template
from evmon.commands.tail import _texts, template_encoder
from evmon.errors import UsageError
from evmon.model import Event
from tests.helpers import run_evmon
from tests.test_fuzz_hostile_output import _publish, message, pieces
from tests.test_hostile_cli import assert_clean

TS = 1714564800.123  # 2024-05-01T12:00:00.123Z

KAFKA = Event(
    "kafka",
    "orders",
    b'{"id": 1}',
    TS,
    headers=(("trace", b"a"), ("trace", b"b"), ("bin", b"\xff\x00")),
    key=b"user 7",
    partition=2,
    offset=1041,
)
CORE = Event("nats", "a.b", b"hi", TS)


def test_fields() -> None:
    line = compile_template("{time} {subject} {partition} {offset} {key} {hcount} {headers} {data}")
    assert line(KAFKA) == (
        '2024-05-01T12:00:00.123Z orders 2 1041 user 7 3 trace=a,trace=b,bin=\\xff\\x00 {"id": 1}'
    )
    assert line(CORE) == "2024-05-01T12:00:00.123Z a.b - - - 0 - hi"
    other = compile_template("{clock}|{source}|{topic}|{stream}|{position}|{size}")
    assert other(KAFKA) == "12:00:00.123|kafka|orders|-|p2@1041|9"
    js = Event("nats", "o.x", b"", TS, stream="ORDERS", offset=17)
    assert other(js) == "12:00:00.123|nats|o.x|ORDERS|ORDERS#17|0"


def test_kcat_escapes_and_braces() -> None:
    line = compile_template("{offset}\\t{{{key}}}\\\\n")
    assert line(KAFKA) == "1041\t{user 7}\\n"
    assert compile_template("{data}\\n")(CORE) == "hi\n"


def test_tombstone_and_not_utf8() -> None:
    line = compile_template("{key}:{data}")
    assert line(Event("kafka", "t", None, TS, key=b"\xfek", partition=0, offset=0)) == (
        "\\xfek:<tombstone>"
    )
    assert line(Event("nats", "t", b"\x00\xff", TS)) == "-:\\x00\\xff"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{time} {nope}", "unknown --template field {nope} (known: {time} {clock}"),
        ("{time", "bad --template"),
        ("{time:>10}", "takes no format spec"),
        ("{data!r}", "takes no format spec"),
        ("plain text", "has no field"),
        ("{\x1b]0;x\x07}", "unknown --template field {\\x1b]0;x\\x07}"),
        ("{\x1b[31m", "bad --template '{\\x1b[31m'"),
    ],
)
def test_bad_templates_are_one_line(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(template)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    with pytest.raises(UsageError):
        template_encoder(template)


@given(
    subject=pieces.map(lambda b: b.decode("utf-8", "surrogateescape")),
    payload=pieces | st.none(),
    key=st.none() | pieces,
    headers=st.lists(st.tuples(pieces.map(lambda b: b.decode(errors="replace")), pieces)),
    stream=st.none() | pieces.map(lambda b: b.decode(errors="replace")),
)
def test_no_field_lets_a_control_byte_through(
    subject: str,
    payload: bytes | None,
    key: bytes | None,
    headers: list[tuple[str, bytes]],
    stream: str | None,
) -> None:
    """The hostile byte set of the output fuzz, in every field at once."""
    ev = Event("kafka", subject, payload, TS, tuple(headers), key, stream, 0, 5)
    (out,) = template_encoder(" ".join(f"{{{name}}}" for name in FIELDS))([ev])
    assert_clean(out)
    assert not any(ch in out.decode() for ch in "\x85\x9b\u202e\u2066\u200f")


def test_default_line_is_unchanged() -> None:
    """Without --template the writer encodes exactly ``text_line`` (byte for byte)."""
    assert _texts([KAFKA, CORE]) == [text_line(KAFKA).encode(), text_line(CORE).encode()]
    assert text_line(KAFKA) == '12:00:00.123 kafka orders p2@1041 key="user 7" size=9B {"id": 1}'


def test_cli_unknown_field_and_jsonl_are_usage_errors() -> None:
    res = run_evmon(["tail", "--nats", "nats://127.0.0.1:1", "--template", "{offset} {bogus}"])
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert err.count("\n") == 1 and "{bogus}" in err and "Traceback" not in err
    res = run_evmon(
        ["tail", "--nats", "nats://127.0.0.1:1", "--format", "jsonl", "--template", "{data}"]
    )
    assert res.returncode == 2 and "--format jsonl" in res.stderr.decode()


async def _stream(url: str, name: str, subject: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{subject}.>"])
        await js.publish(f"{subject}.a", b"plain", headers={"Nats-Msg-Id": "m1", "x": "1"})
        await js.publish(f"{subject}.b", b"evil\x1b]0;pwned\x07\r\nline")
    finally:
        await nc.close()


def test_cli_template_on_a_real_stream(nats_url: str, unique: str) -> None:
    name = unique.replace("-", "_").upper()
    asyncio.run(_stream(nats_url, name, unique))
    res = run_evmon(
        [
            "tail",
            "--nats",
            nats_url,
            "--stream",
            name,
            "--from",
            "first",
            "-n",
            "2",
            "--timeout",
            "20",
            "--template",
            "{stream}#{offset} {subject} hdrs={hcount} [{headers}] {data}",
        ]
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert lines == [
        f"{name}#1 {unique}.a hdrs=2 [Nats-Msg-Id=m1,x=1] plain",
        f"{name}#2 {unique}.b hdrs=0 [-] evil\\x1b]0;pwned\\x07\\r\\nline",
    ]
    assert b"\x1b" not in res.stdout and b"\r" not in res.stdout


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(messages=st.lists(message, min_size=1, max_size=6))
def test_cli_template_with_hostile_messages_prints_no_control_byte(
    nats_url: str, messages: list[tuple[bytes, bytes, bytes, bytes]]
) -> None:
    """Hostile subjects, payloads and headers from a real nats-server, every field shown."""
    n = next(_counter)
    stream, prefix = f"TPL{n}_{os.getpid()}", f"tpl{n}p{os.getpid()}"
    asyncio.run(_add_stream(nats_url, stream, prefix))
    _publish(nats_url, prefix.encode(), messages)
    everything = " ".join(f"{{{name}}}" for name in FIELDS)
    count = str(2 * len(messages))
    base = ["tail", "--nats", nats_url, "--stream", stream, "--from", "first", "-n", count]
    res = run_evmon([*base, "--timeout", "30", "--template", everything])
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 2 * len(messages)
    assert_clean(res.stdout)
    assert_clean(res.stderr)


_counter = iter(range(1_000_000))


async def _add_stream(url: str, name: str, prefix: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"])
    finally:
        await nc.close()
