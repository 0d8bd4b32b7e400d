"""``evmon lag --fail-on``: a cron/health check against a real nats-server, and the TREND
sparkline of ``--watch``.

A durable consumer that never takes a message is STOP over a window of two samples; one that
acked everything is OK. The check prints only the last table and exits 3 or 0.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats
import nats.js.api
import nats.js.errors
import orjson
import pytest
from nats.aio.client import Client

from evmon.commands.lag import parse_fail_on, render_table
from evmon.errors import UsageError
from evmon.lag import SPARK_ASCII, JetStreamLagRow, LagHistory, sparkline
from tests.helpers import run_evmon
from tests.test_hostile_cli import one_line_error


@pytest.fixture
async def stream(nats_url: str, unique: str) -> AsyncIterator[str]:
    """A stream of 5 messages, a consumer ``idle`` that never fetched (STOP once judged over
    two samples) and a consumer ``done`` that acked all five (OK)."""
    nc: Client = await nats.connect(nats_url)
    js = nc.jetstream()
    name = f"{unique}-S"
    await js.add_stream(name=name, subjects=[f"{unique}.>"])
    try:
        for i in range(5):
            await js.publish(f"{unique}.x", f"m{i}".encode())
        config = nats.js.api.ConsumerConfig(ack_wait=300)
        await js.pull_subscribe(f"{unique}.>", durable="idle", stream=name, config=config)
        done = await js.pull_subscribe(f"{unique}.>", durable="done", stream=name, config=config)
        for msg in await done.fetch(5, timeout=5):
            await msg.ack_sync()
        yield name
    finally:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)
        await nc.close()


def _check(nats_url: str, *args: str) -> tuple[int, str, str]:
    base = ["lag", "--nats", nats_url, "--window", "2", "--watch", "0.2"]
    res = run_evmon([*base, *args])
    return res.returncode, res.stdout.decode(), res.stderr.decode()


async def test_stop_fails_the_check_ok_passes(nats_url: str, stream: str) -> None:
    code, out, err = await asyncio.to_thread(
        _check, nats_url, "--stream", stream, "--fail-on", "STALL,STOP"
    )
    assert code == 3, err
    lines = out.splitlines()
    assert lines[0] == "JetStream consumers" and lines.count("JetStream consumers") == 1
    rows = {line.split()[1]: line for line in lines[2:]}
    assert rows["idle"].endswith(" STOP") and rows["done"].endswith(" OK")
    assert "every" not in out and "\x1b" not in out  # one table, no watch heading, no redraw

    code, out, err = await asyncio.to_thread(
        _check, nats_url, "--stream", stream, "--consumer", "done", "--fail-on", "stall, stop"
    )
    assert code == 0, err
    assert out.splitlines()[-1].endswith(" OK")

    code, out, err = await asyncio.to_thread(
        _check, nats_url, "--stream", stream, "--fail-on", "STOP", "--format", "json"
    )
    assert code == 3, err
    (array,) = out.splitlines()  # only the last refresh
    statuses = {r["consumer"]: r["status"] for r in orjson.loads(array)}
    assert statuses == {"idle": "STOP", "done": "OK"}


async def test_one_sample_is_ok_or_err(nats_url: str, stream: str) -> None:
    """With --window 1 nothing can be judged STALL/STOP (Burrow needs a window), so the same
    consumers pass; a named consumer that is gone is ERR."""
    res = await asyncio.to_thread(
        run_evmon, ["lag", "--nats", nats_url, "--stream", stream, "--window", "1",
                    "--fail-on", "STALL,STOP"]
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = await asyncio.to_thread(
        run_evmon, ["lag", "--nats", nats_url, "--stream", stream, "--consumer", "nope",
                    "--window", "1", "--fail-on", "ERR"]
    )  # fmt: skip
    assert res.returncode == 3, res.stderr


@pytest.mark.parametrize("value", ["BOGUS", "STALL,nope", ",", ""])
def test_unknown_status_is_a_usage_error(value: str) -> None:
    res = run_evmon(["lag", "--nats", "nats://127.0.0.1:1", "--fail-on", value])
    line = one_line_error(res)
    assert "--fail-on" in line and "OK, NOCOMMIT, WARN, STALL, STOP, ERR" in line
    with pytest.raises(UsageError):
        parse_fail_on(value)


def test_parse_fail_on() -> None:
    assert parse_fail_on(" stall ,STOP") == frozenset({"STALL", "STOP"})
    assert parse_fail_on("nocommit") == frozenset({"NOCOMMIT"})


def test_trend_is_a_sparkline_and_the_change() -> None:
    history: LagHistory[JetStreamLagRow] = LagHistory(window=10)
    for t, lag in enumerate([10, 40, 80, 130]):
        row = JetStreamLagRow("S", "c", lag, 0, 0, 0, t, t, 200, active_at=float(t))
        (judged,) = history.observe([row], now=float(t))
    table = render_table("jetstream", [judged], history)
    assert table.splitlines()[-1].endswith("▂▄▆█ +120  WARN")
    ascii_table = render_table("jetstream", [judged], history, blocks=SPARK_ASCII)
    assert ascii_table.splitlines()[-1].endswith(".~+# +120  WARN")
    assert sparkline([5, 5, 5], 12) == "███" and sparkline([0, 0], 12) == "▁▁"
    assert sparkline(range(20), 12) == sparkline(range(8, 20), 12)  # the newest 12
