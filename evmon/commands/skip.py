"""``evmon skip``: move a Kafka group or a JetStream consumer past a poison message.

The command first shows the message it will skip (refusing an active Kafka group, or a
JetStream consumer that is not stuck, before asking anything), asks with that message named
in the question, then acts on exactly what was shown: the Kafka offset confirmed is the one
committed past, the JetStream message held by evmon is the one terminated. ``--yes`` skips
the question, not the preview. All of it is escaped broker text (``evmon.actions``).
"""

from __future__ import annotations

import argparse
import sys

from evmon.actions import (
    ActionContext,
    inspect_group_move,
    inspect_jetstream_skip,
    inspect_kafka_skip,
    move_group,
    open_jetstream_skip,
    parse_move_target,
    skip_jetstream,
    skip_kafka,
)
from evmon.commands.common import kafka_settings, nats_settings
from evmon.commands.confirm import cancelled, confirm
from evmon.errors import UsageError

KAFKA_USAGE = "--kafka HOST:PORT --group G --topic T --partition P [--offset N]"
MOVE_USAGE = "--kafka HOST:PORT --group G --to-time TIME|earliest|latest [--topic T]"
NATS_USAGE = "--nats URL --stream S --consumer C [--seq N]"


def _missing(args: argparse.Namespace, names: list[str]) -> list[str]:
    return ["--" + n for n in names if getattr(args, n) is None]


async def run(args: argparse.Namespace) -> int:
    to_time = getattr(args, "to_time", None)
    kafka_mode = any(
        v is not None for v in (args.group, args.topic, args.partition, args.offset, to_time)
    )
    nats_mode = any(v is not None for v in (args.stream, args.consumer, args.seq))
    if kafka_mode and nats_mode:
        raise UsageError(f"skip either on Kafka ({KAFKA_USAGE}) or on JetStream ({NATS_USAGE})")
    if not (kafka_mode or nats_mode):
        raise UsageError(f"what to skip: {KAFKA_USAGE}, or {NATS_USAGE}")
    ctx = ActionContext(
        nats=nats_settings(args), kafka=kafka_settings(args), read_only=args.read_only
    )
    ctx.guard("skip")
    if to_time is not None:
        return await _move_group(ctx, args, to_time)
    if kafka_mode:
        missing = _missing(args, ["group", "topic", "partition"])
        if missing:
            raise UsageError(f"Kafka skip needs {' '.join(missing)} ({KAFKA_USAGE})")
        if args.partition < 0 or (args.offset is not None and args.offset < 0):
            raise UsageError("--partition and --offset cannot be negative")
        ctx.need_kafka("skipping a Kafka message")
        plan = await inspect_kafka_skip(ctx, args.group, args.topic, args.partition, args.offset)
        print(plan.preview(), flush=True)
        if not confirm(plan.question(), args.yes):
            return cancelled()
        result = await skip_kafka(ctx, args.group, args.topic, args.partition, plan.offset)
    else:
        missing = _missing(args, ["stream", "consumer"])
        if missing:
            raise UsageError(f"JetStream skip needs {' '.join(missing)} ({NATS_USAGE})")
        ctx.need_nats("skipping a JetStream message")
        if args.seq is not None:
            js_plan = await inspect_jetstream_skip(ctx, args.stream, args.consumer, args.seq)
            if not confirm(js_plan.question(), args.yes):
                return cancelled()
            result = await skip_jetstream(ctx, args.stream, args.consumer, args.seq)
        else:
            async with open_jetstream_skip(ctx, args.stream, args.consumer, wait=args.wait) as held:
                print(held.preview(), flush=True)
                if not confirm(held.question(), args.yes):
                    print(
                        f"evmon: cancelled; nothing was terminated ({held.plan.where} was "
                        "handed back for redelivery)",
                        file=sys.stderr,
                    )
                    return 1
                result = await held.terminate()
    print(result.summary())
    return 0


async def _move_group(ctx: ActionContext, args: argparse.Namespace, to_time: str) -> int:
    """``--to-time``: the whole group, shown per partition before and after."""
    if args.group is None:
        raise UsageError(f"moving a group needs --group ({MOVE_USAGE})")
    if args.partition is not None or args.offset is not None:
        raise UsageError(
            "--to-time moves every partition of the group; --partition/--offset skip one "
            f"message ({MOVE_USAGE})"
        )
    target = parse_move_target(to_time)
    ctx.need_kafka("moving a Kafka group")
    topics = (args.topic,) if args.topic is not None else ()
    plan = await inspect_group_move(ctx, args.group, target, topics)
    print(plan.preview(), flush=True)
    if not confirm(plan.question(), args.yes):
        return cancelled()
    result = await move_group(ctx, plan)
    print(result.summary())
    return 0
