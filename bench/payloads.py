"""JSON payloads of an exact size, and the subjects they are published on.

Realistic rather than random: one line of JSON with a few fields, so evmon's JSON path
(``json`` field of the record, ``json:`` filter terms) is exercised the way it is in use.
Every payload of one size has the same length, so byte rates follow from message rates.
"""

from __future__ import annotations

REGIONS = ("eu", "us")
KINDS = ("created", "updated", "paid", "shipped")
#: Eight subjects under ``bench.``: enough for the subject tree and the subject cache to work.
SUBJECTS = tuple(f"bench.{r}.{k}" for r in REGIONS for k in KINDS)

#: Three terms that every bench payload matches (subject, text, JSON field): the filter
#: benchmark measures the cost of evaluating a filter, not the savings of dropping events.
FILTER_ALL = 'bench.> "region" json:v=1'

_ID_DIGITS = 9


def json_payload(i: int, size: int) -> bytes:
    """Message ``i`` as JSON of exactly ``size`` bytes (``size`` >= 100)."""
    j = i % len(SUBJECTS)
    region, kind = REGIONS[j // len(KINDS)], KINDS[j % len(KINDS)]  # as in subject_of(i)
    head = f'{{"id":"{i % 10**_ID_DIGITS:0{_ID_DIGITS}d}","v":1,"region":"{region}",'
    head += f'"kind":"{kind}","amount":{i % 1000}.5,"pad":"'
    tail = '"}'
    pad = size - len(head) - len(tail)
    if pad < 0:
        raise ValueError(f"payload size {size} is too small")
    return (head + "x" * pad + tail).encode()


def subject_of(i: int) -> str:
    return SUBJECTS[i % len(SUBJECTS)]
