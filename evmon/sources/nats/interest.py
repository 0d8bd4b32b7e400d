"""Who listens on core NATS: the server's subscription table, asked headlessly.

    interest = await monitor_interest("http://127.0.0.1:8222", ["orders.eu.created"])
    interest = await account_interest(nc, ["orders.eu.created"])     # no extra setup
    interest["orders.eu.created"].subscribers, .queues, .receives

    source = MonitorTable(["http://n1:8222", "http://n2:8222"])      # or SystemTable(sys_nc)
    report = await watch_interest(nc, ["user.>"], 5.0, source)       # evmon interest

A core publish to a subject nobody subscribes to is read by the server and dropped; the
flush that confirms the publish cannot tell. The server's subscription table tells, from:

- the monitoring endpoint (``--nats-monitor URL``, comma-separated for a cluster's servers):
  ``/subsz?subs=1`` (the subject table, streams' own subscriptions included) and
  ``/connz?subs=detail`` (who holds each subscription, pending bytes), paged; ``/varz`` for
  the slow-consumer counter and ``/connz?state=closed`` for connections closed as slow;
- the system account (``SystemTable``, a connection with system-account credentials):
  ``$SYS.REQ.SERVER.PING.SUBSZ`` / ``.CONNZ``, which every server of the cluster answers;
- for re-publish only, the account-scoped ``$SYS.REQ.ACCOUNT.PING.CONNZ`` any account may
  call (``account_interest``): connections only, so a stream's capture is not seen there.

All answers are merged by server id (``evmon.interest.table``); evmon's own connections
never count as interest: a dashboard listening on ``>`` must not make a subject look
served. Interest reaching the subject through imports from other accounts is not visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from evmon.interest import (
    EVMON_CONNECTION_NAME,
    InterestReport,
    TableSnapshot,
    interest_report,
    table_from_documents,
)
from evmon.sources.nats.wire import RawHeaderClient
from evmon.subjects import subject_matches

__all__ = [
    "EVMON_CONNECTION_NAME",
    "Interest",
    "InterestUnknown",
    "MonitorTable",
    "SystemTable",
    "TableSource",
    "account_interest",
    "account_of",
    "interest_from_connz",
    "interest_from_table",
    "monitor_interest",
    "watch_interest",
]

#: Page size asked for (the server's own default and maximum is 1024 per page).
PAGE = 1024
#: How long to wait for the first (and then for further) ``$SYS.REQ.*.PING`` answers.
FIRST_ANSWER = 2.0
MORE_ANSWERS = 0.25


class InterestUnknown(Exception):
    """The server could not be asked; the message says why (one line)."""


@dataclass(frozen=True, slots=True)
class Interest:
    """The subscriptions that match one subject, other than evmon's own."""

    subject: str
    #: plain (non-queue) subscriptions matching the subject
    subscribers: int = 0
    #: queue group -> members matching the subject
    queues: Mapping[str, int] = field(default_factory=dict)
    #: where the answer came from, for messages ("http://127.0.0.1:8222", "the account's CONNZ")
    via: str = ""

    @property
    def receives(self) -> int:
        """How many copies the server hands out for one publish (one per queue group)."""
        return self.subscribers + len(self.queues)

    def describe(self) -> str:
        """``2 subscribers, queue group workers (3 members)`` or ``no subscriber``."""
        parts = []
        if self.subscribers:
            parts.append(f"{self.subscribers} subscriber{'' if self.subscribers == 1 else 's'}")
        for group, members in sorted(self.queues.items()):
            parts.append(f"queue group {group} ({members} member{'' if members == 1 else 's'})")
        return ", ".join(parts) or "no subscriber"


