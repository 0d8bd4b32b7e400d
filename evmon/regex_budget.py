"""The time budget of the filter's ``/regex/`` terms (``evmon.filter``).

A hostile payload can make a backtracking pattern run for minutes; a live view must not
stall on it. So each search has a time budget, a flood of searches that ran out gets less,
and what ran out is counted and reported instead of being taken for "no match".
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

__all__ = [
    "FLOOD_BUDGET",
    "FLOOD_TEXT",
    "MATCH_BUDGET",
    "REGEX_PREFIX",
    "BudgetExceeded",
    "RegexBudget",
]


#: Characters of the payload a ``/regex/`` term searches: the engine checks its clock only
#: between steps, and one step of a pattern like `` +$`` walks the whole text, so the text
#: must be short for the time budget to hold (64 KiB: about 10 ms past the budget at worst).
REGEX_PREFIX = 64 * 1024  # longer payloads: a match must end before the cut
#: Seconds one search may take before it is abandoned (a search of 64 KiB takes ~1 ms).
MATCH_BUDGET = 0.01
#: Once searches that ran out have used this many seconds within one second, the rest of
#: that second searches only payloads up to ``FLOOD_TEXT`` characters, with ``FLOOD_BUDGET``
#: each (longer ones are reported as over budget unsearched): a flood of hostile payloads
#: costs about a tenth of a core, and short, honest payloads still match.
OVERTIME_PER_SECOND = 0.1
FLOOD_BUDGET = 0.0001
FLOOD_TEXT = 1024


class BudgetExceeded(Exception):
    """A regex search ran out of time: the event's verdict is unknown."""


class RegexBudget:
    """The time budget of a filter's ``/regex/`` terms, and what ran out of it.

    A term that runs out does not answer "no match": the event is left out of the results
    (the filter returns False whether or not the term is negated) and counted in
    ``exceeded``, so callers report it (``tail`` on stderr, the dashboard in its status).
    """

    __slots__ = ("_overtime", "_window", "exceeded", "first_term")

    def __init__(self) -> None:
        self.exceeded = 0
        #: The source text of the first term that ran out, for the report.
        self.first_term: str | None = None
        self._window = 0.0
        self._overtime = 0.0

    def search(self, pattern: Any, text: str, term: str) -> bool:
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._overtime = now, 0.0
        timeout = MATCH_BUDGET
        if self._overtime >= OVERTIME_PER_SECOND:
            if len(text) > FLOOD_TEXT:
                self._ran_out(term)
            timeout = FLOOD_BUDGET
        cut = len(text) > REGEX_PREFIX
        try:
            m = pattern.search(text[:REGEX_PREFIX] if cut else text, timeout=timeout)
        except TimeoutError:
            self._overtime += time.monotonic() - now
            self._ran_out(term)
        # A match that runs into the cut may owe itself to it (`` +$`` on a long payload).
        if cut and m is not None and m.end() == REGEX_PREFIX:
            self._ran_out(term)
        return m is not None

    def _ran_out(self, term: str) -> NoReturn:
        self.exceeded += 1
        if self.first_term is None:
            self.first_term = term
        raise BudgetExceeded(term)
