"""Who would receive a core NATS publish: the server's subscription table, asked headlessly.

    interest = await monitor_interest("http://127.0.0.1:8222", ["orders.eu.created"])
    interest = await account_interest(nc, ["orders.eu.created"])     # no extra setup
    interest["orders.eu.created"].subscribers, .queues, .receives

A core publish to a subject nobody subscribes to is read by the server and dropped; the
flush that confirms the publish cannot tell. Two ways to ask the server, both answering
with the same ``connz`` document (connections with ``subscriptions_list_detail``):

- the monitoring endpoint, ``GET URL/connz?subs=detail`` (``--nats-monitor URL``), paged
  with ``offset``/``limit``; it covers the one server behind that URL;
- the system account's account-scoped service ``$SYS.REQ.ACCOUNT.PING.CONNZ``, which every
  account can call: every server of the cluster answers for the connections of the caller's
  account (the account where the publish lands). Answers are gathered for a short moment.

evmon's own connections (named ``evmon``) never count as interest: a dashboard listening
on ``>`` must not make a subject look served. Queue groups count once per group (the
server delivers to one member). Interest that reaches the subject through account imports
from other accounts is not visible in either document.

The `evmon interest` command (issue 13) builds on the same lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from evmon.filter import subject_matches

__all__ = [
    "EVMON_CONNECTION_NAME",
    "Interest",
    "InterestUnknown",
    "account_interest",
    "interest_from_connz",
    "monitor_interest",
]

#: The connection name evmon gives itself (``evmon.sources.nats.connect.connect_nats``).
EVMON_CONNECTION_NAME = "evmon"
#: connz page size asked for (the server's own default and maximum is 1024 per page).
PAGE = 1024
#: How long to wait for the first (and then for further) ``$SYS.REQ.ACCOUNT.PING`` answers.
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


def _subscriptions(connz: Mapping[str, Any]) -> Iterable[tuple[str, str | None]]:
    """(subject, queue group) of every subscription of connections that are not evmon's."""
    for conn in connz.get("connections") or ():
        if not isinstance(conn, dict) or conn.get("name") == EVMON_CONNECTION_NAME:
            continue
        for sub in conn.get("subscriptions_list_detail") or ():
            if isinstance(sub, dict) and isinstance(sub.get("subject"), str):
                queue = sub.get("qgroup")
                yield sub["subject"], queue if isinstance(queue, str) and queue else None


def interest_from_connz(
    documents: Iterable[Mapping[str, Any]], subjects: Sequence[str], via: str = ""
) -> dict[str, Interest]:
    """Interest per subject from ``connz`` documents (pages, or one per server)."""
    subs = [s for doc in documents for s in _subscriptions(doc)]
    out: dict[str, Interest] = {}
    for subject in subjects:
        plain = 0
        queues: dict[str, int] = {}
        for pattern, queue in subs:
            if not subject_matches(pattern, subject):
                continue
            if queue is None:
                plain += 1
            else:
                queues[queue] = queues.get(queue, 0) + 1
        out[subject] = Interest(subject, plain, queues, via)
    return out


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
        raise InterestUnknown("the answer is not a connz document")
    return body


def _fetch_connz_pages(base: str, timeout: float) -> list[dict[str, Any]]:
    pages = []
    offset = 0
    while True:
        query = urllib.parse.urlencode({"subs": "detail", "offset": offset, "limit": PAGE})
        page = _get_json(f"{base}/connz?{query}", timeout)
        pages.append(page)
        got = len(page.get("connections") or ())
        offset += got
        if not got or offset >= int(page.get("total") or 0):
            return pages


def _monitor_base(url: str) -> str:
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InterestUnknown(f"{url!r} is not an http(s) monitoring URL")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


async def monitor_interest(
    url: str, subjects: Sequence[str], *, http_timeout: float = 5.0
) -> dict[str, Interest]:
    """Interest per subject from the monitoring endpoint ``url`` (one server's view).

    Raises InterestUnknown naming the URL and the reason when it cannot be read.
    """
    try:
        base = _monitor_base(url)
        pages = await asyncio.to_thread(_fetch_connz_pages, base, http_timeout)
    except InterestUnknown as err:
        raise InterestUnknown(f"cannot read the NATS monitoring endpoint {url}: {err}") from None
    return interest_from_connz(pages, subjects, via=base)


# --------------------------------------------------------------------------- system account


async def account_interest(
    nc: Client, subjects: Sequence[str], *, first: float = FIRST_ANSWER
) -> dict[str, Interest]:
    """Interest per subject from ``$SYS.REQ.ACCOUNT.PING.CONNZ`` on ``nc``'s account.

    Every server answers for its own connections; answers are collected until ``first``
    seconds pass without one, then for ``MORE_ANSWERS`` after the last. Raises
    InterestUnknown when no server answers (no system account, or not permitted).
    """
    inbox = nc.new_inbox()
    answers: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_answer(msg: Msg) -> None:
        answers.put_nowait(msg)

    sub = await nc.subscribe(inbox, cb=on_answer)
    docs: list[dict[str, Any]] = []
    try:
        query = orjson.dumps({"subscriptions_detail": True, "limit": PAGE})
        await nc.publish("$SYS.REQ.ACCOUNT.PING.CONNZ", query, reply=inbox)
        wait = first
        while True:
            try:
                msg = await asyncio.wait_for(answers.get(), wait)
            except TimeoutError:
                break
            wait = MORE_ANSWERS
            if not msg.data and msg.headers and msg.headers.get("Status") == "503":
                break  # no responders: no system account on this server
            with contextlib.suppress(orjson.JSONDecodeError):
                body: Any = orjson.loads(msg.data)
                data = body.get("data") if isinstance(body, dict) else None
                if isinstance(data, dict):
                    if int(data.get("total") or 0) > len(data.get("connections") or ()):
                        raise InterestUnknown(
                            "the account has more connections than one CONNZ answer holds; "
                            "use --nats-monitor URL"
                        )
                    docs.append(data)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    if not docs:
        raise InterestUnknown("the server did not answer $SYS.REQ.ACCOUNT.PING.CONNZ")
    return interest_from_connz(docs, subjects, via="the account's CONNZ")
