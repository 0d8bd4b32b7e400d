"""Subject wildcards and the filter language of DESIGN.md.

A filter is parsed once into closures and then called per event, so parsing does all the
work that can be done ahead: regexes are compiled, JSON values decoded, subject patterns
turned into matchers whose verdict is cached per subject. Per event, the payload is decoded,
lower-cased or JSON-parsed at most once, and only when a term needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import regex

from evmon.model import Event
from evmon.regex_budget import BudgetExceeded, RegexBudget

if TYPE_CHECKING:
    from evmon.lenses import Lens

__all__ = [
    "Filter",
    "FilterError",
    "JsonPath",
    "RegexBudget",
    "parse_filter",
    "subject_matches",
    "subject_term",
]

from evmon.subjects import _PREFIX, _subject_matcher, _tokens_matcher, subject_matches, subject_term

# --------------------------------------------------------------------------- errors

PREFIXES = ("text", "key", "header", "json", "partition", "source", "stream", "subject")


class FilterError(ValueError):
    """A filter that does not parse, with where it failed so the UI can point at it."""

    def __init__(self, expr: str, position: int, term: str, reason: str) -> None:
        self.expr = expr
        self.position = position
        self.term = term
        self.reason = reason
        super().__init__(f"bad filter term {term!r} at column {position + 1}: {reason}")

    def caret(self) -> str:
        """The expression with a ``^`` under the failing column (tabs kept for alignment)."""
        pad = "".join("\t" if c == "\t" else " " for c in self.expr[: self.position])
        return f"{self.expr}\n{pad}^"


# --------------------------------------------------------------------------- terms

#: What a term reads. The filter computes each input at most once per event and runs the
#: cheap stages first, so a subject mismatch never decodes a payload.
_EVENT, _TEXT, _LOWER, _JSON = range(4)

_MISSING = object()

Pred = Callable[[Any], bool]
#: A ``json:`` term's path: object keys, and list indexes as ints.
JsonPath = tuple[str | int, ...]


class _Term:
    __slots__ = ("input", "negated", "pred")

    def __init__(self, input: int, pred: Pred) -> None:
        self.input = input
        self.pred = pred
        self.negated = False

    def compiled(self) -> Pred:
        pred = self.pred
        if self.negated:
            return lambda x: not pred(x)
        return pred


def _text_term(needle: str) -> _Term:
    low = needle.lower()
    return _Term(_LOWER, lambda hay: hay is not None and low in hay)


def _regex_term(pattern: Any, budget: RegexBudget, term: str) -> _Term:
    search = budget.search
    return _Term(_TEXT, lambda text: text is not None and search(pattern, text, term))


def _key_term(value: bytes) -> _Term:
    return _Term(_EVENT, lambda ev: ev.key == value)


def _header_term(name: str, value: bytes | None) -> _Term:
    if value is None:
        return _Term(_EVENT, lambda ev: any(n == name for n, _ in ev.headers))
    pair = (name, value)
    return _Term(_EVENT, lambda ev: pair in ev.headers)


def _json_equals(expected: Any) -> Callable[[Any], bool]:
    # Python says True == 1 and 1 == 1.0; JSON users mean booleans and numbers apart.
    if expected is None:
        return lambda v: v is None
    if isinstance(expected, bool):
        return lambda v: v is expected
    if isinstance(expected, int | float):
        return lambda v: type(v) in (int, float) and v == expected
    kind = type(expected)
    return lambda v: type(v) is kind and v == expected


def _json_term(path: list[str | int], expected: Any) -> _Term:
    equals = _json_equals(expected)

    def pred(doc: Any) -> bool:
        for step in path:
            if isinstance(doc, dict):
                doc = doc.get(str(step), _MISSING)
            elif isinstance(doc, list) and isinstance(step, int):
                if not -len(doc) <= step < len(doc):
                    return False
                doc = doc[step]
            else:
                return False
        return doc is not _MISSING and equals(doc)

    return _Term(_JSON, pred)


# --------------------------------------------------------------------------- parser

_SPACE = frozenset(" \t\n\r\f\v")
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "t": "\t", "n": "\n", "r": "\r"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX = frozenset("0123456789abcdefABCDEF")


class _Parser:
    """A hand-written scanner: quoting and ``/regex/`` need more than str.split()."""

    def __init__(self, expr: str, lens: Lens | None = None) -> None:
        self.expr = expr
        self.lens = lens
        self.i = 0
        self.positive_subjects: list[Callable[[str], bool]] = []
        self.negative_subjects: list[Callable[[str], bool]] = []
        self.terms: list[_Term] = []
        self.budget: RegexBudget | None = None
        self.json_paths: dict[str, JsonPath] = {}

    def fail(self, start: int, reason: str, end: int | None = None) -> FilterError:
        if end is None:
            end = self._word_end(start)
        return FilterError(self.expr, start, self.expr[start:end] or self.expr[start:], reason)

    def _word_end(self, i: int) -> int:
        expr, n = self.expr, len(self.expr)
        while i < n and expr[i] not in _SPACE:
            i += 1
        return i

    def parse(self) -> None:
        expr, n = self.expr, len(self.expr)
        while True:
            while self.i < n and expr[self.i] in _SPACE:
                self.i += 1
            if self.i >= n:
                return
            self.term()

    def term(self) -> None:
        start = self.i
        negated = False
        if self.expr[start] == "!":
            negated = True
            self.i += 1
            if self.i >= len(self.expr) or self.expr[self.i] in _SPACE:
                raise self.fail(start, "expected a term after '!'")
        if self.expr[self.i] == "!":
            raise self.fail(start, "double negation: drop the '!!'")
        begin = self.i
        ch = self.expr[begin]
        term: _Term | None
        if ch == '"':
            term = _text_term(self.quoted(start))
        elif ch == "/":
            term = self.regex(start)
        elif (word := self.expr[begin : self._word_end(begin)]) in ("dup", "drift"):
            term = self.lens_term(start, word)
        else:
            m = _PREFIX.match(self.expr, begin)
            if m is not None and m.group(1) == "subject":
                term = None
                self.i = m.end()
                self.quoted_subject(start, negated)
            elif m is not None:
                term = self.prefixed(start, m.group(1), m.end())
            else:
                term = None
                self.subject(start, negated)
        self.end_of_term(start)
        if term is not None:
            term.negated = negated
            self.terms.append(term)

    def lens_term(self, start: int, word: str) -> _Term:
        """``dup`` / ``drift``: the verdicts of ``evmon.lenses`` (judged on ingest)."""
        if self.lens is None:
            raise self.fail(start, f"'{word}' is judged on live events (tail, the dashboard)")
        self.i += len(word)
        return _Term(_EVENT, self.lens.matcher(word))

    def end_of_term(self, start: int) -> None:
        if self.i < len(self.expr) and self.expr[self.i] not in _SPACE:
            raise self.fail(start, "expected a space after the term")

    def quoted(self, start: int) -> str:
        """A ``"..."`` string at self.i, where ``\\"`` and ``\\\\`` are escapes."""
        expr, n = self.expr, len(self.expr)
        i = self.i + 1
        out: list[str] = []
        while i < n:
            c = expr[i]
            if c == "\\" and i + 1 < n:
                out.append(expr[i + 1])
                i += 2
            elif c == '"':
                self.i = i + 1
                return "".join(out)
            else:
                out.append(c)
                i += 1
        raise self.fail(start, "unterminated quote", end=n)

    def value(self, start: int, *, stop: str = "") -> tuple[str, bool]:
        """A word or a quoted string; the bool says it was quoted."""
        if self.i < len(self.expr) and self.expr[self.i] == '"':
            return self.quoted(start), True
        begin = self.i
        expr, n = self.expr, len(self.expr)
        i = begin
        while i < n and expr[i] not in _SPACE and expr[i] not in stop:
            i += 1
        self.i = i
        return expr[begin:i], False

    def regex(self, start: int) -> _Term:
        expr, n = self.expr, len(self.expr)
        i = self.i + 1
        while i < n and expr[i] != "/":
            i += 2 if expr[i] == "\\" else 1
        if i >= n:
            raise self.fail(start, "unterminated /regex/", end=n)
        body = expr[self.i + 1 : i]
        i += 1
        flags = regex.VERSION0  # the syntax and semantics of Python's re
        if i < n and expr[i] == "i":
            flags |= regex.IGNORECASE
            i += 1
        self.i = i
        self.end_of_term(start)
        if not body:
            raise self.fail(start, "empty /regex/")
        try:
            compiled = regex.compile(body, flags)
        except (regex.error, OverflowError, RecursionError, ValueError) as err:
            raise self.fail(start, f"invalid regex: {err}", end=i) from None
        if self.budget is None:
            self.budget = RegexBudget()
        return _regex_term(compiled, self.budget, self.expr[start:i])

    def subject(self, start: int, negated: bool) -> None:
        begin = self.i
        end = self._word_end(begin)
        pattern = self.expr[begin:end]
        self.i = end
        tokens = pattern.split(".")
        if ">" in tokens[:-1]:
            raise self.fail(start, "'>' must be the last token of a subject pattern")
        matcher = _subject_matcher(pattern)
        (self.negative_subjects if negated else self.positive_subjects).append(matcher)

    def quoted_subject(self, start: int, negated: bool) -> None:
        """``subject:PATTERN``: a subject term in which ``"..."`` parts are literal, so any
        subject can be named (one that starts with ``!`` or ``/``, holds a space, a ``*`` or
        ``>`` token or control characters). Unquoted parts follow the wildcard rules:
        ``subject:"!neg".>`` is every subject below ``!neg``."""
        expr, n = self.expr, len(self.expr)
        i = self.i
        text: list[str] = []
        literal: list[bool] = []  # per character of text: it was quoted
        while i < n and expr[i] not in _SPACE:
            if expr[i] != '"':
                text.append(expr[i])
                literal.append(False)
                i += 1
                continue
            i += 1
            while True:
                if i >= n:
                    raise self.fail(start, "unterminated quote", end=n)
                c = expr[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    c, i = self._subject_escape(start, i)
                else:
                    i += 1
                text.append(c)
                literal.append(True)
        self.i = i
        pattern = "".join(text)
        if not pattern:
            raise self.fail(start, 'expected subject:NAME or subject:"NAME"')
        tokens = pattern.split(".")
        wild: list[int] = []
        at = 0
        for k, tok in enumerate(tokens):
            if tok in ("*", ">") and not literal[at]:
                if tok == ">" and k < len(tokens) - 1:
                    raise self.fail(start, "'>' must be the last token of a subject pattern")
                wild.append(k)
            at += len(tok) + 1
        matcher = _tokens_matcher(pattern, tuple(wild))
        (self.negative_subjects if negated else self.positive_subjects).append(matcher)

    def _subject_escape(self, start: int, i: int) -> tuple[str, int]:
        """The character of the escape at ``i`` (a backslash) in a quoted subject, and the
        index after it: ``\\\\`` ``\\"`` ``\\t`` ``\\n`` ``\\r`` ``\\xHH`` ``\\uHHHH``
        ``\\UHHHHHHHH``, the escapes the event list shows control characters with."""
        expr = self.expr
        kind = expr[i + 1 : i + 2]
        if kind in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[kind], i + 2
        width = _HEX_ESCAPES.get(kind)
        digits = expr[i + 2 : i + 2 + width] if width else ""
        if not width or len(digits) != width or not all(d in _HEX for d in digits):
            raise self.fail(
                start, 'bad escape in a quoted subject (use \\\\ \\" \\xHH \\uHHHH)', end=i + 2
            )
        code = int(digits, 16)
        if code > 0x10FFFF:
            raise self.fail(start, "escape beyond U+10FFFF in a quoted subject", end=i + 2)
        return chr(code), i + 2 + width

    def prefixed(self, start: int, prefix: str, after: int) -> _Term:
        self.i = after
        if prefix == "text":
            text, quoted = self.value(start)
            if not text:
                raise self.fail(start, 'expected text:WORD or text:"some words"')
            return _text_term(text)
        if prefix == "key":
            text, quoted = self.value(start)
            if not text and not quoted:
                raise self.fail(start, 'expected key:VALUE (key:"" for an empty key)')
            return _key_term(text.encode("utf-8", "surrogatepass"))
        if prefix == "header":
            name, _ = self.value(start, stop="=")
            if not name:
                raise self.fail(start, "expected header:NAME or header:NAME=VALUE")
            if self.i < len(self.expr) and self.expr[self.i] == "=":
                self.i += 1
                text, _ = self.value(start)
                return _header_term(name, text.encode("utf-8", "surrogatepass"))
            return _header_term(name, None)
        if prefix == "json":
            return self.json(start)
        if prefix == "partition":
            text, _ = self.value(start)
            if not (text.isascii() and text.isdigit()):
                raise self.fail(start, "expected partition:N with N a number")
            number = int(text)
            return _Term(_EVENT, lambda ev: ev.partition == number)
        if prefix == "source":
            text, _ = self.value(start)
            if text not in ("nats", "kafka"):
                raise self.fail(start, "expected source:nats or source:kafka")
            return _Term(_EVENT, lambda ev: ev.source == text)
        if prefix == "stream":
            text, _ = self.value(start)
            if not text:
                raise self.fail(start, "expected stream:NAME")
            return _Term(_EVENT, lambda ev: ev.stream == text)
        raise self.fail(start, f"unknown prefix '{prefix}:' (known: {', '.join(PREFIXES)})")

    def json(self, start: int) -> _Term:
        usage = "expected json:path.to.field=VALUE"
        raw_path, _ = self.value(start, stop="=")
        if not raw_path or self.i >= len(self.expr) or self.expr[self.i] != "=":
            raise self.fail(start, usage)
        path: list[str | int] = []
        for step in raw_path.split("."):
            if not step:
                raise self.fail(start, f"{usage} (empty step in the path)")
            is_index = step.lstrip("-").isdigit() and step.isascii() and step.count("-") <= 1
            path.append(int(step) if is_index else step)
        self.i += 1
        self.json_paths.setdefault(raw_path, tuple(path))
        text, quoted = self.value(start)
        expected: Any = text
        if not quoted:
            if not text:
                raise self.fail(start, f'{usage} (json:{raw_path}="" for an empty string)')
            try:
                expected = orjson.loads(text)
            except orjson.JSONDecodeError:
                expected = text
        return _json_term(path, expected)


# --------------------------------------------------------------------------- filter


def _match_all(ev: Event) -> bool:
    return True


class Filter:
    """A parsed filter: call it with an event. Build it with parse_filter().

    ``predicate`` is the compiled function itself, for loops that want to skip the
    ``__call__`` hop (about a tenth of a simple filter's cost).
    """

    __slots__ = ("budget", "expr", "is_empty", "json_paths", "predicate")

    def __init__(
        self,
        expr: str,
        predicate: Callable[[Event], bool] | None = None,
        budget: RegexBudget | None = None,
        json_paths: Sequence[tuple[str, JsonPath]] = (),
    ) -> None:
        self.expr = expr
        self.is_empty = predicate is None
        self.predicate: Callable[[Event], bool] = predicate or _match_all
        #: Set when the filter has ``/regex/`` terms: how many events they could not decide.
        self.budget = budget
        #: The fields its ``json:`` terms look at, as typed and as steps, in order and once
        #: each (negated ones too): the event list shows them first in the preview.
        self.json_paths = tuple(json_paths)

    def __call__(self, ev: Event) -> bool:
        return self.predicate(ev)

    def matches_many(self, events: Iterable[Event]) -> list[Event]:
        """The events that match, in order (the UI refilters the whole store with this)."""
        if self.is_empty:
            return list(events)
        pred = self.predicate
        return [ev for ev in events if pred(ev)]

    def __repr__(self) -> str:
        return f"Filter({self.expr!r})"


#: Subjects seen by one filter whose verdict is remembered; past this the cache restarts,
#: which bounds memory when subjects carry ids (``orders.<uuid>``).
_SUBJECT_CACHE_SIZE = 50_000


def _subject_stage(
    positive: list[Callable[[str], bool]], negative: list[Callable[[str], bool]]
) -> Callable[[str], bool]:
    cache: dict[str, bool] = {}

    def check(subject: str) -> bool:
        verdict = cache.get(subject)
        if verdict is None:
            verdict = (not positive or any(m(subject) for m in positive)) and not any(
                m(subject) for m in negative
            )
            if len(cache) >= _SUBJECT_CACHE_SIZE:
                cache.clear()
            cache[subject] = verdict
        return verdict

    return check


def _compile(parser: _Parser) -> Callable[[Event], bool] | None:
    subject_ok = (
        _subject_stage(parser.positive_subjects, parser.negative_subjects)
        if parser.positive_subjects or parser.negative_subjects
        else None
    )
    stages: dict[int, list[Pred]] = {_EVENT: [], _TEXT: [], _LOWER: [], _JSON: []}
    for term in parser.terms:
        stages[term.input].append(term.compiled())
    on_event, on_text, on_lower, on_json = (
        tuple(stages[k]) for k in (_EVENT, _TEXT, _LOWER, _JSON)
    )
    needs_text = bool(on_text or on_lower)

    if subject_ok is None and not (on_event or needs_text or on_json):
        return None
    if not (on_event or needs_text or on_json):
        assert subject_ok is not None
        check = subject_ok
        return lambda ev: check(ev.subject)

    def predicate(ev: Event) -> bool:
        if subject_ok is not None and not subject_ok(ev.subject):
            return False
        for p in on_event:
            if not p(ev):
                return False
        payload = ev.payload
        if needs_text:
            text = None if payload is None else payload.decode("utf-8", "replace")
            try:
                for p in on_text:
                    if not p(text):
                        return False
            except BudgetExceeded:  # counted in the budget; never shown as a match
                return False
            if on_lower:
                lower = None if text is None else text.lower()
                for p in on_lower:
                    if not p(lower):
                        return False
        if on_json:
            doc: Any
            try:
                doc = orjson.loads(payload) if payload else _MISSING
            except orjson.JSONDecodeError:
                doc = _MISSING
            for p in on_json:
                if not p(doc):
                    return False
        return True

    return predicate


def parse_filter(expr: str, lens: Lens | None = None) -> Filter:
    """Parse the filter language of DESIGN.md; raises FilterError pointing at the bad term.

    Subject terms OR together, negated subject terms each exclude, everything else ANDs.
    An empty (or all-space) expression matches every event. ``dup`` and ``drift`` read
    ``lens``'s verdicts (without one they are an error; ``subject:dup`` names a subject).
    """
    parser = _Parser(expr, lens)
    parser.parse()
    return Filter(expr, _compile(parser), parser.budget, tuple(parser.json_paths.items()))
