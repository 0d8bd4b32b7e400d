"""``evmon connect``: the live dashboard.

Flags are checked here, before anything is drawn (a bad flag is a one-line usage error,
exit 2). Brokers are *not* contacted here: the dashboard opens them in workers and shows a
broker that is down as "connecting" while it retries, so one broker down never keeps the
other from being watched. Textual is imported only when this command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys

from evmon.commands.common import (
    check_selection,
    kafka_settings,
    nats_settings,
    start_position,
)
from evmon.commands.interest import system_settings
from evmon.commands.tail import lens_and_filter
from evmon.errors import UsageError


async def run(args: argparse.Namespace) -> int:
    check_selection(args)
    lens_and_filter(args)  # a bad --filter or --dedupe-key is a usage error, not an inline one
    start = start_position(args)
    if args.buffer <= 0:
        raise UsageError("--buffer must be a positive number of events")
    if args.topic_pattern:
        try:
            re.compile(args.topic_pattern)
        except re.error as err:
            raise UsageError(f"bad --topic-pattern {args.topic_pattern!r}: {err}") from None
    if args.lag_interval <= 0:
        raise UsageError("--lag-interval must be a positive number of seconds")
    if args.lag_window < 1:
        raise UsageError("--lag-window needs at least 1 sample")
    nats = nats_settings(args)
    kafka = kafka_settings(args)
    system = system_settings(args, nats) if nats is not None else None

    from evmon.tui.dashboard import build_app, run_app
    from evmon.tui.options import DashboardOptions

    options = DashboardOptions(
        subjects=args.subjects,
        streams=args.streams,
        topics=args.topics,
        topic_pattern=args.topic_pattern,
        start=start,
        initial_filter=args.filter,
        buffer=args.buffer,
        read_only=args.read_only,
        groups=args.groups,
        lag_interval=args.lag_interval,
        lag_window=args.lag_window,
        nats_monitor=args.nats_monitor,
        nats_system=system,
        dedupe_key=getattr(args, "dedupe_key", None),
    )
    code = await run_app(build_app(nats=nats, kafka=kafka, options=options))
    # What asyncio.run would still wait for that matters: a file an export is writing in a
    # thread (it appears whole, then renamed). Idle threads end at once.
    await asyncio.get_running_loop().shutdown_default_executor()
    leave_now(code)
    return code  # not reached


def leave_now(code: int) -> None:
    """End the process with ``code`` without finalizing the interpreter.

    Once the dashboard has ended, the terminal is restored and the sources are closed
    (``run_app``, each close bounded), nothing is left to write but what stdout and stderr
    still buffer; tearing down the modules of Textual, Rich, aiokafka and nats-py and a heap
    of up to ``--buffer`` events would only keep the operator waiting (0.1-0.25 s after
    ``q``), and so would the input thread Textual no longer waits for (``tui/driver.py``).
    """
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to save
                stream.flush()
    os._exit(code)
