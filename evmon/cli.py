"""Command-line parsing and dispatch.

Only argparse and the standard library are imported here: `evmon --version` and `--help` must
start as fast as Python itself, so each command's module (and the broker clients, and Textual)
is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from evmon import __version__
from evmon.errors import EvmonError

EXAMPLES_TAIL = """examples:
  evmon tail --nats nats://127.0.0.1:4222 -s 'orders.>' -s 'users.*'
  evmon tail --nats nats://127.0.0.1:4222 --stream ORDERS --from -15m --format jsonl
  evmon tail --kafka 127.0.0.1:9092 -t orders --topic-pattern 'pay.*' --from first
  evmon tail --nats nats://127.0.0.1:4222 --kafka 127.0.0.1:9092 -t orders \\
      --filter 'orders.*.created json:status=paid' -n 10 --timeout 30
"""


def _add_connection_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connections")
    g.add_argument(
        "--nats",
        metavar="URL",
        action="append",
        default=[],
        help="NATS server URL; repeat (or separate with commas) for a cluster's URLs",
    )
    g.add_argument(
        "--kafka",
        metavar="HOST:PORT[,HOST:PORT]",
        help="Kafka bootstrap servers",
    )


def _add_selection_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selection")
    g.add_argument(
        "-s",
        "--subject",
        dest="subjects",
        metavar="PATTERN",
        action="append",
        default=[],
        help="NATS subject with * and > wildcards (repeatable; default '>'). "
        "With --stream: filters the stream",
    )
    g.add_argument(
        "-t",
        "--topic",
        dest="topics",
        metavar="NAME",
        action="append",
        default=[],
        help="Kafka topic (repeatable)",
    )
    g.add_argument("--topic-pattern", metavar="REGEX", help="Kafka topics matching a regex")
    g.add_argument(
        "--stream",
        dest="streams",
        metavar="NAME",
        action="append",
        default=[],
        help="read a JetStream stream's stored messages, then follow it (repeatable)",
    )
    g.add_argument(
        "--from",
        dest="start",
        metavar="WHERE",
        default="new",
        help="where streams and Kafka partitions start: new (default), first, a sequence/"
        "offset number, an RFC 3339 time, or a relative time such as -15m",
    )
    g.add_argument(
        "--filter",
        metavar="EXPR",
        default="",
        help="filter expression (see README: filter language)",
    )


EXAMPLES_LAG = """examples:
  evmon lag --kafka 127.0.0.1:9092 --group billing --group audit
  evmon lag --nats nats://127.0.0.1:4222 --stream ORDERS --consumer worker --format json
  evmon lag --kafka 127.0.0.1:9092 --nats nats://127.0.0.1:4222 --watch 5 --window 10

status (over the last --window samples): OK keeping up or caught up; WARN progressing but
falling further behind; STALL alive but the position does not move; STOP nobody consuming
and no progress; ERR gone or the query failed. One-shot reports are OK or ERR.
"""


def _add_lag_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lag = sub.add_parser(
        "lag",
        help="consumer lag of Kafka groups and JetStream consumers",
        description="Report the lag of Kafka consumer groups (per partition) and JetStream "
        "consumers, once or refreshed with --watch. Never joins a group, never acks.",
        epilog=EXAMPLES_LAG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_connection_flags(lag)
    sel = lag.add_argument_group("selection")
    sel.add_argument(
        "--group",
        dest="groups",
        metavar="NAME",
        action="append",
        default=[],
        help="Kafka consumer group (repeatable; default all)",
    )
    sel.add_argument(
        "--stream",
        dest="streams",
        metavar="NAME",
        action="append",
        default=[],
        help="JetStream stream (repeatable; default all)",
    )
    sel.add_argument(
        "--consumer",
        dest="consumers",
        metavar="NAME",
        action="append",
        default=[],
        help="JetStream consumer name (repeatable; default all)",
    )
    out = lag.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="aligned tables (default) or one JSON array per refresh",
    )
    out.add_argument(
        "--watch",
        type=float,
        metavar="SECONDS",
        help="refresh every SECONDS until interrupted (tables are redrawn in place)",
    )
    out.add_argument(
        "--window",
        type=int,
        default=10,
        metavar="N",
        help="samples per partition/consumer the status is judged on (default 10)",
    )
    out.add_argument(
        "--allowed-lag",
        type=int,
        default=0,
        metavar="N",
        help="lag still counted as caught up (default 0)",
    )
    lag.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evmon",
        description="Watch and operate NATS and Kafka event streams from the terminal.",
    )
    parser.add_argument("--version", action="version", version=f"evmon {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tail = sub.add_parser(
        "tail",
        help="print live events to stdout (text or JSONL)",
        description="Print events from NATS subjects, JetStream streams and Kafka topics as "
        "they arrive. Never creates consumer groups or durable consumers, never acks.",
        epilog=EXAMPLES_TAIL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_connection_flags(tail)
    _add_selection_flags(tail)
    out = tail.add_argument_group("output")
    out.add_argument("-n", "--count", type=int, metavar="N", help="stop after N matching events")
    out.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop after this many seconds (exit 1 if -n was given and not reached)",
    )
    out.add_argument(
        "--format", choices=("text", "jsonl"), default="text", help="output format (default text)"
    )
    tail.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    _add_lag_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    # Client libraries log connection noise through `logging`; errors reach the user as one
    # line from EvmonError instead. --debug shows everything.
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    else:
        logging.getLogger().addHandler(logging.NullHandler())
    import asyncio

    module = importlib.import_module(f"evmon.commands.{args.command}")
    try:
        return int(asyncio.run(module.run(args)))
    except EvmonError as err:
        if args.debug:
            raise
        print(f"evmon: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
