"""The ``subject:`` term: quoted parts are literal, so any subject can be named (one that
starts with ``!``, holds a space, a ``*`` token or control characters), and
``subject_term`` writes the term the subject tree puts in the filter bar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evmon.filter import FilterError, parse_filter, subject_term
from evmon.model import Event


def ev(subject: str, source: str = "nats") -> Event:
    return Event(source, subject, b"x", 0.0)  # type: ignore[arg-type]


def matching(expr: str, subjects: list[str]) -> list[str]:
    flt = parse_filter(expr)
    return [s for s in subjects if flt(ev(s))]


SUBJECTS = ["!neg.x", "neg.x", "!neg", "!neg.x.y", "a.*", "a.b", "a.b.c", "a b", "ab"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('subject:"!neg.x"', ["!neg.x"]),  # a subject, not a negation
        ("!neg.x", ["!neg.x", "!neg", "!neg.x.y", "a.*", "a.b", "a.b.c", "a b", "ab"]),
        ('subject:"!neg".>', ["!neg.x", "!neg.x.y"]),  # unquoted .> is still a wildcard
        ('subject:"a.*"', ["a.*"]),  # a quoted * is a literal token
        ('subject:"a".*', ["a.*", "a.b"]),
        ("subject:a.*", ["a.*", "a.b"]),  # unquoted: the wildcard rules
        ('subject:"a b"', ["a b"]),
        ('!subject:"a b" !subject:"!neg".>', ["neg.x", "!neg", "a.*", "a.b", "a.b.c", "ab"]),
        ('subject:"!neg.x" subject:"a b"', ["!neg.x", "a b"]),  # subject terms OR together
        ('subject:"a.*" a.b', ["a.*", "a.b"]),
    ],
)
def test_quoted_subjects_are_literal(expr: str, expected: list[str]) -> None:
    assert matching(expr, SUBJECTS) == expected


def test_escapes_name_control_characters() -> None:
    nasty = 'esc.\x1b]0;owned\x07.\t\u202e.q"b\\s'
    expr = 'subject:"esc.\\x1b]0;owned\\x07.\\t\\u202e.q\\"b\\\\s"'
    assert matching(expr, [nasty, "esc"]) == [nasty]
    assert matching('subject:"\\U0001f600"', ["\U0001f600", "x"]) == ["\U0001f600"]


def test_quoted_subject_combines_with_other_terms() -> None:
    flt = parse_filter('source:kafka subject:"a b" partition:2')
    assert flt(Event("kafka", "a b", b"", 0.0, partition=2))
    assert not flt(Event("kafka", "a b", b"", 0.0, partition=1))
    assert not flt(Event("nats", "a b", b"", 0.0))


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("subject:", 'expected subject:NAME or subject:"NAME"'),
        ('subject:""', 'expected subject:NAME or subject:"NAME"'),
        ('subject:"a', "unterminated quote"),
        ('subject:"\\q"', "bad escape in a quoted subject"),
        ('subject:"\\x1"', "bad escape in a quoted subject"),
        ('subject:"\\U00110000"', "escape beyond U+10FFFF"),
        ("subject:a.>.b", "'>' must be the last token"),
    ],
)
def test_bad_subject_terms_say_why(expr: str, reason: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(f"orders.> {expr}")
    assert info.value.position == len("orders.> ")
    assert reason in info.value.reason


def test_a_quoted_middle_gt_token_is_literal() -> None:
    assert matching('subject:"a.>".b', ["a.>.b", "a.x.b"]) == ["a.>.b"]


@pytest.mark.parametrize(
    ("subject", "exact", "below"),
    [
        ("orders.eu", "orders.eu", "orders.eu.>"),  # plain subjects stay readable
        ("evil.[/x]", "evil.[/x]", "evil.[/x].>"),
        ("!neg.x", 'subject:"!neg.x"', 'subject:"!neg.x".>'),
        ("a b", 'subject:"a b"', 'subject:"a b".>'),
        ("a.*", 'subject:"a.*"', 'subject:"a.*".>'),
        ("/re/", 'subject:"/re/"', 'subject:"/re/".>'),
        ("key:1", 'subject:"key:1"', 'subject:"key:1".>'),
        ('"q', 'subject:"\\"q"', 'subject:"\\"q".>'),
        ("e\x1b]0;t\x07", 'subject:"e\\x1b]0;t\\x07"', 'subject:"e\\x1b]0;t\\x07".>'),
    ],
)
def test_subject_term_quotes_only_when_needed(subject: str, exact: str, below: str) -> None:
    assert subject_term(subject) == exact
    assert subject_term(subject, below=True) == below
    assert exact.isprintable() and below.isprintable()  # safe to show in the filter bar


subject_chars = st.characters(blacklist_categories=("Cs",))
subjects = st.lists(st.text(subject_chars, min_size=1, max_size=6), min_size=1, max_size=4).map(
    ".".join
)


@given(subjects, subjects)
def test_subject_term_names_exactly_its_subject(subject: str, other: str) -> None:
    exact = parse_filter(subject_term(subject))
    below = parse_filter(subject_term(subject, below=True))
    assert exact(ev(subject))
    assert not below(ev(subject))
    assert below(ev(f"{subject}.tail"))
    assert exact(ev(other)) == (other == subject)
    tail = other[len(subject) + 1 :]
    assert below(ev(other)) == (other.startswith(f"{subject}.") and "" not in tail.split("."))
