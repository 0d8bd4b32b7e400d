"""Command-line parsing and dispatch.

Only argparse and the standard library are imported here: `evmon --version` and `--help` must
start as fast as Python itself, so each command's module (and the broker clients, and Textual)
is imported only when that command runs. The parsers are in ``evmon.commands.parsers``
(``interest_cli`` for ``evmon interest``), the shared flags in ``evmon.commands.flags``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from evmon import __version__
from evmon.commands import parsers
from evmon.commands.flags import POSITIVE, add_connection_flags
from evmon.commands.interest_cli import add_interest_parser, add_system_account_flags
from evmon.errors import EvmonError

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

    parsers.add_tail_parser(sub)
    parsers.add_connect_parser(sub)
    parsers.add_lag_parser(sub)
    parsers.add_contexts_parser(sub)
    parsers.add_action_parsers(sub)
    parsers.add_demo_parser(sub)
    add_interest_parser(sub, add_connection_flags, POSITIVE)
    add_system_account_flags(sub.choices["connect"])  # the interest screen's table
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
