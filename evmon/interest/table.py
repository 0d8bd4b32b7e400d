"""The server's subscription table as plain data, read from ``subsz`` and ``connz`` documents.

    snap = table_from_documents(subsz=[...], connz=[...], closed=[...], account="APP")
    snap.subscriptions      # every local subscription of the account, on every server
    snap.connections        # client connections by (server id, cid): name, pending bytes

Pure (no network): ``evmon.sources.nats.interest`` fetches the documents from the monitoring
endpoint or the system account and hands them here, the tests feed real servers' answers.

Why both documents: ``subsz`` is the subject table itself, and holds what ``connz`` cannot
show, such as a JetStream stream's own subscription to the subjects it captures (a publish a
stream stores is not dropped); ``connz`` names the client behind each subscription and its
pending bytes. A ``subsz`` row whose cid is no client connection of ``connz`` belongs to the
server itself (a stream, a service import) and is kept as ``internal``. In a cluster every
server answers for its own local subscriptions (routed interest is not listed), so documents
of several servers are merged by server id: the same server reached twice counts once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EVMON_CONNECTION_NAME",
    "ClosedConnection",
    "Connection",
    "Subscription",
    "TableSnapshot",
    "needs_table",
    "table_from_documents",
]

#: The connection name evmon gives itself (``evmon.sources.nats.connect.connect_nats``).
EVMON_CONNECTION_NAME = "evmon"


def needs_table(who: str) -> str:
    """The one line ``evmon interest`` and the interest screen say when given neither source
    of the table (one text, so the command and the dashboard never drift apart)."""
    return (
        f"{who} needs the server's subscription table: give --nats-monitor "
        "http://HOST:8222 (the server's monitoring port, -m) or system-account credentials "
        "(--nats-system-context NAME, --nats-system-creds FILE or --nats-system-user USER)"
    )


@dataclass(frozen=True, slots=True)
class Connection:
    """One client connection of one server."""

    server_id: str
    cid: int
    name: str
    account: str
    pending_bytes: int = 0

    @property
    def label(self) -> str:
        """The client name, else ``cid N`` (what an operator can find in ``nats server report``)."""
        return self.name or f"cid {self.cid}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One local subscription: ``queue`` is its queue group, ``msgs`` delivered so far."""

    server_id: str
    cid: int
    sid: str
    subject: str
    queue: str | None
    msgs: int
    #: the client's name; "" for a client without one
    client: str = ""
    #: held by the server itself (a stream's capture, a service import), not by a client
    internal: bool = False

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.server_id, self.cid, self.sid)

    @property
    def label(self) -> str:
        if self.internal:
            return "server (stream or import)"
        return self.client or f"cid {self.cid}"


@dataclass(frozen=True, slots=True)
class ClosedConnection:
    """A connection the server closed, and why (``connz`` with the closed state)."""

    server_id: str
    cid: int
    name: str
    reason: str

    @property
    def slow_consumer(self) -> bool:
        return "slow consumer" in self.reason.lower()


@dataclass(frozen=True, slots=True)
class TableSnapshot:
    """The subscription table of one account at one moment, merged over the servers."""

    account: str | None
    subscriptions: tuple[Subscription, ...] = ()
    connections: Mapping[tuple[str, int], Connection] = field(default_factory=dict)
    closed: tuple[ClosedConnection, ...] = ()
    #: server id -> its name, for every server that answered
    servers: Mapping[str, str] = field(default_factory=dict)
    #: the servers' own slow-consumer counters summed (varz / statz), when known
    slow_consumers: int | None = None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _server_id(doc: Mapping[str, Any]) -> str:
    return _str(doc.get("server_id"))


def _connections(doc: Mapping[str, Any], account: str | None) -> Iterable[Connection]:
    sid = _server_id(doc)
    for conn in doc.get("connections") or ():
        if not isinstance(conn, dict) or conn.get("kind", "Client") != "Client":
            continue
        acc = _str(conn.get("account")) or account or ""
        yield Connection(
            sid, _int(conn.get("cid")), _str(conn.get("name")), acc, _int(conn.get("pending_bytes"))
        )


