"""The parser of each sub-command (``evmon tail``, ``connect``, ``lag``, ``contexts``,
``replay``, ``skip``, ``demo``; ``interest`` is in ``interest_cli``): argparse and the
standard library only, so ``evmon --help`` stays as fast as Python's start, and each
command's module is imported only when it runs (``evmon.cli.main``).
"""

from __future__ import annotations

import argparse

from evmon.commands import kafka_flags
from evmon.commands.flags import (
    COUNT,
    INDEX,
    POSITIVE,
    add_confirm_flags,
    add_connection_flags,
    add_selection_flags,
)

__all__ = [
    "add_action_parsers",
    "add_connect_parser",
    "add_contexts_parser",
    "add_demo_parser",
    "add_lag_parser",
    "add_tail_parser",
]

EXAMPLES_TAIL = """examples:
  evmon tail --nats nats://127.0.0.1:4222 -s 'orders.>' -s 'users.*'
  evmon tail --nats nats://127.0.0.1:4222 --stream ORDERS --from -15m --format jsonl
  evmon tail --kafka 127.0.0.1:9092 -t orders --topic-pattern 'pay.*' --from first
  evmon tail --nats nats://127.0.0.1:4222 --kafka 127.0.0.1:9092 -t orders \\
      --filter 'orders.*.created json:status=paid' -n 10 --timeout 30
"""


def add_tail_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = sub.add_parser(
        "tail",
        help="print live events to stdout (text or JSONL)",
        description="Print events from NATS subjects, JetStream streams and Kafka topics as "
        "they arrive. Never creates consumer groups or durable consumers, never acks.",
        epilog=EXAMPLES_TAIL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_flags(tail)
    add_selection_flags(tail)
    out = tail.add_argument_group("output")
    out.add_argument("-n", "--count", type=COUNT, metavar="N", help="stop after N matching events")
    out.add_argument(
        "--timeout",
        type=POSITIVE,
        metavar="SECONDS",
        help="stop after this many seconds (exit 1 if -n was given and not reached)",
    )
    out.add_argument(
        "--format", choices=("text", "jsonl"), default="text", help="output format (default text)"
    )
    out.add_argument(
        "--template",
        metavar="TEMPLATE",
        help="text line of your own, kcat -f style: '{time} {subject} {partition} {offset} "
        "{key} {hcount} {headers} {data}' (also {clock} {source} {topic} {stream} {position} "
        "{size}; \\t, \\n; values escaped, absent ones '-')",
    )
    kafka_flags.add_until_flag(out)
    tail.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def add_contexts_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    contexts = sub.add_parser(
        "contexts",
        help="list the named connection contexts (secrets masked)",
        description="List evmon's contexts ($XDG_CONFIG_HOME/evmon/config.toml) and natscli's "
        "($XDG_CONFIG_HOME/nats/context/*.json), with secrets masked.",
    )
    contexts.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default text)"
    )
    contexts.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


EXAMPLES_LAG = """examples:
  evmon lag --kafka 127.0.0.1:9092 --group billing --group audit
  evmon lag --nats nats://127.0.0.1:4222 --stream ORDERS --consumer worker --format json
  evmon lag --kafka 127.0.0.1:9092 --nats nats://127.0.0.1:4222 --watch 5 --window 10
  evmon lag --nats nats://127.0.0.1:4222 --fail-on STALL,STOP --window 3 --watch 10  # exit 3
  evmon lag --kafka 127.0.0.1:9092 --group billing --members   # client id, host, partitions

status (over the last --window samples): OK keeping up (lag at or below --allowed-lag at some
sample, or the position moves and lag is not only growing); WARN progressing but falling
further behind; STALL alive but the position does not move; STOP nobody consuming and no
progress; ERR gone or the query failed. One-shot reports are OK, NOCOMMIT or ERR.
NOCOMMIT: the Kafka group never committed on that partition; the lag counts from the log
start and is never judged: a client starting at newest skips those records, at oldest reads
them (its initial-offset policy decides, and no broker knows it).
"""


EXAMPLES_CONNECT = """examples:
  evmon connect --nats nats://127.0.0.1:4222 -s '>'
  evmon connect --kafka 127.0.0.1:9092 --topic-pattern '.*'
  evmon connect --nats nats://127.0.0.1:4222 --stream ORDERS --from -15m \\
      --kafka 127.0.0.1:9092 -t payments --filter '!orders.*.created'
keys: / filter, enter detail, space mark, p pause, ? help, q quit, ctrl+p commands
"""


