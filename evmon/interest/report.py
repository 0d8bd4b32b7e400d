"""Who listens, per subject: the rows of ``evmon interest`` and of the interest screen.

    report = interest_report(traffic, before, after, patterns=["user.>"], own={(sid, cid)})
    report.rows          # InterestRow per subject: msgs, subscribers, queues, issue, near
    report.queues        # QueueSplit per queue group: how the window's messages split
    report.slow          # SlowClient: pending bytes grew, or closed as a slow consumer

Pure: the traffic (messages per subject seen in the window) and two snapshots of the
subscription table (``evmon.interest.table``, at the window's start and end) go in, rows
come out, so every rule below is unit-tested without a server.

- One row per subject that had traffic or has a subscription (matching a watched pattern).
  ``subscribers`` counts the plain subscriptions whose subject matches the row's subject
  (wildcards as the server applies them), ``queues`` the queue groups and their members.
- ``no-subscriber``: traffic and nobody listens, so the server dropped every message.
  ``no-traffic``: a subscription nothing was published to in the window. Either becomes
  ``near-miss`` when a live subject is nearly the same (``near`` names it): equal but for
  case (``User.Created`` / ``user.created``), or one token spelled slightly differently
  (``user.create`` / ``user.created``, ``users`` / ``user``). A token that differs a lot is
  another subject (``orders.paid`` is no typo of ``orders.created``), so it is no near miss.
- evmon's own subscriptions never count: those of its connection (server id and cid) and
  of any connection named ``evmon`` (a dashboard listening on ``>`` elsewhere).
- Reply inboxes (``_INBOX.``) and the server's own ``$``-subjects (``$SYS.``, ``$JS.API.``)
  get no row unless a watched pattern names them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from evmon.interest.table import EVMON_CONNECTION_NAME, Subscription, TableSnapshot
from evmon.subjects import subject_matches

__all__ = [
    "ISSUES",
    "InterestReport",
    "InterestRow",
    "QueueMember",
    "QueueSplit",
    "SlowClient",
    "interest_report",
    "is_near",
    "patterns_overlap",
]

Issue = Literal["no-subscriber", "no-traffic", "near-miss"]
ISSUES: tuple[Issue, ...] = ("no-subscriber", "no-traffic", "near-miss")
#: Subject prefixes that are plumbing, not events: shown only when a pattern names them.
HIDDEN_PREFIXES = ("_INBOX.", "$")


@dataclass(frozen=True, slots=True)
class InterestRow:
    """One subject: the interest record of DESIGN.md (``to_record``)."""

    subject: str
    msgs: int
    subscribers: int
    queues: Mapping[str, int] = field(default_factory=dict)
    issue: Issue | None = None
    near: tuple[str, ...] = ()
    #: the names of the clients behind the plain subscriptions (table and screen only)
    clients: tuple[str, ...] = ()

    @property
    def dropped(self) -> bool:
        """Traffic that nobody received: the server dropped it."""
        return self.msgs > 0 and not self.subscribers and not self.queues

    def to_record(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "msgs": self.msgs,
            "subscribers": self.subscribers,
            "queues": dict(sorted(self.queues.items())),
            "issue": self.issue,
            "near": list(self.near),
        }


@dataclass(frozen=True, slots=True)
class QueueMember:
    client: str
    server_id: str
    cid: int
    #: messages the member received in the window (its subscription's msgs count delta)
    msgs: int


@dataclass(frozen=True, slots=True)
class QueueSplit:
    """How one queue group (a subject and a group name) shared the window's messages."""

    subject: str
    group: str
    members: tuple[QueueMember, ...]

    @property
    def total(self) -> int:
        return sum(m.msgs for m in self.members)

    @property
    def verdict(self) -> str | None:
        """``single member`` (no spare if it stalls), ``uneven`` (a member gets less than
        half its fair share), else None."""
        if len(self.members) == 1:
            return "single member"
        fair = self.total / len(self.members)
        if self.total >= 2 * len(self.members) and min(m.msgs for m in self.members) < fair / 2:
            return "uneven"
        return None

    def describe(self) -> str:
        """``orders.created workers: 2 members: billing-1 7, billing-2 3 (uneven)``."""
        n = len(self.members)
        who = ", ".join(f"{m.client} {m.msgs}" for m in self.members)
        note = f" ({self.verdict})" if self.verdict else ""
        return f"{self.subject} {self.group}: {n} member{'' if n == 1 else 's'}: {who}{note}"


