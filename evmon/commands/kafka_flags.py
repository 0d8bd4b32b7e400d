"""The Kafka flags of ``tail``/``connect`` (positions) and ``skip`` (moving a group), kept
out of ``evmon.cli`` so it stays one screenful per command. Only argparse here: ``evmon
--help`` loads no broker client.
"""

from __future__ import annotations

import argparse

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
