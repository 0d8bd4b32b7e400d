"""The duplicate lens's parts: what an event's identity is, and which identities were seen.

    identity = parse_dedupe_key("json:order.id")     # or None: the defaults below
    seen = SeenIdentities()
    seen.check(("nats", "orders.created"), identity(ev))   # True: seen before on that subject

At-least-once delivery means a consumer gets some messages twice (a publisher that retried
after a timeout, a redelivery after a crash); a consumer that is not idempotent then acts
twice. An event's identity is what its producer meant to be unique: by default the
``Nats-Msg-Id`` header on NATS (what JetStream de-duplicates on) and the record key on Kafka.

Memory is bounded, and what is forgotten is said: each subject keeps its ``PER_SUBJECT``
most recently seen identities, and all subjects together at most ``TOTAL``; past that the
least recently seen identities of the subject that has been quiet longest are forgotten
first. A copy that arrives after its original was forgotten is not flagged (``forgotten``
counts the identities dropped). Identities longer than ``DIGEST_OVER`` bytes are kept as a
16-byte BLAKE2b digest, so a long header cannot grow memory.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from evmon.model import Event, Headers

__all__ = [
    "DEFAULT_KEY",
    "PROVENANCE_HEADER",
    "DedupeKeyError",
    "Identity",
    "SeenIdentities",
    "last_header",
    "parse_dedupe_key",
]

#: The header evmon's re-publish adds (``evmon.actions.republish.PROVENANCE_HEADER``; kept
#: here so the lens imports no broker client; a test checks the two agree).
PROVENANCE_HEADER = "evmon-replayed-from"
#: What ``--dedupe-key`` means when it is not given.
DEFAULT_KEY = "header:Nats-Msg-Id on NATS, the record key on Kafka"

#: Identities kept per subject or topic, and over all subjects together.
PER_SUBJECT = 50_000
TOTAL = 200_000
#: Identities longer than this are remembered by their digest.
DIGEST_OVER = 40

USAGE = (
    "--dedupe-key takes header:NAME (a header's value), json:path.to.field (a field of a "
    "JSON payload) or key (the Kafka key)"
)

SubjectKey = tuple[str, str]


class DedupeKeyError(ValueError):
    """A ``--dedupe-key`` that does not parse (one line: the usage)."""


class Identity:
    """An event's identity as ``--dedupe-key`` defines it: call it with an event; ``None``
    means the event has none (no such header, not JSON, no key) and is never a duplicate.
    ``fn`` is the same function without the method call (the lens's ingest loop uses it)."""

    __slots__ = ("fn", "spec")

    def __init__(self, spec: str | None, fn: Callable[[Event], bytes | None]) -> None:
        #: The ``--dedupe-key`` text, or None for the defaults.
        self.spec = spec
        #: The event's identity, digested when longer than ``DIGEST_OVER``.
        self.fn = fn

    def __call__(self, ev: Event) -> bytes | None:
        return self.fn(ev)

    def describe(self) -> str:
        return DEFAULT_KEY if self.spec is None else self.spec

    def __repr__(self) -> str:
        return f"Identity({self.spec!r})"


def _short(ident: bytes | None) -> bytes | None:
    """``ident`` as remembered: as-is, or its digest when it is long."""
    if ident is not None and len(ident) > DIGEST_OVER:
        return hashlib.blake2b(ident, digest_size=16).digest()
    return ident


def last_header(headers: Headers, name: str) -> bytes | None:
    """The last value of header ``name`` (``Event.header`` without the method call)."""
    found = None
    for n, v in headers:
        if n == name:
            found = v
    return found


def _default(ev: Event) -> bytes | None:
    if ev.source == "kafka":
        ident = ev.key
    else:
        headers = ev.headers
        if not headers:  # most core NATS messages: no headers to look through
            return None
        ident = last_header(headers, "Nats-Msg-Id")
    if ident is not None and len(ident) > DIGEST_OVER:
        return hashlib.blake2b(ident, digest_size=16).digest()
    return ident


def _by_key(ev: Event) -> bytes | None:
    return _short(ev.key)


def _by_header(name: str) -> Callable[[Event], bytes | None]:
    def ident(ev: Event) -> bytes | None:
        headers = ev.headers
        return _short(last_header(headers, name)) if headers else None

    return ident


def _json_path(raw: str) -> list[str | int]:
    path: list[str | int] = []
    for step in raw.split("."):
        if not step:
            raise DedupeKeyError(f"{USAGE} (empty step in json:{raw})")
        is_index = step.lstrip("-").isdigit() and step.isascii() and step.count("-") <= 1
        path.append(int(step) if is_index else step)
    return path


def _json_identity(path: list[str | int]) -> Callable[[Event], bytes | None]:
    def ident(ev: Event) -> bytes | None:
        payload = ev.payload
        if not payload:
            return None
        try:
            doc: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        for step in path:
            if isinstance(doc, dict):
                if str(step) not in doc:
                    return None
                doc = doc[str(step)]
            elif isinstance(doc, list) and isinstance(step, int) and -len(doc) <= step < len(doc):
                doc = doc[step]
            else:
                return None
        # As JSON, so 7 and "7" stay apart; sorted keys, so an object's order does not count.
        return _short(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))

    return ident


def parse_dedupe_key(spec: str | None) -> Identity:
    """``--dedupe-key``: ``header:NAME``, ``json:path.to.field``, ``key``, or None for the
    defaults (``Nats-Msg-Id`` on NATS, the key on Kafka). Raises DedupeKeyError."""
    if spec is None:
        return Identity(None, _default)
    if spec == "key":
        return Identity(spec, _by_key)
    kind, sep, rest = spec.partition(":")
    if sep and rest and kind == "header":
        return Identity(spec, _by_header(rest))
    if sep and rest and kind == "json":
        return Identity(spec, _json_identity(_json_path(rest)))
    raise DedupeKeyError(f"{USAGE} (got {spec!r})")


class SeenIdentities:
    """The identities seen per subject since start, within the bounds of the module doc."""

    __slots__ = ("_size", "_subjects", "forgotten", "per_subject", "total")

    def __init__(self, per_subject: int = PER_SUBJECT, total: int = TOTAL) -> None:
        self.per_subject = per_subject
        self.total = total
        #: Subjects, least recently active first; each its identities, least recent first.
        self._subjects: OrderedDict[SubjectKey, OrderedDict[bytes, None]] = OrderedDict()
        self._size = 0
        #: Identities dropped to stay within the bounds.
        self.forgotten = 0

    def __len__(self) -> int:
        return self._size

    def check(self, key: SubjectKey, ident: bytes) -> bool:
        """Whether ``ident`` was seen on ``key`` before; it is remembered from now on."""
        subjects = self._subjects
        seen = subjects.get(key)
        if seen is None:
            seen = subjects[key] = OrderedDict()
        else:
            subjects.move_to_end(key)
        if ident in seen:
            seen.move_to_end(ident)
            return True
        seen[ident] = None
        self._size += 1
        if len(seen) > self.per_subject:
            seen.popitem(last=False)
            self._size -= 1
            self.forgotten += 1
        while self._size > self.total:
            quiet_key, quiet = next(iter(subjects.items()))
            quiet.popitem(last=False)
            self._size -= 1
            self.forgotten += 1
            if not quiet:
                del subjects[quiet_key]
        return False
