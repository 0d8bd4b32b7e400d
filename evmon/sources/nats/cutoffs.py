"""Slow-consumer cut-offs: nats-server closing evmon's connection, said in words and counted.

nats-server disconnects a client whose pending bytes pass ``max_pending`` (or whose writes
miss ``write_deadline``): it drops what it held for the client and closes without a word,
so nats-py reports only "unexpected EOF" and reconnects. ``connect_nats`` recognises the
cut and reports a ``ServerCutOff`` once it is back; ``CutOffs`` turns it into the status an
operator reads (the tail's stderr, the dashboard's status bar)::

    connected: the server disconnected evmon as a slow consumer: messages were lost at
        21:24:42 UTC

How evmon knows: the server sends nothing before it closes. With ``--nats-monitor`` evmon asks
the server why it closed the old connection (``/connz?state=closed&cid=N``: "Slow Consumer
(Pending Bytes)" or "(Write Deadline)") and names the cut-off only when that is the reason.
Without a monitoring endpoint it infers it: the connection ended (EOF or reset, no
``-ERR``) while evmon was reading a backlog, and the same server took it back at once.

Core NATS has no replay, so what the server held and everything published until evmon had
resubscribed is gone; a JetStream read resumes after the last sequence it showed (nats-py's
ordered consumer re-creates itself at the gap), so nothing is lost there.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import orjson

from evmon.model import ConnectionStatus
from evmon.sources import StatusCallback

__all__ = ["CutOffCandidate", "CutOffs", "ServerCutOff", "closed_reason", "confirm_cut_off"]


class ServerCutOff(Exception):
    """nats-server closed the connection (EOF, no ``-ERR``) while evmon was behind it, and
    the same server (same INFO ``server_id``) took evmon back at once.

    A server that stops or restarts is gone or has a new id; an idle connection cut by a
    proxy has no backlog. What is left is the server's slow-consumer protection. ``at`` is
    when evmon read the EOF (epoch seconds).
    """

    def __init__(self, at: float) -> None:
        super().__init__(at)
        self.at = at

    WORDS = "the server disconnected evmon as a slow consumer"

    def __str__(self) -> str:
        return self.WORDS


#: How long evmon waits for the monitoring endpoint's answer about a closed connection.
MONITOR_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class CutOffCandidate:
    """A connection the server ended without a word (EOF or reset): perhaps a cut-off."""

    server_id: str
    #: The connection's id on that server (``client_id`` of its INFO), for ``/connz``.
    cid: int | None
    #: When evmon saw the end (epoch seconds).
    at: float
    #: evmon was reading a backlog when it ended (the inference without a monitor).
    behind: bool


def _closed_reason(monitor: str, cid: int, timeout: float) -> str | None:
    query = urllib.parse.urlencode({"state": "closed", "cid": cid})
    try:
        with urllib.request.urlopen(f"{monitor.rstrip('/')}/connz?{query}", timeout=timeout) as r:
            doc = orjson.loads(r.read())
    except (OSError, ValueError):  # unreachable, HTTP error, not JSON: no answer
        return None
    conns = doc.get("connections") if isinstance(doc, dict) else None
    for conn in conns or ():
        if isinstance(conn, dict) and conn.get("cid") == cid:
            reason = conn.get("reason")
            return str(reason) if reason else None
    return None


async def closed_reason(
    monitor: str, cid: int, http_timeout: float = MONITOR_TIMEOUT
) -> str | None:
    """Why the server closed connection ``cid`` (its closed-connections list), or None when
    the endpoint cannot say (unreachable, not a monitoring port, the id long evicted)."""
    return await asyncio.to_thread(_closed_reason, monitor, cid, http_timeout)


async def confirm_cut_off(monitor: str | None, candidate: CutOffCandidate) -> bool:
    """True when the end of ``candidate`` was a slow-consumer cut-off: the server says so, or,
    when it cannot be asked, evmon was reading a backlog (see the module docstring)."""
    if monitor and candidate.cid is not None:
        reason = await closed_reason(monitor, candidate.cid)
        if reason is not None:
            return reason.startswith("Slow Consumer")
    return candidate.behind


class CutOffs:
    """Wraps a source's status callback: names a cut-off while reconnecting and keeps the
    count in the ``connected`` detail afterwards (so the status bar still shows it)."""

    def __init__(self, on_status: StatusCallback, *, jetstream: bool) -> None:
        self._on_status = on_status
        self.jetstream = jetstream
        #: (cut, resubscribed) in epoch seconds, one per cut-off that has ended.
        self.intervals: list[tuple[float, float]] = []
        self._cut_at: float | None = None
        self._last: ConnectionStatus | None = None

    def cut(self, at: float) -> None:
        """Called just before the ``connected`` status of the reconnect that confirmed it."""
        self._cut_at = at

    def detail(self) -> str:
        """The connected state's detail after a cut-off: what happened, when, how often."""
        n = len(self.intervals)
        if not n:
            return ""
        at = time.strftime("%H:%M:%S", time.gmtime(self.intervals[-1][0]))
        times = f", {n} times" if n > 1 else ""
        if self.jetstream:
            return (
                f"{ServerCutOff.WORDS} at {at} UTC{times}; the stream read resumed after the "
                "last sequence shown"
            )
        return f"{ServerCutOff.WORDS}: messages were lost at {at} UTC{times}"

    def summary(self) -> str:
        """One line for the end of a tail; "" when there was no cut-off."""
        n = len(self.intervals)
        if not n:
            return ""
        times = "once" if n == 1 else f"{n} times"
        if self.jetstream:
            return (
                f"{ServerCutOff.WORDS} {times}; the stream read resumed after the last "
                "sequence shown each time (no gap)"
            )
        gap = sum(end - start for start, end in self.intervals)
        return (
            f"{ServerCutOff.WORDS} {times}: messages were lost (what the server held for "
            f"evmon, and {gap:.1f} s without a subscription)"
        )

    def status(self, status: ConnectionStatus) -> None:
        """The status callback to give ``connect_nats``."""
        if self._cut_at is not None and status.state == "connected":
            self.intervals.append((self._cut_at, max(time.time(), self._cut_at)))
            self._cut_at = None
        if status.state == "connected" and self.intervals:
            status = ConnectionStatus(status.source, status.url, status.state, self.detail())
        if status != self._last:  # the EOF and the disconnect both say "reconnecting"
            self._last = status
            self._on_status(status)