def add_connect_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    connect = sub.add_parser(
        "connect",
        help="the live dashboard (terminal UI)",
        description="Watch NATS subjects, JetStream streams and Kafka topics in a terminal "
        "dashboard: live list, subject tree, filter, detail, pause. Never creates consumer "
        "groups or durable consumers, never acks.",
        epilog=EXAMPLES_CONNECT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_flags(connect)
    add_selection_flags(connect)
    dash = connect.add_argument_group("dashboard")
    dash.add_argument(
        "--group",
        dest="groups",
        metavar="NAME",
        action="append",
        default=[],
        help="Kafka consumer group for the lag screen (repeatable; default all)",
    )
    dash.add_argument(
        "--buffer",
        type=COUNT,
        metavar="N",
        default=100_000,
        help="events kept in memory (default 100000; the oldest are dropped)",
    )
    dash.add_argument(
        "--read-only",
        action="store_true",
        help="refuse actions that write to the brokers (re-publish, skip)",
    )
    dash.add_argument(
        "--lag-interval",
        type=POSITIVE,
        default=5.0,
        metavar="SECONDS",
        help="how often the lag screen (l) refreshes (default 5)",
    )
    dash.add_argument(
        "--lag-window",
        type=COUNT,
        default=10,
        metavar="N",
        help="samples per consumer the lag status is judged on (default 10)",
    )
    connect.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def add_lag_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lag = sub.add_parser(
        "lag",
        help="consumer lag of Kafka groups and JetStream consumers",
        description="Report the lag of Kafka consumer groups (per partition) and JetStream "
        "consumers, once or refreshed with --watch. Never joins a group, never acks.",
        epilog=EXAMPLES_LAG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_flags(lag)
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
        type=POSITIVE,
        nargs="?",
        const=5.0,
        metavar="SECONDS",
        help="refresh every SECONDS (default 5) until interrupted; tables are redrawn in place",
    )
    out.add_argument(
        "--window",
        type=COUNT,
        default=10,
        metavar="N",
        help="samples per partition/consumer the status is judged on (default 10)",
    )
    out.add_argument(
        "--allowed-lag",
        type=INDEX,
        default=0,
        metavar="N",
        help="lag still counted as caught up (default 0)",
    )
    out.add_argument(
        "--fail-on",
        metavar="STATUS[,STATUS]",
        help="for cron and health checks: take --window samples --watch seconds apart "
        "(default 5), print the last table, exit 3 if any row ends in one of these statuses "
        "(OK, NOCOMMIT, WARN, STALL, STOP, ERR), else 0",
    )
    out.add_argument(
        "--members",
        action="store_true",
        help="list each Kafka group's members (consumer id, host, client id, assigned "
        "partitions) instead of the lag, like kafka-consumer-groups --describe --members",
    )
    lag.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


EXAMPLES_REPLAY = """examples:
  evmon tail --kafka 127.0.0.1:9092 -t orders.dlq --from first -n 10 --format jsonl > dlq.jsonl
  evmon replay dlq.jsonl --kafka 127.0.0.1:9092 --to orders --dry-run
  evmon replay dlq.jsonl --kafka 127.0.0.1:9092 --to orders --filter 'key:42' --yes
  evmon replay export.jsonl --nats nats://127.0.0.1:4222 --rate 50 --no-provenance

Each record goes back to the broker it came from (NATS records need --nats, Kafka records
--kafka) with exactly its payload, key and headers, plus an evmon-replayed-from header.
Kafka records keep their partition when replayed to the same topic. Each event's outcome is
printed: stored (stream#seq, partition@offset), dropped as a duplicate by a JetStream stream
(Nats-Msg-Id within its duplicate window), or delivered to the server (core NATS, with the
interest found). Exit 1 when any event was not stored. Without a terminal, --yes is required.
"""

EXAMPLES_SKIP = """examples:
  evmon skip --kafka 127.0.0.1:9092 --group billing --topic orders --partition 2
  evmon skip --kafka 127.0.0.1:9092 --group billing --topic orders --partition 2 --offset 1041
  evmon skip --nats nats://127.0.0.1:4222 --stream ORDERS --consumer worker --yes
  evmon skip --nats nats://127.0.0.1:4222 --stream ORDERS --consumer worker --seq 5000

Kafka: commits offset N+1 for the group (N: --offset, default the group's committed offset,
the message it is stuck on). Kafka accepts this only while the group has no members.
JetStream: terminates the message a pull consumer is stuck on (stream sequence ack floor + 1)
and no other: evmon pulls as the consumer until the server redelivers that message to it
(at most --wait seconds, default 10), handing any other message back at once. It refuses a
consumer that is not stuck. --seq N instead resets the consumer so its next message is the
first at or after stream sequence N (nats-server 2.14+). Both show the message, then ask on
a terminal; without one, --yes is required.
"""


def add_action_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser(
        "replay",
        help="re-publish events from a JSONL file (tail --format jsonl, export)",
        description="Re-publish the events of a JSONL file. The whole file is read and "
        "checked before anything is sent.",
        epilog=EXAMPLES_REPLAY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("file", metavar="FILE.jsonl", help="event records; '-' reads stdin")
    add_connection_flags(replay)
    r = replay.add_argument_group("re-publish")
    r.add_argument("--to", metavar="TARGET", help="subject or topic (default: each original)")
    r.add_argument("--filter", metavar="EXPR", default="", help="re-publish matching events only")
    r.add_argument("--rate", type=POSITIVE, metavar="N", help="at most N events per second")
    r.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    r.add_argument("--no-provenance", action="store_true", help="no evmon-replayed-from header")
    r.add_argument(
        "--msg-id",
        choices=("keep", "drop", "new"),
        default="keep",
        help="Nats-Msg-Id of NATS records: keep (default, byte exact; a stream drops an id it "
        "holds within its duplicate window), drop, or new (<original>.evmon-<uuid>)",
    )
    kafka_flags.add_replay_flags(r)
    add_confirm_flags(replay)

    skip = sub.add_parser(
        "skip",
        help="move a Kafka group or JetStream consumer past a poison message",
        description="Move a stuck consumer past one message and show its position before "
        "and after.",
        epilog=EXAMPLES_SKIP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_flags(skip)
    k = skip.add_argument_group("Kafka")
    k.add_argument("--group", metavar="G", help="consumer group")
    k.add_argument("--topic", metavar="T", help="topic")
    k.add_argument("--partition", type=INDEX, metavar="P", help="partition")
    k.add_argument("--offset", type=INDEX, metavar="N", help="offset to skip (default: committed)")
    kafka_flags.add_group_move_flags(k)
    j = skip.add_argument_group("JetStream")
    j.add_argument("--stream", metavar="S", help="stream")
    j.add_argument("--consumer", metavar="C", help="durable consumer")
    j.add_argument("--seq", type=COUNT, metavar="N", help="reset the consumer to stream sequence N")
    j.add_argument(
        "--wait",
        type=POSITIVE,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the stuck message to be redelivered to evmon (default: 10)",
    )
    add_confirm_flags(skip)


EXAMPLES_DEMO = """examples:
  evmon demo                          the dashboard on a live demo shop (NATS, JetStream)
  evmon demo --serve --seed 1         no dashboard: print the URL and commands to paste
  evmon demo --kafka local            add a Kafka broker of the demo's own (needs Java 17+)
  evmon demo --kafka 127.0.0.1:9092   add Kafka topics and consumer groups to your broker

The demo runs its own nats-server (and with --kafka local its own Kafka) on 127.0.0.1 with
the data in temporary directories; all are removed when the demo stops (Ctrl+C, q, or any
error). The first --kafka local fetches Apache Kafka from Maven Central (needs Maven) into
$XDG_CACHE_HOME/evmon (or $EVMON_KAFKA_CACHE). On your own broker the demo deletes the
topics and groups it created when it stops, unless --keep.
"""


def add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="a live demo: embedded NATS server, event generator, consumers, dashboard",
        description="Start a nats-server with JetStream, streams ORDERS, PAYMENTS, USERS and "
        "DLQ, a generator of shop events and three consumers (healthy, lagging, stuck on a "
        "poison message), then open the dashboard on it.",
        epilog=EXAMPLES_DEMO,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--serve", action="store_true", help="run without the dashboard; print the URL"
    )
    demo.add_argument(
        "--kafka",
        metavar="HOST:PORT|local",
        help="also create topics, producers and consumer groups on this Kafka; "
        "`local`: start a Kafka broker of the demo's own",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo's topics and groups on --kafka HOST:PORT when it stops",
    )
    demo.add_argument("--seed", type=int, metavar="N", help="reproducible event content")
    demo.add_argument("--port", type=int, metavar="N", help="NATS port (default: a free one)")
    demo.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
