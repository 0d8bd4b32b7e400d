"""Moving a JetStream consumer past a poison message: the NATS I/O of ``evmon skip``.

``consumer_position`` reads a consumer's state; ``reset_consumer`` calls
``$JS.API.CONSUMER.RESET.<stream>.<consumer>`` (nats-server 2.14+, ADR-60). Finding and
holding the exact message a pull consumer is stuck on::


    msg = await read_stream_message(nc, "ORDERS", 33, ["orders.>"])   # preview, read-only
    found = await hunt(nc, "ORDERS", "worker", 33, wait=10, ack_wait=30)
    if found.held is not None:
        await found.held.terminate()          # a confirmed +TERM for sequence 33, no other

Why a hunt: JetStream has no "deliver me sequence N" request. The stuck message (stream
sequence ack floor + 1) is ack-pending, usually to the live consumer that naks it with a
delay; evmon can get it only when the server redelivers it to one of evmon's own pull
requests. So evmon keeps one pull request (batch 1, short expiry) waiting as the durable
and looks at every message it is given: the target is held (its ack timer kept alive with
``+WPI`` while the operator confirms); anything else is handed back at once with a confirmed
``-NAK`` (no delay) so the live consumer gets it next, and counted. A message that comes
back to evmon a second time means nobody else is pulling: it is kept until the hunt ends
(returned then) so it is not bounced back and forth, raising its delivery count each time.
The hunt is bounded by a deadline and by ``MAX_ON_THE_WAY`` messages; it stops early when
the consumer acknowledges the target itself (it was not stuck after all).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from evmon.codec.timestamps import parse_timestamp
from evmon.errors import RuntimeFailure, UsageError
from evmon.sources import PREVIEW_BYTES

__all__ = [
    "MAX_ON_THE_WAY",
    "ConsumerPosition",
    "HeldMessage",
    "HuntResult",
    "StreamMessage",
    "consumer_info",
    "consumer_position",
    "hunt",
    "read_stream_message",
    "reset_consumer",
]

API_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ConsumerPosition:
    """A JetStream consumer's delivery state (stream sequences)."""

    ack_floor: int
    delivered: int
    num_pending: int
    num_ack_pending: int
    num_redelivered: int
    num_waiting: int = 0

    def __str__(self) -> str:
        return (
            f"ack floor {self.ack_floor}, delivered {self.delivered}, "
            f"{self.num_pending} pending, {self.num_ack_pending} awaiting ack, "
            f"{self.num_redelivered} redelivered"
        )

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ConsumerPosition:
        return cls(
            ack_floor=int((info.get("ack_floor") or {}).get("stream_seq", 0)),
            delivered=int((info.get("delivered") or {}).get("stream_seq", 0)),
            num_pending=int(info.get("num_pending") or 0),
            num_ack_pending=int(info.get("num_ack_pending") or 0),
            num_redelivered=int(info.get("num_redelivered") or 0),
            num_waiting=int(info.get("num_waiting") or 0),
        )


