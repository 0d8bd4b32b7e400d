"""Publishing exact copies of events: the I/O half of re-publish (replay).

Both publishers send exactly the payload, key and headers they are given — repeated header
names, non-UTF-8 values, binary keys and Kafka tombstones included — and return only once the
broker confirmed the message:

- ``NatsPublisher``: to a subject bound to a JetStream stream, a request whose reply is the
  stream's PubAck (``{"stream": "S", "seq": N}`` or an error), checked; to any other subject a
  core publish followed by a flush (the server has read the message when the PONG comes back).
  Which subjects belong to a stream is asked once per subject from ``$JS.API.STREAM.NAMES``.
- ``KafkaPublisher``: ``acks="all"`` with idempotence (a retried batch is not written twice),
  one record in flight, so a failure is always attributable to one record.

Why NATS needs its own wire path: nats-py's ``publish`` and ``request`` take headers as a
dict, which collapses repeated names and re-encodes values as text. ``publish_raw`` builds the
``HPUB`` command with nats-py's own protocol helper from a header block written here, and
queues it with the client's ``_send_command`` — the same two steps ``Client.publish`` takes
after turning its dict into a block. A request is that raw publish with a reply subject on a
wildcard inbox subscription owned by the publisher, one token per request, so a late reply to
a request that timed out can never be taken for the answer to the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.protocol import command as protocol

from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import RuntimeFailure, UsageError
from evmon.model import Headers
from evmon.sources.kafka import (
    bootstrap_errors,
    client_kwargs,
    connect_error,
    describe_kafka_error,
)
from evmon.sources.nats import connect_nats

__all__ = [
    "KafkaPublisher",
    "NatsPublisher",
    "PublishAck",
    "PublishError",
    "check_nats_headers",
    "check_nats_subject",
    "nats_header_block",
    "publish_raw",
]

#: How long one acknowledgement (PubAck, flush PONG, Kafka produce response) may take.
ACK_TIMEOUT = 10.0


class PublishError(RuntimeFailure):
    """One message was not acknowledged; the message says why (one line)."""


@dataclass(frozen=True, slots=True)
class PublishAck:
    """Where a published message ended up, as far as the broker said.

    JetStream: ``stream`` and ``seq``; ``duplicate`` when the stream dropped the message as
    a repeat of a ``Nats-Msg-Id`` inside its duplicate window (``seq`` is then the original's).
    Kafka: ``partition`` and ``offset``. Core NATS: all None (the flush proves the server read
    it, not that anyone received it).
    """

    target: str
    stream: str | None = None
    seq: int | None = None
    partition: int | None = None
    offset: int | None = None
    duplicate: bool = False

    @property
    def position(self) -> str:
        if self.stream is not None:
            return f"{self.stream}#{self.seq}"
        if self.partition is not None:
            return f"p{self.partition}@{self.offset}"
        return ""

    @property
    def stored(self) -> bool:
        """The broker stored this message (a JetStream duplicate or a core publish: no)."""
        return (self.stream is not None and not self.duplicate) or self.partition is not None


# --------------------------------------------------------------------------- NATS wire

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


def nats_header_block(headers: Headers) -> bytes:
    """``NATS/1.0\\r\\nName: value\\r\\n...\\r\\n``: wire order and repeats kept, bytes as given.

    ``evmon.sources.nats.parse_header_block`` reads it back to the same pairs.
    """
    parts = [b"NATS/1.0\r\n"]
    for name, value in headers:
        parts += (name.encode("utf-8", "surrogateescape"), b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


async def publish_raw(
    nc: Client, subject: str, payload: bytes, headers: Headers = (), reply: str = ""
) -> None:
    """Publish with the exact header block (see the module doc for why and how)."""
    if nc.is_closed:
        raise PublishError("the NATS connection is closed")
    block = nats_header_block(headers) if headers else b""
    # The server counts headers and payload against max_payload together, and answers a
    # violation by closing the connection: check first so nothing is reported sent.
    if len(block) + len(payload) > nc.max_payload:
        raise PublishError(
            f"message of {len(payload)} bytes payload + {len(block)} bytes headers exceeds "
            f"the server's max_payload of {nc.max_payload} bytes"
        )
    if headers:
        cmd = protocol.hpub_cmd(subject, reply, block, payload)
    else:
        cmd = protocol.pub_cmd(subject, reply, payload)
    await nc._send_command(cmd)
    # Client.publish wakes its flusher this way when nothing else is queued.
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()


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


# --------------------------------------------------------------------------- Kafka


class KafkaPublisher:
    """Exact produces with ``acks="all"``, one at a time (see the module doc)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, frozenset[int]] = {}

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            max_request_size=16 * 1024 * 1024,
            **client_kwargs(self.settings),
        )
        try:
            with bootstrap_errors() as seen:
                await asyncio.wait_for(producer.start(), self.settings.request_timeout)
        except (TimeoutError, KafkaError, OSError) as err:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise connect_error(self.settings, err, seen) from None
        self.producer = producer

    async def __aenter__(self) -> KafkaPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)

    async def partitions(self, topic: str) -> frozenset[int]:
        """The topic's partitions; UsageError when it does not exist (never auto-creates it)."""
        if topic in self._partitions:
            return self._partitions[topic]
        assert self.producer is not None, "start() first"
        try:
            cluster = await self.producer.client.fetch_all_metadata()
        except (KafkaError, OSError) as err:
            raise PublishError(f"Kafka metadata: {describe_kafka_error(err)}") from None
        parts = cluster.partitions_for_topic(topic)
        if not parts:
            raise UsageError(f"Kafka topic {topic!r} not found on {self.settings.display}")
        self._partitions[topic] = frozenset(parts)
        return self._partitions[topic]

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers = (),
        partition: int | None = None,
    ) -> PublishAck:
        """Produce one record (``value=None`` is a tombstone) and wait for all replicas.

        ``partition`` is used when the topic has it, else the record goes by key.
        """
        assert self.producer is not None, "start() first"
        if partition is not None and partition not in await self.partitions(topic):
            partition = None
        else:
            await self.partitions(topic)
        try:
            md = await asyncio.wait_for(
                self.producer.send_and_wait(
                    topic, value=value, key=key, partition=partition, headers=list(headers)
                ),
                self.settings.request_timeout * 3,
            )
        except TimeoutError:
            raise PublishError(
                "no acknowledgement within "
                f"{self.settings.request_timeout * 3:g} s (it may or may not have been written)"
            ) from None
        except (KafkaError, OSError, ValueError) as err:
            raise PublishError(f"not acknowledged: {describe_kafka_error(err)}") from None
        return PublishAck(topic, partition=md.partition, offset=md.offset)
