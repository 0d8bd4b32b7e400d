"""NATS subject wildcards, and writing a subject as a filter term that names only it.

Kept apart from the filter language because sources (``nats_interest``) and the subject tree
need these two without the parser; ``evmon.filter`` re-exports both.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

__all__ = ["subject_matches", "subject_term"]

#: A ``name:`` term prefix; a subject that starts like one must be quoted.
_PREFIX = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):")


@functools.lru_cache(maxsize=4096)
def _subject_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate for one pattern, specialised for the shapes that dominate in practice."""
    tokens = pattern.split(".")
    wild = [i for i, t in enumerate(tokens) if t == "*" or (t == ">" and i == len(tokens) - 1)]
    return _tokens_matcher(pattern, tuple(wild))


@functools.lru_cache(maxsize=4096)
def _tokens_matcher(pattern: str, wild: tuple[int, ...]) -> Callable[[str], bool]:
    """The matcher of ``pattern`` where only the tokens at ``wild`` are wildcards (the
    others are literal, even ``*``: a quoted ``subject:"a.*"`` names that subject)."""
    tokens = pattern.split(".")
    if not wild:
        return pattern.__eq__
    if wild == (len(tokens) - 1,) and tokens[-1] == ">":
        prefix = pattern[:-1]  # "orders.": ">" needs one or more non-empty tokens after it
        size = len(prefix)
        return lambda s: (
            len(s) > size
            and s.startswith(prefix)
            and s[size] != "."
            and s.find("..", size) < 0
            and not s.endswith(".")
        )
    parts = []
    for i, tok in enumerate(tokens):
        if i in wild:
            parts.append(r"[^.]+(?:\.[^.]+)*" if tok == ">" else "[^.]+")
        else:
            parts.append(re.escape(tok))
    fullmatch = re.compile(r"\.".join(parts), re.DOTALL).fullmatch
    return lambda s: fullmatch(s) is not None


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard rules, used for Kafka topics too (split on ``.`` the same way).

    ``*`` is exactly one token, ``>`` one or more trailing tokens and only as the last
    token; elsewhere, and inside a token (``ord*``), they are literal characters, as in NATS.
    Wildcards stand for non-empty tokens, so ``orders.>`` matches neither ``orders`` nor
    ``orders.`` (an empty token only occurs in Kafka names like ``a..b``).
    """
    return _subject_matcher(pattern)(subject)


def subject_term(subject: str, *, below: bool = False) -> str:
    """The filter term for exactly ``subject`` (``below``: for the subjects under it).

    A plain subject is its own term (``orders.eu`` / ``orders.eu.>``); any other is quoted
    (``subject:"!neg.x"``, ``subject:"a b".>``), with the escapes the event list shows
    control characters with: the filter never misreads it as a negation, a regex, another
    prefix or a wildcard.
    """
    tokens = subject.split(".")
    plain = (
        subject.isprintable()
        and " " not in subject
        and subject[:1] not in ("", "!", '"', "/")
        and _PREFIX.match(subject) is None
        and "*" not in tokens
        and ">" not in tokens
    )
    if plain:
        return f"{subject}.>" if below else subject
    quoted = "".join(_quote_char(c) for c in subject)
    return f'subject:"{quoted}"' + (".>" if below else "")


def _quote_char(c: str) -> str:
    if c in ('"', "\\"):
        return "\\" + c
    if c.isprintable():
        return c
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
