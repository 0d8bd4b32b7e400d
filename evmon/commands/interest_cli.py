"""The ``evmon interest`` parser: argparse only, so ``evmon --help`` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Callable

EXAMPLES_INTEREST = """examples:
  evmon interest --nats nats://127.0.0.1:4222 --nats-monitor http://127.0.0.1:8222
  evmon interest --nats nats://127.0.0.1:4222 --nats-monitor http://n1:8222,http://n2:8222 \\
      -s 'user.>' -s 'orders.*.created' --seconds 10 --format json
  evmon interest --context prod --nats-system-context sys -s '>'

issues: no-subscriber (traffic that nobody receives: the server drops it), no-traffic (a
subscription nothing was published to in the window), near-miss (nearly a live subject:
another case, User.Created vs user.created, or one token misspelled; NEAR names it).
evmon's own subscriptions never count. The subscription table comes from the monitoring
endpoint (/subsz, /connz; list every server of a cluster) or the system account
($SYS.REQ.SERVER.PING.SUBSZ/CONNZ: every server answers).
"""


def add_interest_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_connection_flags: Callable[[argparse.ArgumentParser], None],
    positive: Callable[[str], float],
) -> None:
    p = sub.add_parser(
        "interest",
        help="who listens on core NATS: subjects nobody subscribes to, near misses, queues",
        description="Watch NATS subjects for a few seconds and read the server's subscription "
        "table: per subject the messages seen, plain subscribers, queue groups and an issue; "
        "then how queue groups split the messages and which clients are slow.",
        epilog=EXAMPLES_INTEREST,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_flags(p)
    g = p.add_argument_group("interest")
    g.add_argument(
        "-s",
        "--subject",
        dest="subjects",
        metavar="PATTERN",
        action="append",
        default=[],
        help="NATS subjects to watch, * and > wildcards (repeatable; default '>')",
    )
    g.add_argument(
        "--seconds",
        type=positive,
        default=5.0,
        metavar="N",
        help="how long to watch the traffic (default 5)",
    )
    g.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="an aligned table (default) or a JSON array of interest records",
    )
    add_system_account_flags(p)
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def add_system_account_flags(p: argparse.ArgumentParser) -> None:
    """``--nats-system-context``, ``--nats-system-creds``, ``--nats-system-user``: for
    ``evmon interest`` and ``evmon connect`` (its interest screen), defined once so the two
    read the subscription table from the same sources."""
    s = p.add_argument_group(
        "system account",
        "where the subscription table comes from without --nats-monitor: a second connection "
        "in the server's system account",
    )
    s.add_argument(
        "--nats-system-context",
        metavar="NAME",
        help="a context (evmon's or natscli's, such as `sys`) with system-account credentials",
    )
    s.add_argument("--nats-system-creds", metavar="FILE", help="system-account credentials file")
    s.add_argument(
        "--nats-system-user",
        metavar="USER",
        help="system-account user (password from $EVMON_NATS_SYSTEM_PASSWORD)",
    )