def interest_from_table(
    table: TableSnapshot,
    subjects: Sequence[str],
    via: str = "",
    own: Iterable[tuple[str, int]] = (),
) -> dict[str, Interest]:
    """Interest per subject from a subscription table (the one rule of ``evmon interest``)."""
    mine = set(own)
    subs = [
        s
        for s in table.subscriptions
        if s.client != EVMON_CONNECTION_NAME and (s.server_id, s.cid) not in mine
    ]
    out: dict[str, Interest] = {}
    for subject in subjects:
        plain = 0
        queues: dict[str, set[tuple[str, int, str]]] = {}
        for sub in subs:
            if not subject_matches(sub.subject, subject):
                continue
            if sub.queue is None:
                plain += 1
            else:
                queues.setdefault(sub.queue, set()).add(sub.key)
        out[subject] = Interest(subject, plain, {q: len(m) for q, m in queues.items()}, via)
    return out


def interest_from_connz(
    documents: Iterable[Mapping[str, Any]], subjects: Sequence[str], via: str = ""
) -> dict[str, Interest]:
    """Interest per subject from ``connz`` documents alone (pages, or one per server)."""
    table = table_from_documents(connz=list(documents), account=None)
    return interest_from_table(table, subjects, via)


class TableSource(Protocol):
    """Where the subscription table comes from (``MonitorTable`` or ``SystemTable``)."""

    #: for messages: "http://127.0.0.1:8222" or "the system account"
    via: str

    async def snapshot(self, account: str | None) -> TableSnapshot: ...


