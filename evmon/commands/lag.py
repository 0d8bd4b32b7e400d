"""``evmon lag``: consumer lag of Kafka groups and JetStream consumers, once or ``--watch``.

One refresh asks both brokers at once through long-lived clients, feeds each system's
``LagHistory`` and prints: a JSON array on one line, or aligned tables (redrawn in place on a
terminal). A refresh that fails after the first one marks that system's rows ``ERR`` and the
watch goes on; the first refresh must succeed, so a wrong address ends the command at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TextIO, TypeVar

import orjson

from evmon.codec.display import safe_text
from evmon.codec.record import terminal_json
from evmon.commands.common import check_stream_names, kafka_settings, nats_settings
from evmon.errors import EvmonError, RuntimeFailure, UsageError
from evmon.lag import JetStreamLagRow, KafkaLagRow, LagHistory, LagRow

CLEAR = "\x1b[H\x1b[2J"
COLOURS = {"OK": "32", "WARN": "33", "STALL": "31", "STOP": "31", "ERR": "1;31"}
R = TypeVar("R", bound=LagRow)


class _Report(Generic[R]):
    """One system: how to take a snapshot, and the window of its rows."""

    def __init__(
        self,
        name: str,
        take: Callable[[], Awaitable[list[R]]],
        history: LagHistory[R],
        deadline: float | None,
    ) -> None:
        self.name = name
        self.take = take
        self.history = history
        self.deadline = deadline
        self.rows: list[R] = []
        self.error: str | None = None
        self.failing_since: float | None = None

    async def refresh(self, first: bool) -> str | None:
        """Take a snapshot into ``rows``; after the first refresh a failure turns the rows
        ``ERR`` and returns its message, once per distinct failure (not every refresh).
        Failures lasting ``deadline`` seconds (``--reconnect-deadline``) end the command."""
        try:
            self.rows = self.history.observe(await self.take())
        except EvmonError as err:
            if first:
                raise
            now = time.monotonic()
            self.failing_since = self.failing_since or now
            if self.deadline is not None and now - self.failing_since >= self.deadline:
                raise RuntimeFailure(
                    f"{self.name} unreachable for {self.deadline:g} s (last error: {err})"
                ) from None
            self.rows = self.history.fail()
            new = str(err) if str(err) != self.error else None
            self.error = str(err)
            return new
        self.error = self.failing_since = None
        return None


def _check(args: argparse.Namespace) -> None:
    if not args.nats and not args.kafka:
        raise UsageError("nothing to report: give --kafka HOST:PORT and/or --nats URL")
    if args.groups and not args.kafka:
        raise UsageError("--group needs --kafka HOST:PORT")
    if (args.streams or args.consumers) and not args.nats:
        raise UsageError("--stream and --consumer need --nats URL")
    check_stream_names(args.streams)
    check_stream_names(args.consumers, "consumer")
    if args.watch is not None and args.watch <= 0:
        raise UsageError("--watch needs a positive number of seconds")
    if args.window < 1:
        raise UsageError("--window needs at least 1 sample")
    if args.allowed_lag < 0:
        raise UsageError("--allowed-lag cannot be negative")


async def run(args: argparse.Namespace) -> int:
    _check(args)
    reports: list[_Report[Any]] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        kafka = kafka_settings(args)
        if kafka is not None:
            from evmon.sources.kafka_admin import KafkaLagClient

            kc = KafkaLagClient(kafka)
            closers.append(kc.close)
            await kc.start()
            history_k: LagHistory[KafkaLagRow] = LagHistory(args.window, args.allowed_lag)
            take_k = functools.partial(kc.snapshot, tuple(args.groups))
            reports.append(_Report("Kafka", take_k, history_k, kafka.reconnect_deadline))
        nats = nats_settings(args)
        if nats is not None:
            from evmon.sources.nats_admin import JetStreamLagClient

            jc = JetStreamLagClient(nats)
            closers.append(jc.close)
            await jc.start()
            history_j: LagHistory[JetStreamLagRow] = LagHistory(args.window, args.allowed_lag)
            take_j = functools.partial(jc.snapshot, tuple(args.streams), tuple(args.consumers))
            reports.append(_Report("JetStream", take_j, history_j, nats.reconnect_deadline))
        return await _loop(args, reports)
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()


async def _loop(args: argparse.Namespace, reports: list[_Report[Any]]) -> int:
    out = sys.stdout
    tty = out.isatty()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if args.watch is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        first = True
        while True:
            started = time.monotonic()
            errors = await asyncio.gather(*(r.refresh(first) for r in reports))
            first = False
            for line in filter(None, errors):
                print(f"evmon: {safe_text(line)}", file=sys.stderr, flush=True)
            try:
                _emit(out, args, reports, tty)
            except BrokenPipeError:
                with contextlib.suppress(OSError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
                return 0
            if args.watch is None:
                return 0
            wait = max(0.0, args.watch - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return 0
    finally:
        if args.watch is not None:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def _emit(out: TextIO, args: argparse.Namespace, reports: list[_Report[Any]], tty: bool) -> None:
    if args.format == "json":
        records = [row.to_record() for r in reports for row in sorted(r.rows, key=_order)]
        data = orjson.dumps(records)
        out.write((terminal_json(data) if tty else data).decode() + "\n")
        out.flush()
        return
    colour = tty and "NO_COLOR" not in os.environ
    parts = []
    if args.watch is not None:
        now = time.strftime("%H:%M:%S")
        parts.append(
            f"evmon lag  every {args.watch:g}s  window {args.window}  {now}"
            + ("  (Ctrl+C to stop)" if tty else "")
        )
    for r in reports:
        parts.append(render_table(r.name.lower(), r.rows, r.history, colour))
    text = "\n\n".join(parts) + "\n"
    if args.watch is not None:
        text = CLEAR + text if tty else text + "\n"
    out.write(text)
    out.flush()


KAFKA_COLUMNS = ("GROUP", "STATE", "MEMBERS", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG")
JS_COLUMNS = (
    "STREAM",
    "CONSUMER",
    "PENDING",
    "ACK PENDING",
    "REDELIVERED",
    "WAITING",
    "DELIVERED",
    "ACK FLOOR",
    "LAST SEQ",
)
TAIL_COLUMNS = ("TREND", "STATUS")


def _cell(value: object) -> str:
    """A table cell: names come from the broker (anyone may create a consumer called
    ``\x1b]0;pwned\x07``), so they are escaped like ``tail --format text``."""
    return "-" if value is None else safe_text(str(value))


def _trend(history: LagHistory[Any], key: Hashable) -> str:
    """The change of lag over the window: ``+120`` is falling behind, ``-30`` catching up."""
    samples = history.samples(key)
    if len(samples) < 2:
        return ""
    delta = samples[-1].lag - samples[0].lag
    return f"{delta:+d}" if delta else "0"


def _order(row: Any) -> tuple[tuple[bool, Any], ...]:
    """Sort by key with missing parts (a group without partitions) last."""
    return tuple((v is None, "" if v is None else v) for v in row.key)


def _kafka_cells(r: KafkaLagRow) -> list[object]:
    return [r.group, r.state, r.members, r.topic, r.partition, r.committed, r.end, r.lag]


def _js_cells(r: JetStreamLagRow) -> list[object]:
    return [
        r.stream,
        r.consumer,
        r.num_pending,
        r.num_ack_pending,
        r.num_redelivered,
        r.num_waiting,
        r.delivered_stream_seq,
        r.ack_floor_stream_seq,
        r.last_stream_seq,
    ]


def render_table(
    system: str, rows: Sequence[Any], history: LagHistory[Any], colour: bool = False
) -> str:
    """Rows as an aligned table: names left, numbers right, status last (coloured on a tty)."""
    kafka = system == "kafka"
    title = "Kafka consumer groups" if kafka else "JetStream consumers"
    if not rows:
        return f"{title}: none"
    header = [*(KAFKA_COLUMNS if kafka else JS_COLUMNS), *TAIL_COLUMNS]
    cells = _kafka_cells if kafka else _js_cells
    text_cols = {0, 1, 3} if kafka else {0, 1}
    table = [
        [*map(_cell, cells(r)), _trend(history, r.key), r.status] for r in sorted(rows, key=_order)
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]

    def line(values: list[str], paint: bool) -> str:
        out = []
        for i, (v, w) in enumerate(zip(values, widths, strict=True)):
            if i == len(values) - 1:  # the status: last, unpadded, coloured on a terminal
                out.append(f"\x1b[{COLOURS[v]}m{v}\x1b[0m" if paint and v in COLOURS else v)
            else:
                out.append(v.ljust(w) if i in text_cols else v.rjust(w))
        return "  ".join(out).rstrip()

    return "\n".join([title, line(header, False), *(line(t, colour) for t in table)])
