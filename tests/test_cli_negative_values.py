"""`--from -15m`, as the README and --help write it: a value that starts with "-" after an
option that takes one is that option's value (argparse alone says "expected one argument")."""

from __future__ import annotations

import asyncio

import nats
import orjson
import pytest

from evmon.cli import build_parser, join_negative_values
from tests.helpers import run_evmon

RELATIVE = ["-15m", "-1h30m", "-30s", "-2d", "-1.5s", "-5"]


@pytest.mark.parametrize("command", ["tail", "connect"])
@pytest.mark.parametrize("value", RELATIVE)
def test_from_takes_a_relative_time_after_a_space(command: str, value: str) -> None:
    args = build_parser().parse_args([command, "--nats", "nats://127.0.0.1:1", "--from", value])
    assert args.start == value
    assert args.nats == ["nats://127.0.0.1:1"]


def test_the_flags_after_it_are_still_flags() -> None:
    args = build_parser().parse_args(
        ["tail", "--from", "-15m", "-s", "orders.>", "--filter", "!x", "-n", "3"]
    )
    assert (args.start, args.subjects, args.filter, args.count) == ("-15m", ["orders.>"], "!x", 3)


def test_what_follows_a_double_dash_and_other_spellings_are_left_alone() -> None:
    argv = ["tail", "--from=-15m", "-s", "-1m", "--", "--from", "-2m"]
    assert join_negative_values(argv) == argv
    assert join_negative_values(["--from", "-15m"]) == ["--from=-15m"]
    assert join_negative_values(["--from", "first"]) == ["--from", "first"]


def test_a_bad_relative_time_is_one_line_from_from(nats_url: str) -> None:
    res = run_evmon(["tail", "--nats", nats_url, "--stream", "X", "--from", "-15x"], timeout=30)
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "bad --from '-15x'" in err and "expected one argument" not in err
    assert len(err.strip().splitlines()) == 1


async def _stream(url: str, name: str, subject: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{subject}.>"])
        for i in range(3):
            await js.publish(f"{subject}.m", orjson.dumps({"i": i}))
    finally:
        await nc.close()


def test_tail_from_minus_15m_reads_the_stored_messages(nats_url: str, unique: str) -> None:
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
            "-15m",
            "-n",
            "3",
            "--format",
            "jsonl",
            "--timeout",
            "20",
        ],
    )
    assert res.returncode == 0, res.stderr
    records = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert [(r["offset"], r["json"]) for r in records] == [
        (1, {"i": 0}),
        (2, {"i": 1}),
        (3, {"i": 2}),
    ]
