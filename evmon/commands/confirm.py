"""The confirmation every mutating command asks for.

``--yes`` confirms in advance. Otherwise a terminal is asked (the question on stderr, so
stdout stays clean for scripts); without a terminal the command refuses, because a script
that pipes into evmon must say explicitly that it means to change a broker.
"""

from __future__ import annotations

import sys

from evmon.errors import UsageError


def confirm(question: str, yes: bool) -> bool:
    """True to go ahead; False when the operator said anything but y/yes (or EOF)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("standard input is not a terminal: pass --yes to confirm")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cancelled() -> int:
    print("evmon: cancelled; nothing was changed", file=sys.stderr)
    return 1
