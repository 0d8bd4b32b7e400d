"""The flags several commands share (connections, auth, selection, confirmation) and the
argparse number types, for the parsers in ``evmon.commands.parsers``: argparse and the
standard library only, so ``evmon --help`` stays as fast as Python's start.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from evmon.commands import kafka_flags

__all__ = [
    "COUNT",
    "INDEX",
    "NON_NEGATIVE",
    "POSITIVE",
    "add_confirm_flags",
    "add_connection_flags",
    "add_selection_flags",
]


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


def add_connection_flags(p: argparse.ArgumentParser) -> None:
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


def add_selection_flags(p: argparse.ArgumentParser) -> None:
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


def add_confirm_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true", help="confirm in advance (no question)")
    p.add_argument("--read-only", action="store_true", help="refuse to change anything")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
