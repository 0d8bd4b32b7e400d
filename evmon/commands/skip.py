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
    inspect_jetstream_skip,
    inspect_kafka_skip,
    open_jetstream_skip,
    skip_jetstream,
    skip_kafka,
)
from evmon.commands.common import kafka_settings, nats_settings
from evmon.commands.confirm import cancelled, confirm
from evmon.errors import UsageError

KAFKA_USAGE = "--kafka HOST:PORT --group G --topic T --partition P [--offset N]"
NATS_USAGE = "--nats URL --stream S --consumer C [--seq N]"


def _missing(args: argparse.Namespace, names: list[str]) -> list[str]:
    return ["--" + n for n in names if getattr(args, n) is None]


async def run(args: argparse.Namespace) -> int:
    kafka_mode = any(v is not None for v in (args.group, args.topic, args.partition, args.offset))
    nats_mode = any(v is not None for v in (args.stream, args.consumer, args.seq))
    if kafka_mode and nats_mode:
        raise UsageError(f"skip either on Kafka ({KAFKA_USAGE}) or on JetStream ({NATS_USAGE})")
    if not (kafka_mode or nats_mode):
        raise UsageError(f"what to skip: {KAFKA_USAGE}, or {NATS_USAGE}")
    ctx = ActionContext(
        nats=nats_settings(args), kafka=kafka_settings(args), read_only=args.read_only
    )
    ctx.guard("skip")
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