@dataclass(frozen=True, slots=True)
class SlowClient:
    client: str
    why: str

    def describe(self) -> str:
        return f"{self.client}: {self.why}"


@dataclass(frozen=True, slots=True)
class InterestReport:
    rows: tuple[InterestRow, ...]
    queues: tuple[QueueSplit, ...] = ()
    slow: tuple[SlowClient, ...] = ()
    #: servers whose tables were merged
    servers: int = 0

    def records(self) -> list[dict[str, Any]]:
        return [r.to_record() for r in self.rows]


# --------------------------------------------------------------------------- subjects


def _wild(subject: str) -> bool:
    tokens = subject.split(".")
    return "*" in tokens or tokens[-1] == ">"


def patterns_overlap(a: str, b: str) -> bool:
    """Could one subject match both patterns (``orders.*`` and ``*.created``: yes)?"""
    ta, tb = a.split("."), b.split(".")
    for i in range(max(len(ta), len(tb))):
        x = ta[i] if i < len(ta) else None
        y = tb[i] if i < len(tb) else None
        if (x == ">" and i == len(ta) - 1) or (y == ">" and i == len(tb) - 1):
            return x is not None and y is not None  # ">" needs one token or more
        if x is None or y is None:
            return False
        if x != y and "*" not in (x, y):
            return False
    return True


def _shown(subject: str, patterns: Sequence[str]) -> bool:
    if not any(patterns_overlap(p, subject) for p in patterns):
        return False
    if subject.startswith(HIDDEN_PREFIXES):
        return any(p.startswith(HIDDEN_PREFIXES) for p in patterns)
    return True


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it passes ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def _similar_tokens(a: str, b: str) -> bool:
    """A token an operator could mistype for the other: ``create``/``created``,
    ``user``/``users``; short tokens must agree but for one letter added or removed."""
    if "*" in (a, b) or ">" in (a, b):
        return False
    shortest = min(len(a), len(b))
    if shortest < 3:
        return False
    limit = 1 if shortest <= 5 else 2
    if shortest <= 4 and len(a) == len(b):
        return False  # eu/us, paid/pain: different words of the same length
    return _edit_distance(a, b, limit) <= limit


def is_near(a: str, b: str) -> bool:
    """``a`` and ``b`` differ only by case, or by one slightly misspelled token (either
    may be a subscription's wildcard pattern)."""
    if a == b:
        return False
    la, lb = a.lower(), b.lower()
    if la == lb:
        return True
    if subject_matches(la, lb) or subject_matches(lb, la):
        # the same once case is ignored, and not the same with it
        return not (subject_matches(a, b) or subject_matches(b, a))
    ta, tb = la.split("."), lb.split(".")
    if len(ta) != len(tb):
        return False
    differ = [(x, y) for x, y in zip(ta, tb, strict=True) if x != y and "*" not in (x, y)]
    return len(differ) == 1 and _similar_tokens(*differ[0])


# --------------------------------------------------------------------------- rows


def _live(snapshot: TableSnapshot, own: Collection[tuple[str, int]]) -> list[Subscription]:
    out = []
    for sub in snapshot.subscriptions:
        if (sub.server_id, sub.cid) in own or sub.client == EVMON_CONNECTION_NAME:
            continue
        out.append(sub)
    return out


def _row(
    subject: str,
    traffic: Mapping[str, int],
    subs: Sequence[Subscription],
) -> InterestRow:
    if _wild(subject):
        msgs = sum(n for s, n in traffic.items() if subject_matches(subject, s))
    else:
        msgs = traffic.get(subject, 0)
    plain: list[str] = []
    queues: dict[str, set[tuple[str, int, str]]] = {}
    for sub in subs:
        if not subject_matches(sub.subject, subject):
            continue
        if sub.queue is None:
            plain.append(sub.label)
        else:
            queues.setdefault(sub.queue, set()).add(sub.key)
    groups = {q: len(m) for q, m in queues.items()}
    return InterestRow(subject, msgs, len(plain), groups, clients=tuple(sorted(set(plain))))