# --------------------------------------------------------------------------- monitoring URL


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body: Any = orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        raise InterestUnknown(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise InterestUnknown(str(reason) or type(err).__name__) from None
    except orjson.JSONDecodeError:
        raise InterestUnknown("the answer is not JSON (is this the monitoring port?)") from None
    if not isinstance(body, dict):
        raise InterestUnknown("the answer is not a monitoring document")
    return body


def _fetch_pages(
    base: str, path: str, params: Mapping[str, Any], items: str, timeout: float
) -> list[dict[str, Any]]:
    pages = []
    offset = 0
    while True:
        query = urllib.parse.urlencode({**params, "offset": offset, "limit": PAGE})
        page = _get_json(f"{base}/{path}?{query}", timeout)
        pages.append(page)
        got = len(page.get(items) or ())
        offset += got
        if not got or offset >= int(page.get("total") or 0):
            return pages


def _fetch_connz_pages(base: str, timeout: float) -> list[dict[str, Any]]:
    return _fetch_pages(base, "connz", {"subs": "detail"}, "connections", timeout)


def _monitor_base(url: str) -> str:
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InterestUnknown(f"{url!r} is not an http(s) monitoring URL")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


def monitor_urls(value: str | Sequence[str]) -> list[str]:
    """``--nats-monitor`` may name several servers: ``http://n1:8222,http://n2:8222``."""
    parts = [value] if isinstance(value, str) else list(value)
    return [u.strip() for p in parts for u in p.split(",") if u.strip()]


def _monitor_documents(base: str, account: str | None, timeout: float) -> dict[str, Any]:
    acc = {"acc": account} if account else {}
    subs = {"subs": "detail", "auth": "true", **acc}
    return {
        "connz": _fetch_pages(base, "connz", subs, "connections", timeout),
        "subsz": _fetch_pages(base, "subsz", {"subs": "1", **acc}, "subscriptions_list", timeout),
        "closed": _fetch_pages(
            base, "connz", {"state": "closed", "auth": "true", **acc}, "connections", timeout
        ),
        "varz": _get_json(f"{base}/varz", timeout),
    }


class MonitorTable:
    """The table from monitoring endpoints, one per server (merged by server id)."""

    def __init__(self, urls: str | Sequence[str], *, http_timeout: float = 5.0) -> None:
        self.urls = monitor_urls(urls)
        self.http_timeout = http_timeout
        self.via = ", ".join(self.urls)

    async def snapshot(self, account: str | None) -> TableSnapshot:
        docs: dict[str, list[dict[str, Any]]] = {"connz": [], "subsz": [], "closed": []}
        slow: dict[str, int] = {}
        names: dict[str, str] = {}
        for url in self.urls:
            try:
                base = _monitor_base(url)
                got = await asyncio.to_thread(_monitor_documents, base, account, self.http_timeout)
            except InterestUnknown as err:
                raise InterestUnknown(
                    f"cannot read the NATS monitoring endpoint {url}: {err}"
                ) from None
            for key in docs:
                docs[key].extend(got[key])
            varz = got["varz"]
            sid = str(varz.get("server_id") or "")
            slow[sid] = int(varz.get("slow_consumers") or 0)
            names[sid] = str(varz.get("server_name") or sid)
        return table_from_documents(
            connz=docs["connz"],
            subsz=docs["subsz"],
            closed=docs["closed"],
            account=account,
            names=names,
            slow_consumers=sum(slow.values()),
        )


async def monitor_interest(
    url: str, subjects: Sequence[str], *, http_timeout: float = 5.0
) -> dict[str, Interest]:
    """Interest per subject from the monitoring endpoint(s) ``url`` (every account).

    Raises InterestUnknown naming the URL and the reason when it cannot be read.
    """
    source = MonitorTable(url, http_timeout=http_timeout)
    if not source.urls:
        raise InterestUnknown(f"{url!r} is not an http(s) monitoring URL")
    table = await source.snapshot(None)
    return interest_from_table(table, subjects, via=_monitor_base(source.urls[0]))


# --------------------------------------------------------------------------- system account


async def _gather(
    nc: Client, subject: str, query: Mapping[str, Any], *, first: float = FIRST_ANSWER
) -> list[dict[str, Any]]:
    """The ``data`` of every server's answer to a ``$SYS.REQ.*.PING.*`` request.

    Answers are collected until ``first`` seconds pass without one, then for
    ``MORE_ANSWERS`` after the last. Raises InterestUnknown when no server answers.
    """
    inbox = nc.new_inbox()
    answers: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_answer(msg: Msg) -> None:
        answers.put_nowait(msg)

    sub = await nc.subscribe(inbox, cb=on_answer)
    docs: list[dict[str, Any]] = []
    try:
        await nc.publish(subject, orjson.dumps(dict(query)), reply=inbox)
        wait = first
        while True:
            try:
                msg = await asyncio.wait_for(answers.get(), wait)
            except TimeoutError:
                break
            wait = MORE_ANSWERS
            if not msg.data and msg.headers and msg.headers.get("Status") == "503":
                break  # no responders: not the system account, or none on this server
            with contextlib.suppress(orjson.JSONDecodeError):
                body: Any = orjson.loads(msg.data)
                data = body.get("data") if isinstance(body, dict) else None
                if isinstance(data, dict):
                    server = body.get("server") if isinstance(body.get("server"), dict) else {}
                    data.setdefault("server_id", server.get("id", ""))
                    data["_server_name"] = server.get("name", "")
                    docs.append(data)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    if not docs:
        raise InterestUnknown(f"no server answered {subject}")
    return docs


async def _gather_paged(
    nc: Client, what: str, query: Mapping[str, Any], items: str
) -> list[dict[str, Any]]:
    """Every server's pages: the PING for the first, then ``$SYS.REQ.SERVER.<id>.<what>``."""
    out: list[dict[str, Any]] = []
    for doc in await _gather(nc, f"$SYS.REQ.SERVER.PING.{what}", {**query, "limit": PAGE}):
        out.append(doc)
        offset = len(doc.get(items) or ())
        while offset and offset < int(doc.get("total") or 0):
            page = {**query, "offset": offset, "limit": PAGE}
            more = await _gather(nc, f"$SYS.REQ.SERVER.{doc['server_id']}.{what}", page)
            got = len(more[0].get(items) or ())
            out.append(more[0])
            offset = offset + got if got else 0
    return out


class SystemTable:
    """The table from the system account: ``nc`` is a connection with its credentials."""

    via = "the system account"

    def __init__(self, nc: Client) -> None:
        self.nc = nc

    async def snapshot(self, account: str | None) -> TableSnapshot:
        acc = {"account": account} if account else {}
        try:
            subsz = await _gather_paged(
                self.nc, "SUBSZ", {"subscriptions": True, **acc}, "subscriptions_list"
            )
            cacc = {"acc": account} if account else {}
            detail = {"subscriptions_detail": True, "auth": True, **cacc}
            connz = await _gather_paged(self.nc, "CONNZ", detail, "connections")
            closed = await _gather(self.nc, "$SYS.REQ.SERVER.PING.CONNZ", {"state": 1, **cacc})
        except InterestUnknown as err:
            raise InterestUnknown(
                f"{err}: are these system-account credentials? (the server's system_account)"
            ) from None
        names = {str(d.get("server_id")): str(d.get("_server_name") or "") for d in connz}
        return table_from_documents(
            connz=connz, subsz=subsz, closed=closed, account=account, names=names
        )


async def account_interest(
    nc: Client, subjects: Sequence[str], *, first: float = FIRST_ANSWER
) -> dict[str, Interest]:
    """Interest per subject from ``$SYS.REQ.ACCOUNT.PING.CONNZ`` on ``nc``'s account.

    Every server answers for its own connections of the caller's account. Raises
    InterestUnknown when no server answers (no system account, or not permitted).
    """
    query = {"subscriptions_detail": True, "limit": PAGE}
    try:
        docs = await _gather(nc, "$SYS.REQ.ACCOUNT.PING.CONNZ", query, first=first)
    except InterestUnknown:
        raise InterestUnknown("the server did not answer $SYS.REQ.ACCOUNT.PING.CONNZ") from None
    for data in docs:
        if int(data.get("total") or 0) > len(data.get("connections") or ()):
            raise InterestUnknown(
                "the account has more connections than one CONNZ answer holds; "
                "use --nats-monitor URL"
            )
    return interest_from_connz(docs, subjects, via="the account's CONNZ")


async def account_of(nc: Client) -> str | None:
    """The account ``nc`` is in (``$SYS.REQ.USER.INFO``), or None when the server has no
    system account to say so (then every account's subscriptions count)."""
    with contextlib.suppress(Exception):
        msg = await nc.request("$SYS.REQ.USER.INFO", b"", timeout=FIRST_ANSWER)
        body: Any = orjson.loads(msg.data)
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and isinstance(data.get("account"), str):
            return str(data["account"])
    return None


# --------------------------------------------------------------------------- the window


def _own(nc: Client) -> set[tuple[str, int]]:
    """(server id, cid) of ``nc``: what the server calls evmon's own connection."""
    cid = nc.client_id
    if not isinstance(nc, RawHeaderClient) or not isinstance(cid, int):
        return set()  # the connection's name ("evmon") still excludes it
    return {(nc.server_id, cid)}


async def watch_interest(
    nc: Client,
    patterns: Sequence[str],
    seconds: float,
    source: TableSource,
    *,
    account: str | None = None,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
) -> InterestReport:
    """Count the messages on ``patterns`` for ``seconds`` (or until ``stop``) and read the
    table at both ends of the window; the report of ``evmon.interest.report``. ``started``
    is set once the window's first table is read (tests publish after it)."""
    patterns = list(patterns) or [">"]
    traffic: dict[str, int] = {}

    async def count(msg: Msg) -> None:
        traffic[msg.subject] = traffic.get(msg.subject, 0) + 1

    subs = [await nc.subscribe(p, cb=count) for p in patterns]
    try:
        await nc.flush()
        before = await source.snapshot(account)
        if started is not None:
            started.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((stop or asyncio.Event()).wait(), seconds)
        await nc.flush()
        after = await source.snapshot(account)
    finally:
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
    return interest_report(traffic, before, after, patterns=patterns, own=_own(nc))
