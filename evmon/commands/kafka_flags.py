"""The Kafka flags of ``tail``/``connect`` (positions), ``skip`` (moving a group) and
``replay`` (partitioner, timestamps), kept out of ``evmon.cli`` so it stays one screenful
per command. Only argparse here: ``evmon --help`` loads no broker client.
"""

from __future__ import annotations

import argparse

#: How ``evmon replay`` picks a Kafka record's partition (``evmon.sources.kafka.partitioners``).
PARTITIONERS = ("murmur2", "fnv1a", "keep")


def add_position_flags(g: argparse._ArgumentGroup) -> None:
    """``--last N`` and ``--partition N``: shared by tail and the dashboard."""
    g.add_argument(
        "--last",
        metavar="N",
        help="Kafka: start each partition N offsets before its end (kcat -o -N); instead of --from",
    )
    g.add_argument(
        "--partition",
        dest="partitions",
        metavar="N",
        action="append",
        default=[],
        help="Kafka: read only partition N of each topic (repeatable, or 0,2)",
    )


def add_until_flag(g: argparse._ArgumentGroup) -> None:
    """``tail --until``: a bounded read."""
    g.add_argument(
        "--until",
        metavar="TIME|OFFSET|end",
        help="Kafka: stop each partition before this offset, before its first record stamped "
        "at or after TIME (RFC 3339 or -15m), or at its end when the tail starts (end, "
        "kcat -e); exit once every partition got there",
    )


def add_group_move_flags(g: argparse._ArgumentGroup) -> None:
    """``skip --group G --to-time T|earliest|latest``: move a whole group."""
    g.add_argument(
        "--to-time",
        metavar="TIME|earliest|latest",
        help="move the whole group (every partition it committed on, or of --topic): to the "
        "first offset at or after TIME (RFC 3339 or -15m), the log start or the log end",
    )


def add_replay_flags(g: argparse._ArgumentGroup) -> None:
    """``replay --partitioner`` and ``--keep-timestamp``."""
    g.add_argument(
        "--partitioner",
        choices=PARTITIONERS,
        help="Kafka partition of each record: murmur2 of the key (Kafka's Java clients and "
        "aiokafka), fnv1a (sarama's default, Go), or keep (the source partition; refused "
        "when the target has fewer). Default: the source partition when replayed into its "
        "own topic, else murmur2",
    )
    g.add_argument(
        "--keep-timestamp",
        action="store_true",
        help="Kafka: produce each record with its original timestamp (default: now)",
    )