def _issue(row: InterestRow, subscribed: bool) -> Issue | None:
    if row.dropped:
        return "no-subscriber"
    if subscribed and row.msgs == 0:
        return "no-traffic"
    return None


def interest_report(
    traffic: Mapping[str, int],
    before: TableSnapshot | None,
    after: TableSnapshot,
    *,
    patterns: Sequence[str] = (">",),
    own: Collection[tuple[str, int]] = (),
) -> InterestReport:
    """The rows, queue splits and slow clients of one window (see the module doc)."""
    patterns = list(patterns) or [">"]
    subs = _live(after, own)
    listened = {s.subject for s in subs if _shown(s.subject, patterns)}
    seen = {s for s, n in traffic.items() if n and _shown(s, patterns)}
    rows: list[InterestRow] = []
    for subject in sorted(seen | listened):
        row = _row(subject, traffic, subs)
        issue = _issue(row, subject in listened)
        near: tuple[str, ...] = ()
        if issue == "no-subscriber":
            near = tuple(sorted(s for s in listened if is_near(subject, s)))
        elif issue == "no-traffic":
            near = tuple(sorted(s for s in seen if is_near(subject, s)))
        if near:
            issue = "near-miss"
        rows.append(
            InterestRow(
                row.subject, row.msgs, row.subscribers, row.queues, issue, near, row.clients
            )
        )
    return InterestReport(
        tuple(rows),
        tuple(_queue_splits(before, subs, patterns)),
        tuple(_slow_clients(before, after, own)),
        len(after.servers),
    )


def _queue_splits(
    before: TableSnapshot | None, subs: Iterable[Subscription], patterns: Sequence[str]
) -> Iterable[QueueSplit]:
    earlier = {s.key: s.msgs for s in before.subscriptions} if before else {}
    groups: dict[tuple[str, str], list[QueueMember]] = {}
    for sub in subs:
        if sub.queue is None or not _shown(sub.subject, patterns):
            continue
        delta = max(0, sub.msgs - earlier.get(sub.key, 0)) if before else sub.msgs
        groups.setdefault((sub.subject, sub.queue), []).append(
            QueueMember(sub.label, sub.server_id, sub.cid, delta)
        )
    for (subject, group), members in sorted(groups.items()):
        members.sort(key=lambda m: (m.client, m.server_id, m.cid))
        yield QueueSplit(subject, group, tuple(members))


def _slow_clients(
    before: TableSnapshot | None, after: TableSnapshot, own: Collection[tuple[str, int]]
) -> Iterable[SlowClient]:
    def mine(key: tuple[str, int], name: str) -> bool:
        return key in own or name == EVMON_CONNECTION_NAME

    if before is not None:
        for key, conn in sorted(after.connections.items()):
            was = before.connections.get(key)
            if mine(key, conn.name) or was is None:
                continue
            if conn.pending_bytes > was.pending_bytes:
                yield SlowClient(
                    conn.label,
                    f"pending bytes grew over the window ({was.pending_bytes} → "
                    f"{conn.pending_bytes}): its reader falls behind",
                )
    already = {(c.server_id, c.cid) for c in before.closed} if before else set()
    for closed in after.closed:
        key = (closed.server_id, closed.cid)
        if closed.slow_consumer and key not in already and not mine(key, closed.name):
            yield SlowClient(
                closed.name or f"cid {closed.cid}",
                f"closed by the server as a slow consumer ({closed.reason}); what was in "
                "flight to it is gone",
            )
    if before is not None and before.slow_consumers is not None and after.slow_consumers:
        more = after.slow_consumers - before.slow_consumers
        if more > 0:
            yield SlowClient("(server)", f"counted {more} more slow consumer event(s)")
