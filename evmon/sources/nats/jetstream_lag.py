"""JetStream consumer lag from the JetStream API, paged through every stream and consumer.

API (the ``lag`` command and the dashboard's lag screen poll the same client)::

    client = JetStreamLagClient(settings)
    await client.start()                  # ConnectError naming the URL if unreachable
    rows = await client.snapshot(streams=(), consumers=())   # list[JetStreamLagRow]
    await client.close()

The API answers at most 256 streams or consumers per request (nats-py's ``streams_info()``
and ``consumers_info()`` return only the first page), so the raw ``$JS.API.STREAM.LIST`` and
``$JS.API.CONSUMER.LIST.<stream>`` requests are sent with an increasing ``offset`` until
``total`` is reached. Consumer lists of different streams are fetched concurrently.

Named streams and consumers that do not exist come back as ``ERR`` rows with null numbers, so
a script watching ``--stream S --consumer C`` sees the consumer disappear instead of an empty
report. This process's own consumers (the ordered consumer of a dashboard's ``--stream`` read,
``evmon.sources.nats.own``) are left out unless named; other consumers without a durable name
are marked ``ephemeral``. A failed refresh raises ``RuntimeFailure`` (``UsageError`` if
JetStream is not enabled); the connection reconnects by itself, so the next refresh may
succeed. Await one ``snapshot()`` at a time. Nothing here creates, changes or acks anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import nats.errors
import orjson
from nats.aio.client import Client

from evmon.config import NatsSettings
from evmon.errors import RuntimeFailure, UsageError
from evmon.lag.status import JetStreamLagRow
from evmon.sources.nats.connect import connect_nats
from evmon.sources.nats.own import own_deliver_subjects

API = "$JS.API"
REQUEST_TIMEOUT = 5.0
CONCURRENCY = 16
_STREAM_NOT_FOUND = 10059
_CONSUMER_NOT_FOUND = 10014
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


class _NotFound(Exception):
    pass


def _seconds(stamp: Any) -> float | None:
    """An RFC 3339 time from the server (nanosecond digits, Go's zero time) as epoch seconds."""
    match = _RFC3339.match(stamp) if isinstance(stamp, str) else None
    if match is None or stamp.startswith("0001-"):
        return None
    whole, frac, zone = match.groups()
    when = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return when.timestamp() + float(f"0.{frac or 0}")


def consumer_row(info: dict[str, Any], last_seq: int, now: float) -> JetStreamLagRow:
    """A row from one ConsumerInfo of the JetStream API."""
    delivered = info.get("delivered") or {}
    ack_floor = info.get("ack_floor") or {}
    waiting = int(info.get("num_waiting") or 0)
    seen = [_seconds(delivered.get("last_active")), _seconds(ack_floor.get("last_active"))]
    active_at = now if waiting or info.get("push_bound") else max(filter(None, seen), default=None)
    config = info.get("config") or {}
    return JetStreamLagRow(
        stream=info["stream_name"],
        consumer=info["name"],
        num_pending=int(info.get("num_pending") or 0),
        num_ack_pending=int(info.get("num_ack_pending") or 0),
        num_redelivered=int(info.get("num_redelivered") or 0),
        num_waiting=waiting,
        delivered_stream_seq=int(delivered.get("stream_seq") or 0),
        ack_floor_stream_seq=int(ack_floor.get("stream_seq") or 0),
        last_stream_seq=last_seq,
        active_at=active_at,
        ephemeral=not config.get("durable_name"),
    )


def missing_row(stream: str | None, consumer: str | None) -> JetStreamLagRow:
    return JetStreamLagRow(stream, consumer, None, None, None, None, None, None, None, "ERR")


class JetStreamLagClient:
    """A long-lived NATS connection computing JetStream consumer lag (see module doc)."""

    def __init__(self, settings: NatsSettings, *, api_prefix: str = API) -> None:
        self.settings = settings
        self.api = api_prefix
        self.nc: Client | None = None

    async def start(self, wait: float | None = None) -> None:
        """Connect; the first connection must succeed within ``wait`` seconds (default: the
        settings' connect timeout), else ``ConnectError``."""
        wait = self.settings.connect_timeout if wait is None else wait
        self.nc = await connect_nats(self.settings, wait=wait)

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 5)

    async def snapshot(
        self, streams: Sequence[str] = (), consumers: Sequence[str] = ()
    ) -> list[JetStreamLagRow]:
        """Every consumer of every stream (or of the named ones), sorted by stream, name."""
        if self.nc is None:
            await self.start()
        assert self.nc is not None
        if not self.nc.is_connected:  # fail at once instead of timing out every request
            raise RuntimeFailure(f"JetStream at {self.settings.display}: not connected")
        try:
            return await self._snapshot(list(dict.fromkeys(streams)), set(consumers))
        except nats.errors.NoRespondersError:
            raise UsageError(f"JetStream is not enabled on {self.settings.display}") from None
        except (TimeoutError, nats.errors.Error) as err:
            what = "timed out" if isinstance(err, TimeoutError) else str(err) or type(err).__name__
            raise RuntimeFailure(f"JetStream at {self.settings.display}: {what}") from None

    async def _snapshot(self, streams: list[str], wanted: set[str]) -> list[JetStreamLagRow]:
        rows: list[JetStreamLagRow] = []
        if streams:
            infos = await asyncio.gather(*(self._stream_info(s) for s in streams))
            found = []
            for name, info in zip(streams, infos, strict=True):
                if info is None:
                    named: list[str | None] = [*sorted(wanted)] or [None]
                    rows.extend(missing_row(name, c) for c in named)
                else:
                    found.append(info)
        else:
            found = await self._paged(f"{self.api}.STREAM.LIST", "streams")
        limit = asyncio.Semaphore(CONCURRENCY)

        async def consumers_of(info: dict[str, Any]) -> list[dict[str, Any]]:
            async with limit:
                name = info["config"]["name"]
                return await self._paged(f"{self.api}.CONSUMER.LIST.{name}", "consumers")

        lists = await asyncio.gather(*(consumers_of(i) for i in found))
        now = time.time()
        seen: set[str] = set()
        own = own_deliver_subjects()
        for info, consumers in zip(found, lists, strict=True):
            last_seq = int(info.get("state", {}).get("last_seq") or 0)
            for c in consumers:
                if wanted and c["name"] not in wanted:
                    continue
                if not wanted and (c.get("config") or {}).get("deliver_subject") in own:
                    continue  # this process's own read (named ones are shown)
                seen.add(c["name"])
                rows.append(consumer_row(c, last_seq, now))
            if streams and wanted:
                present = {c["name"] for c in consumers}
                name = info["config"]["name"]
                rows.extend(missing_row(name, c) for c in sorted(wanted - present))
        if wanted and not streams:
            rows.extend(missing_row(None, c) for c in sorted(wanted - seen))
        rows.sort(key=lambda r: (r.stream or "", r.consumer or ""))
        return rows

    async def _request(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.nc is not None
        msg = await self.nc.request(subject, orjson.dumps(body), timeout=REQUEST_TIMEOUT)
        reply: dict[str, Any] = orjson.loads(msg.data)
        error = reply.get("error")
        if error:
            if error.get("err_code") in (_STREAM_NOT_FOUND, _CONSUMER_NOT_FOUND):
                raise _NotFound(error.get("description", "not found"))
            raise RuntimeFailure(
                f"JetStream at {self.settings.display}: {error.get('description', error)}"
            )
        return reply

    async def _paged(self, subject: str, field: str) -> list[dict[str, Any]]:
        """All items of a paged list request, following ``offset`` until ``total``."""
        items: list[dict[str, Any]] = []
        while True:
            try:
                page = await self._request(subject, {"offset": len(items)})
            except _NotFound:
                return items  # the stream went away between the list and this request
            batch = page.get(field) or []
            items.extend(batch)
            if not batch or len(items) >= int(page.get("total") or 0):
                return items

    async def _stream_info(self, stream: str) -> dict[str, Any] | None:
        try:
            return await self._request(f"{self.api}.STREAM.INFO.{stream}", {})
        except _NotFound:
            return None
