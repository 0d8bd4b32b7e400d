"""Command-line parsing and dispatch.

Only argparse and the standard library are imported here: `evmon --version` and `--help` must
start as fast as Python itself, so each command's module (and the broker clients, and Textual)
is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import re
import sys
from collections.abc import Callable, Sequence

from evmon import __version__
from evmon.commands import kafka_flags
from evmon.commands.interest_cli import add_interest_parser
from evmon.errors import EvmonError

EXAMPLES_TAIL = """examples:
  evmon tail --nats nats://127.0.0.1:4222 -s 'orders.>' -s 'users.*'
  evmon tail --nats nats://127.0.0.1:4222 --stream ORDERS --from -15m --format jsonl
  evmon tail --kafka 127.0.0.1:9092 -t orders --topic-pattern 'pay.*' --from first
  evmon tail --nats nats://127.0.0.1:4222 --kafka 127.0.0.1:9092 -t orders \\
      --filter 'orders.*.created json:status=paid' -n 10 --timeout 30
"""


def _number(
    convert: Callable[[str], float], minimum: float, *, allow_min: bool
) -> Callable[[str], float]:
    """An argparse type for a finite number above (or at) ``minimum``: ``float()`` takes
    ``nan`` and ``inf``, which would turn a timeout into "never" or a crash."""
    what = "at least" if allow_min else "more than"

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not allow_min):
            raise argparse.ArgumentTypeError(f"must be a number {what} {minimum:g}: {text!r}")
        return value

    parse.__name__ = convert.__name__  # argparse names the type in "invalid float value"
    return parse


#: Seconds that must pass (timeouts, intervals, rates): finite and above 0.
POSITIVE = _number(float, 0, allow_min=False)
#: Seconds where 0 means "never" (``--reconnect-deadline``).
NON_NEGATIVE = _number(float, 0, allow_min=True)
#: Whole numbers: counts at least 1, positions and offsets at least 0.
COUNT = _number(int, 1, allow_min=True)
INDEX = _number(int, 0, allow_min=True)


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
    g.add_argument(
        "--context",
        metavar="NAME",
        help="a named context from ~/.config/evmon/config.toml (or a natscli context); "
        "flags override it. Default: $EVMON_CONTEXT",
    )
    g.add_argument(
        "--nats-monitor",
        metavar="URL",
        help="NATS monitoring endpoint (http://HOST:8222): asked who subscribes to a core "
        "target before a re-publish (default: the account's $SYS.REQ.ACCOUNT.PING.CONNZ) and "
        "why the server closed evmon's connection (a slow-consumer cut-off is then confirmed)",
    )
    g.add_argument(
        "--reconnect-deadline",
        type=NON_NEGATIVE,
        metavar="SECONDS",
        help="give up (exit 1) when a broker stays unreachable this long after a loss "
        "(default 60 for headless commands; 0 = never)",
    )
    g.add_argument(
        "--ping-interval",
        type=POSITIVE,
        metavar="SECONDS",
        help="how often a server's liveness is checked: a frozen NATS server or Kafka broker "
        "is reported after 3 intervals without an answer (default 5)",
    )
    _add_auth_flags(p)


def _add_auth_flags(p: argparse.ArgumentParser) -> None:
    n = p.add_argument_group(
        "NATS auth and TLS",
        "secrets are better kept in a context or in $EVMON_NATS_PASSWORD "
        "/ $EVMON_NATS_TOKEN than on the command line",
    )
    n.add_argument("--nats-user", metavar="USER", help="user name (password from the environment)")
    n.add_argument(
        "--nats-password", metavar="PASSWORD", help="discouraged: use $EVMON_NATS_PASSWORD"
    )
    n.add_argument("--nats-token", metavar="TOKEN", help="discouraged: use $EVMON_NATS_TOKEN")
    n.add_argument("--nats-nkey", metavar="SEEDFILE", help="NKey seed file")
    n.add_argument("--nats-creds", metavar="FILE", help="credentials (JWT + seed) file")
    n.add_argument("--nats-tls-ca", metavar="FILE", help="CA certificates (PEM) for the server")
    n.add_argument("--nats-tls-cert", metavar="FILE", help="client certificate (PEM)")
    n.add_argument("--nats-tls-key", metavar="FILE", help="client certificate key (PEM)")
    n.add_argument(
        "--nats-tls-first",
        action="store_true",
        default=None,
        help="TLS handshake before the NATS INFO (server has handshake_first)",
    )
    k = p.add_argument_group(
        "Kafka security",
        "the SASL password is better kept in a context or in "
        "$EVMON_KAFKA_PASSWORD than on the command line",
    )
    k.add_argument(
        "--kafka-security-protocol",
        type=str.upper,
        choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        metavar="PROTOCOL",
        help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: from the other settings)",
    )
    k.add_argument(
        "--kafka-sasl-mechanism",
        type=str.upper,
        choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
        metavar="MECHANISM",
        help="PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512",
    )
    k.add_argument("--kafka-user", metavar="USER", help="SASL user name")
    k.add_argument(
        "--kafka-password", metavar="PASSWORD", help="discouraged: use $EVMON_KAFKA_PASSWORD"
    )
    k.add_argument("--kafka-tls-ca", metavar="FILE", help="CA certificates (PEM)")
    k.add_argument("--kafka-tls-cert", metavar="FILE", help="client certificate (PEM)")
    k.add_argument("--kafka-tls-key", metavar="FILE", help="client certificate key (PEM)")


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
    kafka_flags.add_position_flags(g)
    g.add_argument(
        "--filter",
        metavar="EXPR",
        default="",
        help="filter expression (see README: filter language)",
    )
    g.add_argument(
        "--dedupe-key",
        metavar="SPEC",
        help="an event's identity for the dup filter term: header:NAME, json:path.to.field "
        "or key (default: the Nats-Msg-Id header on NATS, the record key on Kafka)",
    )


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


def _add_connect_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    connect = sub.add_parser(
        "connect",
        help="the live dashboard (terminal UI)",
        description="Watch NATS subjects, JetStream streams and Kafka topics in a terminal "
        "dashboard: live list, subject tree, filter, detail, pause. Never creates consumer "
        "groups or durable consumers, never acks.",
        epilog=EXAMPLES_CONNECT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_connection_flags(connect)
    _add_selection_flags(connect)
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


def _add_action_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser(
        "replay",
        help="re-publish events from a JSONL file (tail --format jsonl, export)",
        description="Re-publish the events of a JSONL file. The whole file is read and "
        "checked before anything is sent.",
        epilog=EXAMPLES_REPLAY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("file", metavar="FILE.jsonl", help="event records; '-' reads stdin")
    _add_connection_flags(replay)
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
    _add_confirm_flags(replay)

    skip = sub.add_parser(
        "skip",
        help="move a Kafka group or JetStream consumer past a poison message",
        description="Move a stuck consumer past one message and show its position before "
        "and after.",
        epilog=EXAMPLES_SKIP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_connection_flags(skip)
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
    _add_confirm_flags(skip)


def _add_confirm_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true", help="confirm in advance (no question)")
    p.add_argument("--read-only", action="store_true", help="refuse to change anything")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


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


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


#: A value that argparse would take for an option because it starts with "-": a negative
#: number or a relative time such as -15m, -1h30m, -2.5s.
_NEGATIVE_VALUE = re.compile(r"-\d[\w.:]*")


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--from -15m`` as ``--from=-15m``: argparse reads a value starting with ``-`` as an
    option ("expected one argument") unless it is a plain negative number, so every long
    option followed by a negative number or a relative time is given it explicitly."""
    out: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "--":
            out.extend(tokens[i:])
            break
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok.startswith("--") and "=" not in tok and _NEGATIVE_VALUE.fullmatch(nxt):
            out.append(f"{tok}={nxt}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that takes ``--from -15m`` as the README and ``--help`` write it."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        argv = sys.argv[1:] if args is None else args
        return super().parse_known_args(join_negative_values(argv), namespace)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
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
    _add_connect_parser(sub)
    _add_lag_parser(sub)
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
    _add_action_parsers(sub)
    _add_demo_parser(sub)
    add_interest_parser(sub, _add_connection_flags, POSITIVE)
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
        if hasattr(args, "context"):
            from evmon.commands.common import apply_context

            apply_context(args)  # --context / $EVMON_CONTEXT fill what the flags left unset
        return int(asyncio.run(module.run(args)))
    except EvmonError as err:
        if args.debug:
            raise
        _print_error(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except RecursionError:  # a hostile file or message nested past any parser's depth
        if args.debug:
            raise
        _print_error("input nested too deeply to read (a config, context or message file)")
        return 2


def _print_error(message: str) -> None:
    """One line on stderr: messages embed broker data (subjects, names, server errors), so
    they are escaped like ``tail --format text``: no control byte, CR or LF gets through."""
    from evmon.codec.display import safe_text

    print(f"evmon: error: {safe_text(message)}", file=sys.stderr)