async def _api(nc: Client, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One JetStream API request; UsageError with the server's description on an error."""
    payload = orjson.dumps(body) if body is not None else b""
    try:
        msg = await nc.request(subject, payload, timeout=API_TIMEOUT)
    except NoRespondersError:
        raise UsageError("JetStream is not enabled on this server (no responders)") from None
    except NatsTimeoutError:
        raise RuntimeFailure(f"JetStream did not answer {subject} in {API_TIMEOUT:g} s") from None
    try:
        reply: Any = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        raise RuntimeFailure(f"unreadable JetStream answer to {subject}") from None
    if not isinstance(reply, dict):
        raise RuntimeFailure(f"unexpected JetStream answer to {subject}")
    error = reply.get("error")
    if error:
        raise UsageError(str(error.get("description") or error))
    return reply


async def consumer_info(nc: Client, stream: str, consumer: str) -> dict[str, Any]:
    try:
        return await _api(nc, f"$JS.API.CONSUMER.INFO.{stream}.{consumer}")
    except UsageError as err:
        raise UsageError(f"JetStream consumer {consumer!r} on stream {stream!r}: {err}") from None


async def consumer_position(nc: Client, stream: str, consumer: str) -> ConsumerPosition:
    return ConsumerPosition.from_info(await consumer_info(nc, stream, consumer))


#: nats-server release that introduced $JS.API.CONSUMER.RESET.
RESET_SINCE = (2, 14)


async def reset_consumer(nc: Client, stream: str, consumer: str, seq: int) -> int:
    """Reset the consumer so the next message delivered has a stream sequence >= ``seq``.

    Returns the sequence the server reset to. UsageError on servers before 2.14.
    """
    version = nc.connected_server_version
    if (version.major, version.minor) < RESET_SINCE:
        raise UsageError(
            "--seq needs nats-server 2.14 or later (consumer reset); this server is "
            f"{version.major}.{version.minor}.{version.patch}"
        )
    try:
        reply = await _api(nc, f"$JS.API.CONSUMER.RESET.{stream}.{consumer}", {"seq": seq})
    except UsageError as err:
        raise UsageError(f"cannot reset consumer {consumer!r} to sequence {seq}: {err}") from None
    return int(reply.get("reset_seq", seq))


#: The most messages a hunt fetches on the way (each is returned, its delivery count + 1).
MAX_ON_THE_WAY = 100
#: Longest single pull request: the hunt re-checks the consumer between requests.
_PULL_SLICE = 1.0
#: How long after its expiry the server's answer (408) to the last request is awaited.
_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One stored message of a stream, as read for the preview."""

    stream: str
    seq: int
    subject: str
    size: int
    timestamp: float | None
    head: bytes  # the first PREVIEW_BYTES of the payload


async def read_stream_message(
    nc: Client, stream: str, seq: int, filters: Sequence[str] = ()
) -> StreamMessage | None:
    """The first message at or after ``seq`` matching one of ``filters`` (all when empty),
    with ``$JS.API.STREAM.MSG.GET``; None when there is none."""
    found: StreamMessage | None = None
    for subject in filters or [">"]:
        msg = await _msg_get(nc, stream, {"seq": seq, "next_by_subj": subject})
        if msg is not None and (found is None or msg.seq < found.seq):
            found = msg
    return found


async def _msg_get(nc: Client, stream: str, body: dict[str, Any]) -> StreamMessage | None:
    api = f"$JS.API.STREAM.MSG.GET.{stream}"
    try:
        reply = await nc.request(api, orjson.dumps(body), timeout=API_TIMEOUT)
    except NoRespondersError:
        raise UsageError("JetStream is not enabled on this server (no responders)") from None
    except NatsTimeoutError:
        raise RuntimeFailure(f"JetStream did not answer {api} in {API_TIMEOUT:g} s") from None
    try:
        answer: Any = orjson.loads(reply.data)
    except orjson.JSONDecodeError:
        raise RuntimeFailure(f"unreadable JetStream answer to {api}") from None
    error = answer.get("error") if isinstance(answer, dict) else None
    if error:
        if error.get("code") == 404:
            return None
        raise UsageError(f"stream {stream!r}: {error.get('description') or error}")
    stored = answer.get("message") if isinstance(answer, dict) else None
    if not isinstance(stored, dict):
        raise RuntimeFailure(f"unexpected JetStream answer to {api}")
    data = base64.b64decode(stored.get("data") or "")
    try:
        ts: float | None = parse_timestamp(str(stored.get("time")))
    except ValueError:
        ts = None
    return StreamMessage(
        stream,
        int(stored["seq"]),
        str(stored.get("subject", "")),
        len(data),
        ts,
        data[:PREVIEW_BYTES],
    )


class HeldMessage:
    """The target, delivered to evmon and kept from redelivery until terminated or returned."""

    def __init__(self, nc: Client, msg: Msg, ack_wait: float) -> None:
        meta = msg.metadata
        self.nc = nc
        self.reply = msg.reply
        self.seq: int = meta.sequence.stream
        self.subject = msg.subject
        self.deliveries: int = meta.num_delivered
        self.size = len(msg.data)
        self.head = msg.data[:PREVIEW_BYTES]
        self.done = False
        # +WPI resets the ack timer; twice per ack wait keeps the message with evmon.
        self._keeper = asyncio.create_task(self._keep(max(ack_wait / 2, 0.2)))

    async def _keep(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await self.nc.publish(self.reply, b"+WPI")

    async def _stop(self) -> None:
        self._keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._keeper

    async def terminate(self) -> None:
        """A confirmed ``+TERM`` for this delivery: the server never redelivers it."""
        await self._stop()
        try:
            await self.nc.request(self.reply, b"+TERM", timeout=API_TIMEOUT)
        except (NatsTimeoutError, NoRespondersError):
            raise RuntimeFailure(
                f"the server did not confirm terminating stream sequence {self.seq}"
            ) from None
        self.done = True

    async def hand_back(self) -> bool:
        """Return it for redelivery now (``-NAK``); True when the server confirmed."""
        await self._stop()
        if self.done:
            return False
        self.done = True
        return await _nak(self.nc, self.reply)


async def _nak(nc: Client, reply: str) -> bool:
    try:
        await nc.request(reply, b"-NAK", timeout=API_TIMEOUT)
    except (NatsTimeoutError, NoRespondersError):
        return False
    return True


@dataclass(slots=True)
class HuntResult:
    """The held target (None: not reached) and what was fetched on the way."""

    held: HeldMessage | None
    returned: int = 0
    #: Why the target was not reached: "deadline", "limit", or "acked" (the consumer's ack
    #: floor passed it while evmon waited).
    reason: str = ""


async def hunt(
    nc: Client, stream: str, consumer: str, target: int, *, wait: float, ack_wait: float
) -> HuntResult:
    """Pull as the durable until stream sequence ``target`` is delivered (see the module)."""
    inbox = nc.new_inbox()
    inbound: asyncio.Queue[Msg] = asyncio.Queue()

    async def deliver(msg: Msg) -> None:
        inbound.put_nowait(msg)

    sub = await nc.subscribe(inbox, cb=deliver)
    api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    result = HuntResult(None)
    returned: set[int] = set()  # stream sequences handed back
    kept: list[tuple[int, str]] = []  # (sequence, ack subject) held back until the end
    outstanding = False
    stop = ""
    try:
        while True:
            now = loop.time()
            if not outstanding:
                if stop or deadline - now < 0.05:
                    result.reason = stop or "deadline"
                    break
                expires = min(deadline - now, _PULL_SLICE)
                request = {"batch": 1, "expires": int(expires * 1e9)}
                await nc.publish(api, orjson.dumps(request), reply=inbox)
                outstanding = True
            try:
                msg = await asyncio.wait_for(inbound.get(), max(deadline - now, 0) + _GRACE)
            except TimeoutError:
                result.reason = stop or "deadline"
                break  # the server never answered the last request
            status = (msg.headers or {}).get("Status")
            if status is not None:
                if status == "100":
                    continue
                outstanding = False
                if status == "409":
                    why = (msg.headers or {}).get("Description", "refused")
                    raise RuntimeFailure(f"the server ended evmon's pull request: {why}")
                # 408 (expired) or 404: a moment to see whether the consumer moved on itself
                if (await consumer_position(nc, stream, consumer)).ack_floor >= target:
                    stop = "acked"
                continue
            outstanding = False
            if not msg.reply:
                continue
            seq = msg.metadata.sequence.stream
            if seq == target:
                result.held = HeldMessage(nc, msg, ack_wait)
                return result
            if seq in returned or not await _nak(nc, msg.reply):
                kept.append((seq, msg.reply))  # bounced back: nobody else pulls; keep it
            else:
                returned.add(seq)
            if len(returned) + len(kept) >= MAX_ON_THE_WAY:
                stop = "limit"
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        for seq, reply in kept:
            if await _nak(nc, reply):
                returned.add(seq)
        result.returned = len(returned)
    return result
