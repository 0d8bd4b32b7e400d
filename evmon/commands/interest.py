"""``evmon interest``: who listens on core NATS, per subject, over a window of traffic.

Watches ``-s`` patterns for ``--seconds`` (default 5) on evmon's own connection and reads
the server's subscription table at both ends of the window, from the monitoring endpoint
(``--nats-monitor``, comma-separated for a cluster) or the system account (a second
connection with system-account credentials: ``--nats-system-context``, ``--nats-system-creds``
or ``--nats-system-user`` with ``$EVMON_NATS_SYSTEM_PASSWORD``). Without either it says which
one it needs: the account-scoped CONNZ that re-publish falls back to cannot see a stream's
capture, so it would call a stored subject "no-subscriber".

Prints a table (or ``--format json``: the interest record of DESIGN.md), then the queue
groups (how the window's messages split between members) and slow clients. In JSON mode
those notes go to stderr, one ``evmon:`` line each, only when something stands out.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import orjson

from evmon.codec.display import safe_text
from evmon.codec.record import terminal_json
from evmon.commands.common import apply_context, connection_flags, nats_settings
from evmon.config.contexts import find_context
from evmon.config.resolve import ENV_NATS_PASSWORD, ENV_NATS_TOKEN, nats_settings_from
from evmon.config.settings import NatsSettings
from evmon.errors import ConnectError, UsageError
from evmon.interest import InterestReport, InterestRow, needs_table

#: Where the system-account password comes from with ``--nats-system-user``.
ENV_SYSTEM_PASSWORD = "EVMON_NATS_SYSTEM_PASSWORD"
NEEDS_SOURCE = needs_table("evmon interest")
COLUMNS = ("SUBJECT", "MSGS", "SUBSCRIBERS", "QUEUES", "ISSUE")


def system_settings(args: argparse.Namespace, base: NatsSettings) -> NatsSettings | None:
    """The system account's connection settings, from a context or the flags; None if none.

    A context without URLs takes the command's; TLS settings are the command's unless the
    context has its own.
    """
    name = getattr(args, "nats_system_context", None)
    if name:
        ctx = find_context(name)
        flags = dataclasses.replace(connection_flags(args), nats=(), context=name)
        flags = dataclasses.replace(
            flags,
            nats_user=None,
            nats_password=None,
            nats_token=None,
            nats_creds=None,
            nats_nkey=None,
        )
        if not ctx.nats.get("urls"):
            flags = dataclasses.replace(flags, nats=base.urls)
        # the command's own secrets from the environment are not the system account's
        env = {k: v for k, v in os.environ.items() if k not in (ENV_NATS_PASSWORD, ENV_NATS_TOKEN)}
        return nats_settings_from(flags, ctx, env=env)
    creds = getattr(args, "nats_system_creds", None)
    user = getattr(args, "nats_system_user", None)
    if creds:
        if not os.path.isfile(creds):
            raise UsageError(f"NATS system credentials file not found: {creds}")
        return dataclasses.replace(
            base, user=None, password=None, token=None, nkey_seed=None, creds=creds
        )
    if user:
        password = os.environ.get(ENV_SYSTEM_PASSWORD)
        if not password:
            raise UsageError(f"--nats-system-user {user!r} needs ${ENV_SYSTEM_PASSWORD}")
        return dataclasses.replace(
            base, user=user, password=password, token=None, nkey_seed=None, creds=None
        )
    return None


def _check(args: argparse.Namespace) -> NatsSettings:
    apply_context(args)
    settings = nats_settings(args)
    if settings is None:
        raise UsageError("evmon interest needs --nats URL (or --context NAME)")
    if args.seconds <= 0:
        raise UsageError("--seconds needs a positive number")
    for pattern in args.subjects:
        tokens = pattern.split(".")
        if not pattern or "" in tokens or ">" in tokens[:-1] or any(c.isspace() for c in pattern):
            raise UsageError(f"invalid NATS subject pattern {pattern!r}")
    return settings


async def run(args: argparse.Namespace) -> int:
    from evmon.sources.nats.connect import connect_nats
    from evmon.sources.nats.interest import (
        InterestUnknown,
        MonitorTable,
        SystemTable,
        TableSource,
        account_of,
        watch_interest,
    )

    settings = _check(args)
    system = system_settings(args, settings)
    if not settings.monitor and system is None:
        raise UsageError(NEEDS_SOURCE)
    patterns = list(args.subjects) or [">"]
    nc = await connect_nats(settings)
    sys_nc = None
    try:
        source: TableSource
        if settings.monitor:
            source = MonitorTable(settings.monitor)
        else:
            assert system is not None
            try:
                sys_nc = await connect_nats(system)
            except ConnectError as err:
                raise ConnectError(f"system account: {err}") from None
            source = SystemTable(sys_nc)
        account = await account_of(nc)
        try:
            report = await watch_interest(nc, patterns, args.seconds, source, account=account)
        except InterestUnknown as err:
            raise ConnectError(str(err)) from None
    finally:
        for conn in (nc, sys_nc):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
    out = sys.stdout
    try:
        emit(out, report, args.format, source.via, args.seconds)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return 0


def emit(out: TextIO, report: InterestReport, fmt: str, via: str, seconds: float) -> None:
    if fmt == "json":
        data = orjson.dumps(report.records())
        out.write((terminal_json(data) if out.isatty() else data).decode() + "\n")
        out.flush()
        for line in notes(report, only_standing_out=True):
            print(f"evmon: {safe_text(line)}", file=sys.stderr)
        return
    out.write(render(report, via, seconds) + "\n")
    out.flush()


def _queues_cell(row: InterestRow) -> str:
    return ", ".join(f"{q}({n})" for q, n in sorted(row.queues.items())) or "-"


def _issue_cell(row: InterestRow) -> str:
    if row.issue is None:
        return "-"
    return f"{row.issue} ({', '.join(row.near)})" if row.near else row.issue


def render_rows(rows: Sequence[InterestRow]) -> list[str]:
    """The aligned table: subject left, counts right (names escaped: they come from clients)."""
    table = [
        [
            safe_text(r.subject),
            str(r.msgs),
            str(r.subscribers),
            safe_text(_queues_cell(r)),
            safe_text(_issue_cell(r)),
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(COLUMNS)]

    def line(values: Sequence[str]) -> str:
        cells = [
            v.rjust(w) if i in (1, 2) else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(COLUMNS), *(line(t) for t in table)]


def notes(report: InterestReport, *, only_standing_out: bool = False) -> list[str]:
    """Queue-group splits and slow clients, one line each."""
    out = []
    for split in report.queues:
        if not only_standing_out or split.verdict:
            out.append(f"queue group {split.describe()}")
    out.extend(f"slow client {s.describe()}" for s in report.slow)
    return out


def render(report: InterestReport, via: str, seconds: float) -> str:
    servers = f"{report.servers} server{'' if report.servers == 1 else 's'}"
    head = f"Who listens (window {seconds:g} s, table from {via}, {servers})"
    if not report.rows:
        parts = [head, "no traffic and no subscription on these subjects"]
    else:
        parts = [head, *render_rows(report.rows)]
    if report.queues:
        parts += ["", "Queue groups (messages of the window per member)"]
        parts += [f"  {safe_text(s.describe())}" for s in report.queues]
    if report.slow:
        parts += ["", "Slow clients"]
        parts += [f"  {safe_text(s.describe())}" for s in report.slow]
    return "\n".join(parts)
