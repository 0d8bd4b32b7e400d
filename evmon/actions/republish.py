"""Re-publish (replay): plan, check the targets, publish, and report what the broker did.

    plan = [plan_event(ev, "payments.card.failed", msg_id="new") for ev in events]
    checks = await check_replay(ctx, plan)          # streams, duplicate windows, interest
    for line in checks.warnings(plan): ...           # shown before the confirmation
    result = await replay(ctx, plan, checks=checks)
    result.summary()  # "sent 3 events to ORDERS.x: 1 stored, 2 dropped as duplicates by ..."

An acknowledgement is not the same as a stored message, and the report keeps them apart:

- JetStream answers every publish with a PubAck; one with ``duplicate: true`` means the
  stream already holds a message with that ``Nats-Msg-Id`` inside its duplicate window and
  stored nothing. Records read from a stream carry their ``Nats-Msg-Id``, so replaying a
  dead-letter queue into its stream within the window stores nothing; ``msg_id="new"``
  (``<original>.evmon-<uuid4>``, the origin stays readable) or ``"drop"`` avoids that.
- A core NATS publish is confirmed by a flush: the server read it, and drops it when nobody
  subscribes. Interest is asked from the server (``evmon.sources.nats.interest``: the
  monitoring URL, else the account's CONNZ); when it cannot be asked, the report says
  "interest unknown" rather than "acknowledged".
- Kafka: stored at partition@offset by every in-sync replica (``acks=all``).

``ReplayResult.ok`` is False when any event was not stored (a duplicate, a core publish into
no interest): ``evmon replay`` exits 1 then, and the audit record's outcome is ``partial``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from evmon.actions.context import ActionContext
from evmon.actions.replay_error import ReplayError
from evmon.codec import safe_text
from evmon.errors import UsageError
from evmon.model import Event, Headers
from evmon.sources.ack import PublishAck, PublishError
from evmon.sources.kafka.partitioners import Partitioner, replay_partition
from evmon.sources.kafka.publish import KafkaPublisher
from evmon.sources.nats.interest import (
    Interest,
    InterestUnknown,
    account_interest,
    monitor_interest,
)
from evmon.sources.nats.publish import NatsPublisher, check_nats_headers, check_nats_subject

__all__ = [
    "MSG_ID_HEADER",
    "MSG_ID_POLICIES",
    "PROVENANCE_HEADER",
    "MsgIdPolicy",
    "PlannedPublish",
    "ReplayChecks",
    "ReplayError",
    "ReplayResult",
    "TargetCheck",
    "check_replay",
    "identity",
    "plan_event",
    "plan_replay",
    "replay",
]

PROVENANCE_HEADER = "evmon-replayed-from"
MSG_ID_HEADER = "Nats-Msg-Id"
MsgIdPolicy = Literal["keep", "drop", "new"]
MSG_ID_POLICIES: tuple[MsgIdPolicy, ...] = ("keep", "drop", "new")


def identity(ev: Event) -> str:
    """``<source>:<subject>[:<partition>]:<offset>`` (no offset for core NATS messages)."""
    parts = [ev.source, ev.subject]
    if ev.partition is not None:
        parts.append(str(ev.partition))
    if ev.offset is not None:
        parts.append(str(ev.offset))
    return ":".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _where(targets: Sequence[str]) -> str:
    shown = ", ".join(targets[:3]) or "nowhere"
    return shown + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")


def _window(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class PlannedPublish:
    """One event as it will be sent: the exact bytes, and where to."""

    event: Event
    identity: str
    target: str
    headers: Headers
    #: Kafka only: the original partition, used when the target is the same topic and has it.
    partition: int | None = None
    #: what was done to ``Nats-Msg-Id`` (``new``: a fresh id no stream has seen)
    msg_id_policy: MsgIdPolicy = "keep"
    #: Kafka: ``--partitioner`` (None: ``partition``, else the producer's murmur2), and the
    #: record time to produce with (``--keep-timestamp``; None: now)
    partitioner: Partitioner | None = None
    timestamp_ms: int | None = None

    @property
    def source(self) -> str:
        return self.event.source

    @property
    def msg_id(self) -> bytes | None:
        """The ``Nats-Msg-Id`` this copy carries (NATS only), None without one."""
        if self.source != "nats":
            return None
        return next((v for n, v in self.headers if n == MSG_ID_HEADER), None)

    def describe(self) -> str:
        """The dry-run line: ``identity -> source:target[ partition], size, headers``."""
        where = f"{self.source}:{self.target}"
        if self.source == "kafka":
            how = self.partitioner
            part = self.event.partition if how == "keep" else self.partition
            by = f"by {how} of the key" if how in ("murmur2", "fnv1a") else "by key"
            where += f" (partition {part})" if part is not None else f" ({by})"
        payload = "tombstone" if self.event.payload is None else f"{self.event.size} B"
        line = f"{self.identity} -> {where}, {payload}, {_plural(len(self.headers), 'header')}"
        msg_id = self.msg_id
        if msg_id is not None:
            line += f", {MSG_ID_HEADER} {msg_id.decode('utf-8', 'backslashreplace')}"
        return safe_text(line)


_KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def new_msg_id(original: bytes) -> bytes:
    """``<original>.evmon-<uuid4>``: unique per copy, and the original id stays readable."""
    return original + b".evmon-" + str(uuid.uuid4()).encode()


def _apply_msg_id(headers: Headers, policy: MsgIdPolicy) -> Headers:
    if policy == "keep":
        return headers
    if policy == "drop":
        return tuple(h for h in headers if h[0] != MSG_ID_HEADER)
    return tuple((n, new_msg_id(v)) if n == MSG_ID_HEADER else (n, v) for n, v in headers)


def plan_event(
    ev: Event,
    target: str | None = None,
    provenance: bool = True,
    msg_id: MsgIdPolicy = "keep",
    partitioner: Partitioner | None = None,
    keep_timestamp: bool = False,
) -> PlannedPublish:
    """Validate one event for re-publishing; UsageError saying what cannot be sent, and why.

    ``msg_id`` applies to NATS events: ``keep`` sends ``Nats-Msg-Id`` byte for byte, ``drop``
    leaves it out, ``new`` gives this copy a fresh one (``new_msg_id``); each call makes a
    new id, so plan every copy with its own call. ``partitioner`` and ``keep_timestamp``
    apply to Kafka events (``partitioners.replay_partition`` when sending).
    """
    if msg_id not in MSG_ID_POLICIES:
        raise UsageError(f"--msg-id: {msg_id!r} is not one of keep, drop, new")
    ident = identity(ev)
    dest = target or ev.subject
    headers = ev.headers
    if ev.source == "nats":
        headers = _apply_msg_id(headers, msg_id)
    if provenance:
        headers = (*headers, (PROVENANCE_HEADER, ident.encode()))
    try:
        if ev.source == "nats":
            if ev.payload is None:
                raise UsageError("a NATS message has a payload (data is null)")
            if ev.key is not None:
                raise UsageError("NATS messages have no key")
            check_nats_subject(dest)
            check_nats_headers(headers)
            return PlannedPublish(ev, ident, dest, headers, msg_id_policy=msg_id)
        if _KAFKA_TOPIC.fullmatch(dest) is None or dest in (".", ".."):
            raise UsageError(f"{dest!r} is not a valid Kafka topic name")
        partition = ev.partition if dest == ev.subject and partitioner is None else None
        stamp = round(ev.timestamp * 1000) if keep_timestamp else None
        return PlannedPublish(ev, ident, dest, headers, partition, "keep", partitioner, stamp)
    except UsageError as err:
        raise UsageError(safe_text(f"{ident}: {err}")) from None


def plan_replay(
    events: Iterable[Event],
    target: str | None = None,
    provenance: bool = True,
    msg_id: MsgIdPolicy = "keep",
) -> list[PlannedPublish]:
    """Every event validated before anything is sent (``--dry-run`` prints this)."""
    return [plan_event(ev, target, provenance, msg_id) for ev in events]


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """What the server says about one NATS target before anything is sent."""

    target: str
    #: the JetStream stream that stores the subject, None for a core subject
    stream: str | None = None
    #: the stream's duplicate window in seconds (0: none)
    duplicate_window: float = 0.0
    #: core subjects: the subscriptions that would receive it; None when unknown
    interest: Interest | None = None
    #: why interest is unknown (for --debug and the docs)
    unknown: str = ""


@dataclass(frozen=True, slots=True)
class ReplayChecks:
    """``TargetCheck`` per NATS target (Kafka targets need none)."""

    targets: Mapping[str, TargetCheck] = field(default_factory=dict)

    def warnings(self, plan: Sequence[PlannedPublish]) -> list[str]:
        """One line per problem found before sending (duplicates ahead, nobody listening)."""
        out = []
        for name, check in self.targets.items():
            mine = [p for p in plan if p.source == "nats" and p.target == name]
            if check.stream is not None and check.duplicate_window > 0:
                with_id = sum(1 for p in mine if p.msg_id is not None and p.msg_id_policy != "new")
                if with_id:
                    out.append(
                        f"{_plural(with_id, 'event')} carr{'ies' if with_id == 1 else 'y'} "
                        f"{MSG_ID_HEADER} and {name} is stored "
                        f"by stream {check.stream} with a {_window(check.duplicate_window)} "
                        "duplicate window: an id it already holds is dropped as a duplicate, "
                        "not stored (--msg-id new gives fresh ids, --msg-id drop none)"
                    )
            elif (
                check.stream is None
                and check.interest is not None
                and not check.interest.receives
                and mine
            ):
                out.append(
                    f"nobody subscribes to {name} (per {check.interest.via}): the server "
                    f"will drop the {_plural(len(mine), 'event')} published there"
                )
        return [safe_text(line) for line in out]

    def no_interest(self) -> list[str]:
        """Core targets nobody subscribes to (known, not guessed)."""
        return [
            name
            for name, c in self.targets.items()
            if c.stream is None and c.interest is not None and not c.interest.receives
        ]


async def _check(
    ctx: ActionContext, npub: NatsPublisher, plan: Sequence[PlannedPublish]
) -> ReplayChecks:
    names = list(dict.fromkeys(p.target for p in plan if p.source == "nats"))
    streams: dict[str, str | None] = {}
    windows: dict[str, float] = {}
    for name in names:
        try:
            stream = await npub.stream_of(name)
        except PublishError as err:
            raise UsageError(safe_text(str(err))) from None
        streams[name] = stream
        if stream is not None and stream not in windows:
            try:
                windows[stream] = await npub.duplicate_window(stream)
            except PublishError:
                windows[stream] = 0.0
    core = [n for n in names if streams[n] is None]
    interest: dict[str, Interest] = {}
    unknown = ""
    if core:
        try:
            if ctx.nats_monitor:
                interest = await monitor_interest(ctx.nats_monitor, core)
            else:
                assert npub.nc is not None
                interest = await account_interest(npub.nc, core)
        except InterestUnknown as err:
            if ctx.nats_monitor:
                raise UsageError(safe_text(f"{err}; check --nats-monitor")) from None
            unknown = str(err)
    out = {}
    for name in names:
        stream = streams[name]
        if stream is not None:
            out[name] = TargetCheck(name, stream, windows.get(stream, 0.0))
        else:
            out[name] = TargetCheck(name, None, 0.0, interest.get(name), unknown)
    return ReplayChecks(out)


async def check_replay(ctx: ActionContext, plan: Sequence[PlannedPublish]) -> ReplayChecks:
    """Ask the NATS server about every NATS target (streams, duplicate windows, interest).

    Nothing is published. No NATS targets: no connection, empty checks.
    """
    if not any(p.source == "nats" for p in plan):
        return ReplayChecks()
    npub = NatsPublisher(ctx.need_nats("re-publishing NATS events"))
    await npub.start()
    try:
        return await _check(ctx, npub, plan)
    finally:
        await npub.close()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """Every event was sent and acknowledged: ``acks[i]`` is what became of ``plan[i]``."""

    count: int
    targets: tuple[str, ...]
    acks: tuple[PublishAck, ...] = ()
    plan: tuple[PlannedPublish, ...] = ()
    checks: ReplayChecks = field(default_factory=ReplayChecks)

    def _check(self, target: str) -> TargetCheck | None:
        return self.checks.targets.get(target)

    def _core_state(self, target: str) -> Literal["unknown", "interest", "none"]:
        check = self._check(target)
        if check is None or check.interest is None:
            return "unknown"
        return "interest" if check.interest.receives else "none"

    @property
    def stored(self) -> int:
        return sum(1 for a in self.acks if a.stored)

    @property
    def duplicates(self) -> dict[str, int]:
        """Stream -> events it dropped as duplicates."""
        out: dict[str, int] = {}
        for a in self.acks:
            if a.duplicate and a.stream is not None:
                out[a.stream] = out.get(a.stream, 0) + 1
        return out

    def delivered(self) -> dict[str, int]:
        """Core publishes by what is known of interest: unknown, interest, none."""
        out: dict[str, int] = {}
        for a in self.acks:
            if a.stream is None and a.partition is None:
                state = self._core_state(a.target)
                out[state] = out.get(state, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        """Every event stored, or delivered to a server where it has (or may have) interest."""
        return not self.duplicates and not self.delivered().get("none")

    def lines(self) -> list[str]:
        """One line per event: ``identity -> where: what the broker did``."""
        out = []
        for p, a in zip(self.plan, self.acks, strict=False):
            if a.duplicate:
                what = (
                    f"{a.target}: dropped as a duplicate by stream {a.stream} "
                    f"({MSG_ID_HEADER} already stored as {a.position})"
                )
            elif a.stored:
                what = f"{a.target} {a.position}: stored"
            else:
                state = self._core_state(a.target)
                check = self._check(a.target)
                if state == "unknown":
                    what = f"{a.target}: delivered to the server; interest unknown"
                elif state == "none":
                    what = f"{a.target}: delivered to the server; no subscriber, dropped"
                else:
                    assert check is not None and check.interest is not None
                    what = f"{a.target}: delivered to {check.interest.describe()}"
            out.append(safe_text(f"{p.identity} -> {what}"))
        return out

    def summary(self) -> str:
        """``sent 3 events to T: 1 stored, 2 dropped as duplicates by stream S (...)``."""
        parts = []
        if self.stored:
            parts.append(f"{self.stored} stored")
        dups = self.duplicates
        if dups:
            (first, n0), *rest = dups.items()
            text = f"{n0} dropped as {'a duplicate' if n0 == 1 else 'duplicates'} by stream {first}"
            text += "".join(f", {n} by stream {s}" for s, n in rest)
            parts.append(text + f" ({MSG_ID_HEADER} within the duplicate window)")
        delivered = self.delivered()
        if delivered.get("interest"):
            heard = [
                c.interest
                for c in self.checks.targets.values()
                if c.interest is not None and c.interest.receives and c.target in self.targets
            ]
            who = heard[0].describe() if len(heard) == 1 else "subscribers on each target"
            parts.append(f"{delivered['interest']} delivered to the server, which has {who}")
        if delivered.get("none"):
            parts.append(f"{delivered['none']} delivered to the server with no subscriber: dropped")
        if delivered.get("unknown"):
            parts.append(f"{delivered['unknown']} delivered to the server; interest unknown")
        head = f"sent {_plural(self.count, 'event')} to {_where(self.targets)}"
        return safe_text(head + (": " + ", ".join(parts) if parts else ""))


# --------------------------------------------------------------------------- replay


def _brokers(ctx: ActionContext, plan: Sequence[PlannedPublish]) -> str:
    out = []
    if ctx.nats is not None and any(p.source == "nats" for p in plan):
        out.append(ctx.nats.display)
    if ctx.kafka is not None and any(p.source == "kafka" for p in plan):
        out.append(ctx.kafka.display)
    return ",".join(out)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _digest_item(p: PlannedPublish) -> bytes:
    """What was sent of one message, canonically: source, target, key, headers, payload."""
    headers = [[n, _b64(v)] for n, v in p.headers]
    return orjson.dumps([p.source, p.target, _b64(p.event.key), headers, _b64(p.event.payload)])


async def replay(
    ctx: ActionContext,
    events: Iterable[Event] | Sequence[PlannedPublish],
    *,
    target: str | None = None,
    provenance: bool = True,
    msg_id: MsgIdPolicy = "keep",
    rate: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    checks: ReplayChecks | None = None,
    edited: bool = False,
    copies: int = 1,
) -> ReplayResult:
    """Re-publish events, one acknowledged publish after another, in order.

    ``events`` may be Events (planned here with ``target``/``provenance``/``msg_id``) or an
    already made plan (the dashboard's edited copies; ``msg_id`` then only says, for the
    audit record, how it was planned). Each event goes to the broker it came
    from. ``rate`` caps events per second. ``on_progress(done, total)`` follows
    acknowledgements. ``checks`` from ``check_replay`` (made here when not given) say which
    targets are streams and who listens on core ones. ``edited`` and ``copies`` go to the
    audit record with the sha256 of what was sent.
    """
    ctx.guard("replay")
    items: list[Event | PlannedPublish] = list(events)
    plan = [
        p if isinstance(p, PlannedPublish) else plan_event(p, target, provenance, msg_id)
        for p in items
    ]
    if rate is not None and rate <= 0:
        raise UsageError("the rate must be a positive number of events per second")
    has_nats = any(p.source == "nats" for p in plan)
    has_kafka = any(p.source == "kafka" for p in plan)
    nats = ctx.need_nats("re-publishing NATS events") if has_nats else None
    kafka = ctx.need_kafka("re-publishing Kafka events") if has_kafka else None
    targets = tuple(dict.fromkeys(p.target for p in plan))
    if not plan:
        return ReplayResult(0, targets)
    ctx.check_audit()

    total = len(plan)
    acks: list[PublishAck] = []
    digest = hashlib.sha256()
    npub = NatsPublisher(nats) if nats is not None else None
    kpub = KafkaPublisher(kafka) if kafka is not None else None
    parts: list[int | None] = []
    try:
        if npub is not None:
            await npub.start()
            if checks is None:
                checks = await _check(ctx, npub, plan)
        if kpub is not None:
            await kpub.start()
            for topic in dict.fromkeys(p.target for p in plan if p.source == "kafka"):
                await kpub.partitions(topic)  # an unknown topic stops us before any send
            parts = [  # --partitioner keep refused here: nothing sent
                None
                if p.source != "kafka"
                else replay_partition(
                    p.partitioner,
                    p.event.key,
                    p.event.partition,
                    p.partition,
                    await kpub.partitions(p.target),
                    p.identity,
                )
                for p in plan
            ]
    except BaseException:
        for pub in (npub, kpub):
            if pub is not None:
                await pub.close()
        raise
    checks = checks if checks is not None else ReplayChecks()

    def audit(outcome: str, detail: str, result: ReplayResult | None = None) -> None:
        done = result or ReplayResult(len(acks), targets, tuple(acks), tuple(plan), checks)
        delivered = done.delivered()
        extra: dict[str, Any] = {
            "edited": edited,
            "copies": copies,
            "msg_id": msg_id,
            "sha256": digest.hexdigest(),
            "sent": len(acks),
            "stored": done.stored,
            "duplicates": done.duplicates,
            "delivered": delivered,
        }
        how = {p.partitioner for p in plan if p.partitioner} | (  # Kafka choices, when made
            {"keep_timestamp"} if any(p.timestamp_ms is not None for p in plan) else set()
        )
        extra.update({"kafka": sorted(how)} if how else {})
        ctx.record(
            action="replay",
            broker=_brokers(ctx, plan),
            target=",".join(targets),
            events=[p.identity for p in plan],
            outcome=outcome,
            detail=detail,
            extra=extra,
        )

    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i, p in enumerate(plan):
            if rate is not None and i:
                delay = started + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            ev = p.event
            try:
                if p.source == "nats":
                    assert npub is not None and ev.payload is not None
                    ack = await npub.publish(p.target, ev.payload, p.headers)
                else:
                    assert kpub is not None
                    ack = await kpub.publish(
                        p.target, ev.payload, ev.key, p.headers, parts[i], p.timestamp_ms
                    )
            except (PublishError, UsageError) as err:
                raise ReplayError(p.identity, p.target, str(err), len(acks), total) from None
            acks.append(ack)
            digest.update(_digest_item(p) + b"\n")
            if on_progress is not None:
                on_progress(len(acks), total)
    except ReplayError as err:
        audit("failed", f"{err.acknowledged} of {total}: {err}")
        raise
    except (Exception, asyncio.CancelledError) as err:
        cancelled = isinstance(err, asyncio.CancelledError)
        audit("cancelled" if cancelled else "failed", f"{len(acks)} of {total} acknowledged")
        raise
    finally:
        for pub in (npub, kpub):
            if pub is not None:
                await pub.close()
    result = ReplayResult(total, targets, tuple(acks), tuple(plan), checks)
    audit("ok" if result.ok else "partial", result.summary(), result)
    return result
