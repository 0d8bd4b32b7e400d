"""``evmon replay FILE.jsonl``: re-publish recorded events, exactly, after confirmation.

The whole file is read, decoded, filtered and planned before any connection is opened, so
a malformed line (or an event that cannot be sent as it is) stops the command with its line
number and nothing sent. With ``--nats`` the NATS targets are then checked (stream and
duplicate window, interest on core subjects) and what would go wrong is said before the
question (and in the dry run). Afterwards one line per event says what the broker did, and
the summary counts stored, duplicate and delivered events apart; exit 1 when any event was
not stored.

Everything printed that comes from the file or the broker goes through
``evmon.codec.safe_text``: a subject with CR/LF or ESC stays on one harmless line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import cast

from evmon.actions import (
    MSG_ID_HEADER,
    ActionContext,
    MsgIdPolicy,
    PlannedPublish,
    ReplayChecks,
    check_replay,
    plan_event,
    replay,
)
from evmon.codec import RecordError, decode_record, safe_text
from evmon.commands.common import event_filter, kafka_settings, nats_settings
from evmon.commands.confirm import cancelled, confirm
from evmon.errors import EvmonError, UsageError
from evmon.model import Event


def read_records(path: str) -> list[tuple[int, Event]]:
    """(line number, event) for every non-blank line; UsageError ``line N: reason``."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    out: list[tuple[int, Event]] = []
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            out.append((n, decode_record(line)))
        except RecordError as err:
            raise UsageError(f"line {n}: {err}") from None
    return out


def _where(plan: list[PlannedPublish], to: str | None) -> str:
    if to:
        return to
    names = list(dict.fromkeys(p.target for p in plan))
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _print(*lines: str) -> None:
    """Print to stdout; a reader that went away (``| head -1``) ends the output quietly."""
    try:
        for line in lines:
            print(safe_text(line))
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the failed flush at exit: point stdout at /dev/null first.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"evmon: warning: {safe_text(line)}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> int:
    try:
        return await _run(args)
    except BrokenPipeError:
        return 0
    except EvmonError as err:
        # One line whatever the file or the broker put in a subject or a reason.
        err.args = (safe_text(str(err)),)
        raise


async def _run(args: argparse.Namespace) -> int:
    records = read_records(args.file)
    flt = event_filter(args.filter)
    if args.rate is not None and args.rate <= 0:
        raise UsageError("--rate must be a positive number of events per second")
    if args.to is not None and not args.to.strip():
        raise UsageError("--to needs a subject or topic")
    msg_id = cast(MsgIdPolicy, args.msg_id)
    ctx = ActionContext(
        nats=nats_settings(args),
        kafka=kafka_settings(args),
        read_only=args.read_only,
        nats_monitor=args.nats_monitor,
    )
    plan: list[PlannedPublish] = []
    # --partitioner, --keep-timestamp (Kafka records only)
    kafka_how = (getattr(args, "partitioner", None), getattr(args, "keep_timestamp", False))
    for n, ev in records:
        if flt is not None and not flt(ev):
            continue
        try:
            plan.append(plan_event(ev, args.to, not args.no_provenance, msg_id, *kafka_how))
        except UsageError as err:
            raise UsageError(f"line {n}: {err}") from None
        if not args.dry_run:
            if ev.source == "nats" and ctx.nats is None:
                raise UsageError(f"line {n}: NATS records need --nats URL")
            if ev.source == "kafka" and ctx.kafka is None:
                raise UsageError(f"line {n}: Kafka records need --kafka HOST:PORT")

    where = _where(plan, args.to)
    noun = "event" if len(plan) == 1 else "events"
    nats_plan = [p for p in plan if p.source == "nats"]
    checks = ReplayChecks()
    if args.dry_run:
        if nats_plan and ctx.nats is not None:
            checks = await check_replay(ctx, nats_plan)
        elif any(p.msg_id is not None for p in nats_plan):
            _warn(
                [
                    f"records carry {MSG_ID_HEADER}: give --nats URL to check whether the "
                    "target stream would drop them as duplicates"
                ]
            )
        _warn(checks.warnings(plan))
        _print(
            *(p.describe() for p in plan),
            f"dry run: would re-publish {len(plan)} {noun} to {where}; nothing was sent",
        )
        return 0
    ctx.guard("replay")
    if not plan:
        print(f"evmon: no events to re-publish ({len(records)} records read)", file=sys.stderr)
        return 0
    if nats_plan:
        checks = await check_replay(ctx, nats_plan)
        _warn(checks.warnings(plan))
    question = f"Re-publish {len(plan)} {noun} to {where}?"
    if checks.no_interest():
        question = f"Re-publish {len(plan)} {noun} to {where}, where nobody subscribes?"
    if not confirm(safe_text(question), args.yes):
        return cancelled()

    done = [0]

    def progress(acked: int, total: int) -> None:
        done[0] = acked

    try:
        result = await replay(
            ctx, plan, rate=args.rate, on_progress=progress, checks=checks, msg_id=msg_id
        )
    except asyncio.CancelledError:
        print(
            f"evmon: interrupted: {done[0]} of {len(plan)} events were acknowledged, "
            "the rest were not sent",
            file=sys.stderr,
        )
        raise
    code = 0 if result.ok else 1
    try:
        _print(*result.lines(), result.summary())
    except BrokenPipeError:
        return code
    return code
