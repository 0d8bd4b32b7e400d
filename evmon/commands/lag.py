"""``evmon lag``: consumer lag of Kafka groups and JetStream consumers, once, ``--watch``, or
as a check (``--fail-on``).

One refresh asks both brokers at once through long-lived clients (``evmon.lag.LagPoller``,
which the lag screen polls too), feeds each system's ``LagHistory`` and prints: a JSON array
on one line, or aligned tables (redrawn in place on a terminal; with ``--watch`` the TREND
column is a sparkline of the window's lag and its change). A refresh that fails after the
first one marks that system's rows ``ERR`` and the watch goes on; the first refresh must
succeed, so a wrong address ends the command at once.

``--fail-on STALL,STOP`` is for cron and health checks: ``--window`` refreshes ``--watch``
seconds apart (default 5), only the last table printed, exit 3 when a row ends in one of
those statuses (``EXIT_FOUND``), else 0. ``NOCOMMIT`` is a status too: a Kafka partition its
group never committed on, described in the row's NOTE (``evmon.lag.nocommit_note``).

``--members`` prints the groups' members instead of their lag, like ``kafka-consumer-groups
--describe --members --verbose`` (``members_table``; ``--format json``: ``members_records``).
A JetStream consumer has no member list: the table says so in one line, the JSON leaves it out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Hashable, Sequence
from typing import Any, TextIO

import orjson

from evmon.codec.display import safe_text
from evmon.codec.record import terminal_json
from evmon.commands.common import check_stream_names, kafka_settings, nats_settings
from evmon.errors import UsageError
from evmon.lag import (
    SPARK_ASCII,
    SPARK_BLOCKS,
    STATUSES,
    JetStreamLagRow,
    KafkaLagRow,
    LagHistory,
    LagPoller,
    SystemLag,
    nocommit_note,
    sparkline,
)

CLEAR = "\x1b[H\x1b[2J"
COLOURS = {"OK": "32", "NOCOMMIT": "36", "WARN": "33", "STALL": "31", "STOP": "31", "ERR": "1;31"}
#: ``--fail-on`` found a row in one of its statuses (README: exit codes).
EXIT_FOUND = 3
#: Seconds between the samples of ``--fail-on`` when ``--watch`` does not say.
FAIL_ON_INTERVAL = 5.0
#: Samples drawn in the TREND sparkline at most (the window may be longer).
SPARK_WIDTH = 12


def parse_fail_on(text: str) -> frozenset[str]:
    """``STALL,STOP`` (any case, spaces allowed) as a set; an unknown status is a usage error."""
    names = [part.strip().upper() for part in text.split(",")]
    if not any(names):
        raise UsageError(f"--fail-on needs statuses (from {', '.join(STATUSES)})")
    for name in names:
        if name not in STATUSES:
            raise UsageError(
                f"unknown status {safe_text(name)!r} in --fail-on (use {', '.join(STATUSES)})"
            )
    return frozenset(names)


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
    if getattr(args, "fail_on", None) is not None:
        parse_fail_on(args.fail_on)
        if getattr(args, "members", False):
            raise UsageError("--members lists members, --fail-on judges lag: use one of them")


async def run(args: argparse.Namespace) -> int:
    _check(args)
    poller = LagPoller(window=args.window, allowed_lag=args.allowed_lag)
    try:
        kafka = kafka_settings(args)
        if kafka is not None:
            poller.watch_kafka(kafka, args.groups, kafka.reconnect_deadline)
            await poller.kafka.start()
        nats = nats_settings(args)
        if nats is not None:
            poller.watch_jetstream(nats, args.streams, args.consumers, nats.reconnect_deadline)
            await poller.jetstream.start()
        return await _loop(args, poller)
    finally:
        await poller.close()


async def _check_window(args: argparse.Namespace, poller: LagPoller) -> int:
    """``--fail-on``: ``--window`` refreshes, the last table, exit 3 if a row is failing."""
    statuses = parse_fail_on(args.fail_on)
    interval = FAIL_ON_INTERVAL if args.watch is None else args.watch
    out = sys.stdout
    for n in range(args.window):
        if n:
            await asyncio.sleep(interval)
        for line in await poller.poll(first=n == 0):
            print(f"evmon: {safe_text(line)}", file=sys.stderr, flush=True)
    tty = out.isatty()
    try:
        _emit(out, args, poller.systems, tty, watching=False)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    found = any(row.status in statuses for r in poller.systems for row in r.rows)
    return EXIT_FOUND if found else 0


async def _loop(args: argparse.Namespace, poller: LagPoller) -> int:
    if getattr(args, "fail_on", None) is not None:
        return await _check_window(args, poller)
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
            errors = await poller.poll(first=first)
            first = False
            for line in errors:
                print(f"evmon: {safe_text(line)}", file=sys.stderr, flush=True)
            try:
                _emit(out, args, poller.systems, tty)
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


def _emit(
    out: TextIO,
    args: argparse.Namespace,
    reports: list[SystemLag[Any]],
    tty: bool,
    *,
    watching: bool | None = None,
) -> None:
    watching = args.watch is not None if watching is None else watching
    members = getattr(args, "members", False)
    if args.format == "json":
        if members:
            records = members_records(reports)
        else:
            records = [row.to_record() for r in reports for row in sorted(r.rows, key=_order)]
        data = orjson.dumps(records)
        out.write((terminal_json(data) if tty else data).decode() + "\n")
        out.flush()
        return
    colour = tty and "NO_COLOR" not in os.environ
    blocks = SPARK_BLOCKS if _can_show(out, SPARK_BLOCKS) else SPARK_ASCII
    parts = []
    if watching:
        now = time.strftime("%H:%M:%S")
        parts.append(
            f"evmon lag  every {args.watch:g}s  window {args.window}  {now}"
            + ("  (Ctrl+C to stop)" if tty else "")
        )
    for r in reports:
        if members:
            parts.append(members_table(r.name.lower(), r.rows))
        else:
            parts.append(render_table(r.name.lower(), r.rows, r.history, colour, blocks))
    text = "\n\n".join(parts) + "\n"
    if watching:
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


def _can_show(out: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(out, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _trend(history: LagHistory[Any], key: Hashable, blocks: str = SPARK_BLOCKS) -> str:
    """Lag over the window as a sparkline, then its change: ``▁▃▅█ +120`` is falling
    behind, ``█▅▂▁ -30`` catching up; nothing until there are two samples."""
    samples = history.samples(key)
    if len(samples) < 2:
        return ""
    delta = samples[-1].lag - samples[0].lag
    spark = sparkline([s.lag for s in samples], SPARK_WIDTH, blocks)
    return f"{spark} {delta:+d}" if delta else f"{spark} 0"


def _order(row: Any) -> tuple[tuple[bool, Any], ...]:
    """Sort by key with missing parts (a group without partitions) last."""
    return tuple((v is None, "" if v is None else v) for v in row.key)


def _kafka_cells(r: KafkaLagRow) -> list[object]:
    return [r.group, r.state, r.members, r.topic, r.partition, r.committed, r.end, r.lag]


def _js_cells(r: JetStreamLagRow) -> list[object]:
    return [
        r.stream,
        f"{r.consumer} (ephemeral)" if r.ephemeral else r.consumer,
        r.num_pending,
        r.num_ack_pending,
        r.num_redelivered,
        r.num_waiting,
        r.delivered_stream_seq,
        r.ack_floor_stream_seq,
        r.last_stream_seq,
    ]


def render_table(
    system: str,
    rows: Sequence[Any],
    history: LagHistory[Any],
    colour: bool = False,
    blocks: str = SPARK_BLOCKS,
) -> str:
    """Rows as an aligned table: names left, numbers right, status last (coloured on a tty)."""
    kafka = system == "kafka"
    title = "Kafka consumer groups" if kafka else "JetStream consumers"
    if not rows:
        return f"{title}: none"
    header = [*(KAFKA_COLUMNS if kafka else JS_COLUMNS), *TAIL_COLUMNS]
    cells = _kafka_cells if kafka else _js_cells
    text_cols = {0, 1, 3} if kafka else {0, 1}
    ordered = sorted(rows, key=_order)
    table = [[*map(_cell, cells(r)), _trend(history, r.key, blocks), r.status] for r in ordered]
    status_col = len(header) - 1
    if any(r.status == "NOCOMMIT" for r in ordered):  # say what the status means, in words
        header.append("NOTE")
        for values, r in zip(table, ordered, strict=True):
            values.append(nocommit_note(r) if r.status == "NOCOMMIT" else "")
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]

    def line(values: list[str], paint: bool) -> str:
        out = []
        for i, (v, w) in enumerate(zip(values, widths, strict=True)):
            last = i == len(values) - 1  # the status, or the note after it: unpadded
            if i == status_col:  # coloured on a terminal
                text = f"\x1b[{COLOURS[v]}m{v}\x1b[0m" if paint and v in COLOURS else v
                out.append(text if last else text + " " * (w - len(v)))
            elif last:
                out.append(v)
            else:
                out.append(v.ljust(w) if i in text_cols else v.rjust(w))
        return "  ".join(out).rstrip()

    return "\n".join([title, line(header, False), *(line(t, colour) for t in table)])


MEMBER_COLUMNS = ("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT")
#: What ``--members`` says for JetStream: a consumer is one cursor on the server, not a group.
JETSTREAM_MEMBERS = (
    "JetStream consumers: no members to list (a consumer is one cursor kept by the server; "
    "the lag table's WAITING column counts the pull requests waiting on it)"
)


def _groups(rows: Sequence[KafkaLagRow]) -> list[KafkaLagRow]:
    """The first row of each group, by group name (a group's rows share its member list)."""
    first: dict[str, KafkaLagRow] = {}
    for row in rows:
        first.setdefault(row.group, row)
    return [first[name] for name in sorted(first)]


def members_records(reports: Sequence[SystemLag[Any]]) -> list[dict[str, Any]]:
    """``--members --format json``: one object per Kafka group (README: lag --members).
    ``members`` is null when the broker could not describe them (a consumer-protocol group
    on a broker without ConsumerGroupDescribe), ``[]`` when the group has none."""
    out: list[dict[str, Any]] = []
    for report in reports:
        if report.name != "Kafka":
            continue
        for row in _groups(report.rows):
            out.append(
                {
                    "system": "kafka",
                    "group": row.group,
                    "state": row.state,
                    "members": None
                    if row.members is None
                    else [m.to_record() for m in row.member_list],
                }
            )
    return out


def members_table(system: str, rows: Sequence[Any]) -> str:
    """``--members``: one line per member, columns as ``kafka-consumer-groups --describe
    --members --verbose`` prints them; a group with none says so."""
    if system != "kafka":
        return JETSTREAM_MEMBERS
    title = "Kafka consumer group members"
    if not rows:
        return f"{title}: no groups"
    table: list[list[str]] = []
    quiet: list[str] = []
    for row in _groups(rows):
        if row.members is None:
            quiet.append(f"{_cell(row.group)}: members unknown ({_cell(row.state)})")
        elif not row.member_list:
            quiet.append(f"{_cell(row.group)}: no active members ({_cell(row.state)})")
        for m in row.member_list:
            parts = m.assignment_text()
            values = (row.group, m.member_id, m.host, m.client_id, len(m.assignment), parts)
            table.append([_cell(v) if v != "" else "-" for v in values])
    lines = [title]
    if table:
        header = list(MEMBER_COLUMNS)
        widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]

        def line(values: list[str]) -> str:
            cells = [
                v.rjust(w) if i == 4 else v.ljust(w)
                for i, (v, w) in enumerate(zip(values, widths, strict=True))
            ]
            return "  ".join(cells).rstrip()

        lines += [line(header), *(line(t) for t in table)]
    lines += quiet
    return "\n".join(lines)