def _detail_subs(
    doc: Mapping[str, Any], conns: Mapping[tuple[str, int], Connection]
) -> Iterable[Subscription]:
    """Subscriptions from ``connz?subs=detail`` (used when no ``subsz`` came with it)."""
    server = _server_id(doc)
    for conn in doc.get("connections") or ():
        if not isinstance(conn, dict):
            continue
        cid = _int(conn.get("cid"))
        known = conns.get((server, cid))
        if known is None:
            continue
        for sub in conn.get("subscriptions_list_detail") or ():
            if isinstance(sub, dict) and isinstance(sub.get("subject"), str):
                yield Subscription(
                    server,
                    cid,
                    _str(sub.get("sid")),
                    sub["subject"],
                    _str(sub.get("qgroup")) or None,
                    _int(sub.get("msgs")),
                    known.name,
                )


def table_from_documents(
    *,
    connz: Iterable[Mapping[str, Any]],
    subsz: Iterable[Mapping[str, Any]] | None = None,
    closed: Iterable[Mapping[str, Any]] = (),
    account: str | None = "$G",
    names: Mapping[str, str] | None = None,
    slow_consumers: int | None = None,
) -> TableSnapshot:
    """Merge the documents of every server (pages too) into one snapshot of ``account``
    (None: of every account, when evmon could not learn its own).

    Without ``subsz`` (the account-scoped ``CONNZ`` service offers no ``SUBSZ``) the table
    is the connections' own subscriptions: interest held by the server itself is unknown.
    A server's documents are taken from the first answer that carries its id.
    """
    connz_docs = _first_per_server(connz)
    conns: dict[tuple[str, int], Connection] = {}
    for doc in connz_docs:
        for c in _connections(doc, account):
            if account is None or c.account == account:
                conns[(c.server_id, c.cid)] = c
    subs: list[Subscription] = []
    if subsz is None:
        for doc in connz_docs:
            subs.extend(_detail_subs(doc, conns))
    else:
        seen: set[tuple[str, int, str]] = set()
        for doc in subsz:
            server = _server_id(doc)
            for raw in doc.get("subscriptions_list") or ():
                if not isinstance(raw, dict) or not isinstance(raw.get("subject"), str):
                    continue
                if account is not None and _str(raw.get("account")) not in ("", account):
                    continue
                cid = _int(raw.get("cid"))
                key = (server, cid, _str(raw.get("sid")))
                if key in seen:
                    continue
                seen.add(key)
                conn = conns.get((server, cid))
                subs.append(
                    Subscription(
                        server,
                        cid,
                        key[2],
                        raw["subject"],
                        _str(raw.get("qgroup")) or None,
                        _int(raw.get("msgs")),
                        conn.name if conn else "",
                        internal=conn is None,
                    )
                )
    gone: dict[tuple[str, int], ClosedConnection] = {}
    for doc in closed:
        server = _server_id(doc)
        for conn in doc.get("connections") or ():
            acc = _str(conn.get("account")) if isinstance(conn, dict) else ""
            if isinstance(conn, dict) and (account is None or acc in ("", account)):
                cid = _int(conn.get("cid"))
                gone.setdefault(
                    (server, cid),
                    ClosedConnection(server, cid, _str(conn.get("name")), _str(conn.get("reason"))),
                )
    servers = dict(names or {})
    for doc in connz_docs:
        servers.setdefault(_server_id(doc), _server_id(doc))
    return TableSnapshot(account, tuple(subs), conns, tuple(gone.values()), servers, slow_consumers)


def _first_per_server(docs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pages of one server are all kept; a second answer of the same server at the same
    offset (one server reached through two URLs) is dropped."""
    out: list[Mapping[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for doc in docs:
        key = (_server_id(doc), _int(doc.get("offset")))
        if key not in seen:
            seen.add(key)
            out.append(doc)
    return out
