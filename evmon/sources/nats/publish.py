"""Publishing exact copies of events to NATS: the NATS I/O half of re-publish (replay).

``NatsPublisher`` sends exactly the payload and headers it is given (repeated header names,
non-UTF-8 values included; ``publish_raw`` in ``wire`` says why nats-py's own publish cannot)
and returns only once the server confirmed the message: to a subject bound to a JetStream
stream, a request whose reply is the stream's PubAck (``{"stream": "S", "seq": N}`` or an
error), checked; to any other subject a core publish followed by a flush (the server has
read the message when the PONG comes back). Which subjects belong to a stream is asked once
per subject from ``$JS.API.STREAM.NAMES``.

A request is a raw publish with a reply subject on a wildcard inbox subscription owned by
the publisher, one token per request, so a late reply to a request that timed out can never
be taken for the answer to the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from evmon.config import NatsSettings
from evmon.errors import UsageError
from evmon.model import Headers
from evmon.sources.ack import ACK_TIMEOUT, PublishAck, PublishError
from evmon.sources.nats.connect import connect_nats
from evmon.sources.nats.wire import publish_raw

__all__ = ["NatsPublisher", "check_nats_headers", "check_nats_subject"]

_BAD_NAME = frozenset(b" \t\r\n:")


def check_nats_subject(subject: str) -> None:
    """A subject one can publish to: not empty, no whitespace, no empty token, no wildcard."""
    tokens = subject.split(".")
    if (
        not subject
        or any(c in subject for c in " \t\r\n")
        or any(t in ("", "*", ">") for t in tokens)
    ):
        raise UsageError(f"cannot publish to NATS subject {subject!r} (empty token or wildcard)")


def check_nats_headers(headers: Headers) -> None:
    """Refuse headers a NATS header block cannot carry (rather than altering them)."""
    for name, value in headers:
        raw = name.encode("utf-8", "surrogateescape")
        if not raw or any(b in _BAD_NAME for b in raw):
            raise UsageError(f"NATS cannot carry header name {name!r}")
        if b"\r" in value or b"\n" in value:
            raise UsageError(f"NATS cannot carry a line break in the value of header {name!r}")


def _describe(err: BaseException) -> str:
    return str(err).strip() or type(err).__name__


class NatsPublisher:
    """Exact publishes over one connection; JetStream subjects get their PubAck checked."""

    def __init__(self, settings: NatsSettings, *, ack_timeout: float = ACK_TIMEOUT) -> None:
        self.settings = settings
        self.ack_timeout = ack_timeout
        self.nc: Client | None = None
        self._inbox = ""
        self._replies: dict[str, asyncio.Future[Msg]] = {}
        self._streams: dict[str, str | None] = {}
        self._next = 0

    async def start(self, wait: float | None = 10.0) -> None:
        self.nc = await connect_nats(self.settings, wait=wait)
        self._inbox = self.nc.new_inbox() + "."
        await self.nc.subscribe(self._inbox + "*", cb=self._on_reply)

    async def __aenter__(self) -> NatsPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        nc, self.nc = self.nc, None
        for fut in self._replies.values():
            fut.cancel()
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 5)

    async def _on_reply(self, msg: Msg) -> None:
        fut = self._replies.get(msg.subject[len(self._inbox) :])
        if fut is not None and not fut.done():
            fut.set_result(msg)

    async def request(self, subject: str, payload: bytes, headers: Headers = ()) -> Msg:
        """A request with exact headers; raises nats' TimeoutError / NoRespondersError."""
        assert self.nc is not None, "start() first"
        self._next += 1
        token = str(self._next)
        fut: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._replies[token] = fut
        try:
            await publish_raw(self.nc, subject, payload, headers, reply=self._inbox + token)
            try:
                msg = await asyncio.wait_for(fut, self.ack_timeout)
            except TimeoutError:
                raise NatsTimeoutError from None
        finally:
            self._replies.pop(token, None)
        if not msg.data and msg.headers and msg.headers.get("Status") == "503":
            raise NoRespondersError
        return msg

    async def stream_of(self, subject: str) -> str | None:
        """The JetStream stream that stores ``subject``, None when none does (or no JetStream)."""
        if subject in self._streams:
            return self._streams[subject]
        assert self.nc is not None, "start() first"
        query = orjson.dumps({"subject": subject})
        try:
            reply = await self.nc.request("$JS.API.STREAM.NAMES", query, timeout=self.ack_timeout)
        except NoRespondersError:  # JetStream is not enabled for this account
            self._streams[subject] = None
            return None
        except NatsTimeoutError:
            raise PublishError("JetStream did not answer which stream stores " + subject) from None
        body: Any = orjson.loads(reply.data or b"{}")
        if "error" in body:
            raise PublishError(
                f"JetStream stream lookup failed: {body['error'].get('description')}"
            )
        names = body.get("streams") or []
        self._streams[subject] = names[0] if names else None
        return self._streams[subject]

    async def duplicate_window(self, stream: str) -> float:
        """The stream's duplicate window in seconds (0: none), from ``$JS.API.STREAM.INFO``."""
        assert self.nc is not None, "start() first"
        try:
            reply = await self.nc.request(
                f"$JS.API.STREAM.INFO.{stream}", b"", timeout=self.ack_timeout
            )
        except (NatsTimeoutError, NoRespondersError):
            raise PublishError(f"JetStream did not answer for stream {stream}") from None
        try:
            body: Any = orjson.loads(reply.data or b"{}")
        except orjson.JSONDecodeError:
            raise PublishError(f"unreadable stream info for stream {stream}") from None
        if not isinstance(body, dict) or "error" in body:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise PublishError(f"stream info for {stream}: {error.get('description', body)}")
        window = (body.get("config") or {}).get("duplicate_window") or 0
        return int(window) / 1e9 if isinstance(window, int) else 0.0

    async def publish(self, subject: str, payload: bytes, headers: Headers = ()) -> PublishAck:
        """Publish and wait for the confirmation; raises PublishError naming the reason."""
        nc = self.nc
        assert nc is not None, "start() first"
        stream = await self.stream_of(subject)
        if stream is None:
            reconnects = nc.stats["reconnects"]
            try:
                await publish_raw(nc, subject, payload, headers)
                await nc.flush(timeout=max(1, round(self.ack_timeout)))
            except PublishError:
                raise
            except Exception as err:
                raise PublishError(f"not confirmed by the server: {_describe(err)}") from None
            if nc.stats["reconnects"] != reconnects:
                # The PONG came over a new connection: the old one may have lost the message.
                raise PublishError("not confirmed: the connection dropped during the publish")
            return PublishAck(subject)
        try:
            reply = await self.request(subject, payload, headers)
        except NatsTimeoutError:
            raise PublishError(
                f"no acknowledgement from stream {stream} within {self.ack_timeout:g} s "
                "(it may or may not have been stored)"
            ) from None
        except NoRespondersError:
            raise PublishError(f"stream {stream} did not answer (no responders)") from None
        try:
            ack: Any = orjson.loads(reply.data)
        except orjson.JSONDecodeError:
            raise PublishError(f"stream {stream} sent an unreadable acknowledgement") from None
        if not isinstance(ack, dict) or "error" in ack or "seq" not in ack:
            refusal = ack.get("error", {}) if isinstance(ack, dict) else {}
            raise PublishError(f"stream {stream} refused it: {refusal.get('description', ack)}")
        return PublishAck(
            subject,
            stream=str(ack.get("stream")),
            seq=int(ack["seq"]),
            duplicate=ack.get("duplicate") is True,
        )
