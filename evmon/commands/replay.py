"""``evmon replay FILE.jsonl``: re-publish recorded events, exactly, after confirmation.

The whole file is read, decoded, filtered and planned before any connection is opened, so
a malformed line (or an event that cannot be sent as it is) stops the command with its line
number and nothing sent.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from evmon.actions import ActionContext, PlannedPublish, plan_event, replay
from evmon.codec import RecordError, decode_record
from evmon.commands.common import event_filter, kafka_settings, nats_settings
from evmon.commands.confirm import cancelled, confirm
from evmon.errors import UsageError
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


async def run(args: argparse.Namespace) -> int:
    records = read_records(args.file)
    flt = event_filter(args.filter)
    if args.rate is not None and args.rate <= 0:
        raise UsageError("--rate must be a positive number of events per second")
    if args.to is not None and not args.to.strip():
        raise UsageError("--to needs a subject or topic")
    ctx = ActionContext(
        nats=nats_settings(args), kafka=kafka_settings(args), read_only=args.read_only
    )
    plan: list[PlannedPublish] = []
    for n, ev in records:
        if flt is not None and not flt(ev):
            continue
        try:
            plan.append(plan_event(ev, args.to, not args.no_provenance))
        except UsageError as err:
            raise UsageError(f"line {n}: {err}") from None
        if not args.dry_run:
            if ev.source == "nats" and ctx.nats is None:
                raise UsageError(f"line {n}: NATS records need --nats URL")
            if ev.source == "kafka" and ctx.kafka is None:
                raise UsageError(f"line {n}: Kafka records need --kafka HOST:PORT")

    where = _where(plan, args.to)
    noun = "event" if len(plan) == 1 else "events"
    if args.dry_run:
        for p in plan:
            print(p.describe())
        print(f"dry run: would re-publish {len(plan)} {noun} to {where}; nothing was sent")
        return 0
    ctx.guard("replay")
    if not plan:
        print(f"evmon: no events to re-publish ({len(records)} records read)", file=sys.stderr)
        return 0
    if not confirm(f"Re-publish {len(plan)} {noun} to {where}?", args.yes):
        return cancelled()

    done = [0]

    def progress(acked: int, total: int) -> None:
        done[0] = acked

    try:
        result = await replay(ctx, plan, rate=args.rate, on_progress=progress)
    except asyncio.CancelledError:
        print(
            f"evmon: interrupted: {done[0]} of {len(plan)} events were acknowledged, "
            "the rest were not sent",
            file=sys.stderr,
        )
        raise
    print(result.summary())
    return 0
