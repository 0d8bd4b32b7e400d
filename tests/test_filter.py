"""Subject wildcards and the filter language."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evmon.filter as filter_module
from evmon.filter import Filter, FilterError, parse_filter, subject_matches
from evmon.model import Event


def ev(
    subject: str = "orders.eu.created",
    payload: bytes | None = b'{"id": 7, "status": "Paid", "items": [{"sku": "A-1"}]}',
    **kw: object,
) -> Event:
    return Event(kw.pop("source", "nats"), subject, payload, 0.0, **kw)  # type: ignore[arg-type]


def matches(expr: str, event: Event) -> bool:
    return parse_filter(expr)(event)


# --------------------------------------------------------------------------- subjects


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("orders.*.created", "orders.eu.created", True),
        ("orders.*.created", "orders.eu.x.created", False),
        ("orders.*.created", "orders.created", False),
        ("orders.>", "orders.eu", True),
        ("orders.>", "orders.eu.created.v2", True),
        ("orders.>", "orders", False),
        ("orders.>", "ordersx.eu", False),
        ("orders.>", "orders.", False),
        ("orders", "orders", True),
        ("orders", "orders.eu", False),
        ("orders", "order", False),
        ("*", "orders", True),
        ("*", "orders.eu", False),
        (">", "orders", True),
        (">", "a.b.c", True),
        ("*.*", "a.b", True),
        ("*.>", "a", False),
        ("*.>", "a.b.c", True),
        ("a.*.>", "a.b.c", True),
        ("a.*.>", "a.b", False),
        ("ord*", "ord*", True),  # a wildcard inside a token is a literal, as in NATS
        ("ord*", "orders", False),
        ("a.>.b", "a.>.b", True),  # '>' that is not last is a literal too
        ("a.>.b", "a.x.b", False),
        ("a+b.c", "a+b.c", True),  # regex metacharacters are literal
        ("pay-ments_v1", "pay-ments_v1", True),  # Kafka topic names
        ("pay-*", "pay-ments", False),
        ("$JS.API.>", "$JS.API.STREAM.INFO", True),
        ("orders.*", "orders.\n", True),
        ("orders.>", "orders..x", False),  # wildcards never stand for an empty token
        ("orders.>", "orders.x.", False),
        ("orders.*.x", "orders..x", False),
        ("a..b", "a..b", True),  # literal empty tokens (Kafka allows them) still match
    ],
)
def test_subject_matches(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def reference_match(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">" and i == len(p) - 1:
            return len(s) > i and all(s[i:])
        if i >= len(s):
            return False
        if tok == "*":
            if not s[i]:
                return False
        elif tok != s[i]:
            return False
    return len(s) == len(p)


tokens = st.sampled_from(["a", "b", "orders", "*", ">", ""])


@settings(max_examples=500)
@given(
    st.lists(tokens, min_size=1, max_size=5).map(".".join),
    st.lists(st.sampled_from(["a", "b", "orders", ""]), min_size=1, max_size=5).map(".".join),
)
def test_subject_matches_agrees_with_token_rules(pattern: str, subject: str) -> None:
    assert subject_matches(pattern, subject) is reference_match(pattern, subject)


# --------------------------------------------------------------------------- terms


def test_empty_filter_matches_everything() -> None:
    for expr in ("", "   ", "\t\n"):
        f = parse_filter(expr)
        assert f.is_empty
        assert f(ev(payload=None))
        assert f.expr == expr
    assert not parse_filter("orders.>").is_empty


def test_subject_terms_or_together() -> None:
    f = parse_filter("orders.*.created payments")
    assert f(ev("orders.eu.created"))
    assert f(ev("payments"))
    assert not f(ev("orders.eu.cancelled"))
    assert not f(ev("payments.eu"))


def test_negated_subject_terms_and_together() -> None:
    assert not matches("!orders.>", ev("orders.eu"))
    assert matches("!orders.>", ev("users.1"))
    f = parse_filter("!orders.> !users.*")
    assert not f(ev("users.1"))
    assert not f(ev("orders.x"))
    assert f(ev("audit"))
    f = parse_filter("orders.> !orders.us.>")
    assert f(ev("orders.eu.created"))
    assert not f(ev("orders.us.created"))
    assert not f(ev("users.1"))


def test_subject_and_other_terms_and_together() -> None:
    f = parse_filter("orders.> users.> text:paid")
    assert f(ev("orders.eu"))
    assert f(ev("users.1"))
    assert not f(ev("users.1", b"nothing"))
    assert not f(ev("audit"))


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ('"paid"', b'{"status": "PAID"}', True),
        ("text:PaId", b'{"status": "paid"}', True),
        ('"status\\": \\"paid"', b'{"status": "PAID"}', True),  # escaped quotes inside
        ('"two words"', b"we have two  words", False),
        ('"two words"', b"we have TWO WORDS", True),
        ('text:"two words"', b"two words", True),
        ("text:grüße", "GRÜSSE und GRÜẞE".encode(), True),
        ("text:abc", b"\xffabc\xfe", True),  # not UTF-8: decoded with replacement
        ("text:abc", None, False),  # a tombstone contains nothing
        ("!text:abc", None, True),
        ("text:abc", b"", False),
    ],
)
def test_text_terms(expr: str, payload: bytes | None, expected: bool) -> None:
    assert matches(expr, ev(payload=payload)) is expected


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("/id.: \\d+/", b'{"id": 7}', True),
        ("/^\\{/", b'{"id": 7}', True),
        ("/^id/", b'{"id": 7}', False),  # search, not match: but anchored here
        ("/PAID/", b"paid", False),
        ("/PAID/i", b"paid", True),
        ("/a\\/b/", b"x a/b y", True),  # an escaped slash inside
        ("/two words/", b"two words", True),
        ("/\\x00/", b"a\x00b", True),
        ("/./", None, False),
        ("!/./", None, True),
    ],
)
def test_regex_terms(expr: str, payload: bytes | None, expected: bool) -> None:
    assert matches(expr, ev(payload=payload)) is expected


def test_key_terms() -> None:
    keyed = ev(source="kafka", key=b"user-7", partition=0, offset=1)
    assert matches("key:user-7", keyed)
    assert not matches("key:user-8", keyed)
    assert not matches("key:USER-7", keyed)  # keys compare exactly
    assert matches("!key:user-8", keyed)
    assert not matches("key:user-7", ev())  # no key
    assert matches('key:""', ev(key=b""))
    assert matches('key:"a b"', ev(key=b"a b"))
    assert matches("key:é", ev(key="é".encode()))


def test_header_terms() -> None:
    e = ev(headers=(("trace", b"1"), ("trace", b"2"), ("bin", b"\xff"), ("empty", b"")))
    assert matches("header:trace", e)
    assert matches("header:trace=1", e)
    assert matches("header:trace=2", e)  # any of the repeats
    assert not matches("header:trace=3", e)
    assert not matches("header:Trace", e)  # names are case-sensitive, as on the wire
    assert matches("header:empty=", e)
    assert matches('header:empty=""', e)
    assert matches("!header:missing", e)
    assert not matches("header:bin=x", e)
    assert matches('header:trace="1"', e)
    assert matches("header:x==y", ev(headers=(("x", b"=y"),)))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("json:id=7", True),
        ("json:id=7.0", True),
        ("json:id=8", False),
        ('json:id="7"', False),  # quoted: always a string
        ("json:status=Paid", True),  # unquoted non-JSON: a string
        ("json:status=paid", False),
        ('json:status="Paid"', True),
        ("json:items.0.sku=A-1", True),
        ("json:items.-1.sku=A-1", True),
        ("json:items.1.sku=A-1", False),
        ("json:items.sku=A-1", False),
        ("json:id.x=1", False),
        ("json:flag=true", True),
        ("json:one=true", False),  # 1 is not true
        ("json:flag=1", False),
        ("json:none=null", True),
        ("json:missing=null", False),  # absent is not null
        ("json:nested.0=1", True),
        ("json:nested.1=2", True),
        ('json:str="a b"', True),
        ("json:obj.k=v", True),
        ("json:obj.0=zero", True),  # a numeric step also names a key
        ("!json:id=8", True),
    ],
)
def test_json_terms(expr: str, expected: bool) -> None:
    payload = (
        b'{"id": 7, "status": "Paid", "items": [{"sku": "A-1"}], "flag": true, "one": 1,'
        b' "none": null, "nested": [1, 2], "str": "a b", "obj": {"k": "v", "0": "zero"}}'
    )
    assert matches(expr, ev(payload=payload)) is expected


def test_json_terms_on_non_json() -> None:
    for payload in (b"not json", None, b"", b"\xff"):
        assert not matches("json:id=7", ev(payload=payload))
        assert matches("!json:id=7", ev(payload=payload))
    assert matches("json:0=1", ev(payload=b"[1, 2]"))


def test_partition_source_stream_terms() -> None:
    k = ev(source="kafka", partition=3, offset=10)
    js = ev(stream="ORDERS", offset=5)
    assert matches("partition:3", k)
    assert not matches("partition:2", k)
    assert not matches("partition:3", js)
    assert matches("source:kafka", k)
    assert not matches("source:kafka", js)
    assert matches("source:nats", js)
    assert matches("!source:nats", k)
    assert matches("stream:ORDERS", js)
    assert not matches("stream:orders", js)
    assert not matches("stream:ORDERS", k)


def test_everything_together() -> None:
    f = parse_filter('orders.*.created !orders.us.* source:nats text:paid json:id=7 "sku"')
    assert f(ev())
    assert not f(ev("orders.us.created"))
    assert not f(ev(source="kafka"))
    assert not f(ev(payload=b'{"id": 8, "status": "paid", "sku": 1}'))


def test_matches_many_keeps_order() -> None:
    events = [ev(f"orders.{i}.created") for i in range(5)] + [ev("users.1")]
    f = parse_filter("orders.*.created !orders.2.created")
    assert f.matches_many(events) == [events[i] for i in (0, 1, 3, 4)]
    assert parse_filter("").matches_many(iter(events)) == events
    assert isinstance(f, Filter)
    assert repr(f) == "Filter('orders.*.created !orders.2.created')"


def test_subject_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filter_module, "_SUBJECT_CACHE_SIZE", 10)
    f = parse_filter("orders.* !orders.x")
    for round_ in range(3):
        for i in range(50):
            assert f(ev(f"orders.{i}"))
            assert not f(ev(f"users.{i}"))
        assert not f(ev("orders.x")), round_


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("expr", "position", "term", "reason"),
    [
        ("abc json:", 4, "json:", "expected json:path.to.field=VALUE"),
        ("json:a", 0, "json:a", "expected json:path.to.field=VALUE"),
        ("json:a..b=1", 0, "json:a..b=1", "empty step"),
        ("json:a=", 0, "json:a=", 'json:a=""'),
        ("orders.> foo:bar", 9, "foo:bar", "unknown prefix 'foo:'"),
        ("x /a(/ y", 2, "/a(/", "invalid regex"),
        ("/abc", 0, "/abc", "unterminated /regex/"),
        ("//", 0, "//", "empty /regex/"),
        ("/a/x", 0, "/a/x", "expected a space"),
        ('a "unclosed text', 2, '"unclosed text', "unterminated quote"),
        ('"a"b', 0, '"a"b', "expected a space"),
        ("a.>.b", 0, "a.>.b", "'>' must be the last token"),
        ("text:", 0, "text:", "expected text:WORD"),
        ("key:", 0, "key:", "expected key:VALUE"),
        ("header:", 0, "header:", "expected header:NAME"),
        ("header:=x", 0, "header:=x", "expected header:NAME"),
        ("partition:x", 0, "partition:x", "N a number"),
        ("partition:-1", 0, "partition:-1", "N a number"),
        ("partition:\u0661", 0, "partition:\u0661", "N a number"),
        ("source:redis", 0, "source:redis", "source:nats or source:kafka"),
        ("stream:", 0, "stream:", "expected stream:NAME"),
        ("a !", 2, "!", "expected a term after '!'"),
        ("! a", 0, "!", "expected a term after '!'"),
        ("!!a", 0, "!!a", "double negation"),
        ('text:"a"b', 0, 'text:"a"b', "expected a space"),
    ],
)
def test_errors_point_at_the_term(expr: str, position: int, term: str, reason: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(expr)
    err = info.value
    assert (err.position, err.term) == (position, term)
    assert reason in str(err)
    assert str(err).startswith(f"bad filter term {term!r} at column {position + 1}: ")
    assert isinstance(err, ValueError)


def test_error_message_and_caret() -> None:
    with pytest.raises(FilterError) as info:
        parse_filter("orders.> json:")
    assert str(info.value) == (
        "bad filter term 'json:' at column 10: expected json:path.to.field=VALUE"
    )
    assert info.value.caret() == "orders.> json:\n         ^"
    with pytest.raises(FilterError) as info:
        parse_filter("a\tfoo:x")
    assert info.value.caret() == "a\tfoo:x\n \t^"
    assert "known: text, key, header, json, partition, source, stream" in str(info.value)


@settings(max_examples=1000)
@given(st.text() | st.text(alphabet='!"/\\:=.*> \tajsonkeyhdrtxp0-1i(){}[]+?'))
def test_parse_only_raises_filter_error(expr: str) -> None:
    try:
        f = parse_filter(expr)
    except FilterError as err:
        assert 0 <= err.position <= len(expr)
        assert err.caret().startswith(expr)
        return
    for e in (ev(), ev(payload=None), ev(payload=b"\xff\x00"), ev(key=b"k", partition=1)):
        assert f(e) in (True, False)
