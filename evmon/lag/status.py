"""Lag rows, a window of samples per row, and Burrow-style status.

The sources (``sources/kafka/group_lag.py``, ``sources/nats/jetstream_lag.py``) return rows
whose status is only ``OK``, ``ERR`` or (a Kafka partition with no committed offset)
``NOCOMMIT``: one snapshot cannot tell a trend. A ``LagHistory`` per system keeps
the last N samples of every row key and re-evaluates the status over that window (the
``LagPoller`` in ``evmon.lag.poller`` keeps one per system)::

    history = LagHistory[KafkaLagRow](window=10)
    rows = history.observe(await client.snapshot())   # every refresh
    rows = await history.observe_sliced(snapshot)     # the same, yielding to the event loop
    rows = history.fail()                             # when a refresh failed altogether
    history.samples(row.key)                          # for a sparkline of lag over the window

``observe`` returns the rows of the snapshot with their window status, followed by the rows
whose key disappeared since the previous refresh, marked ``ERR`` with their last known values
(kept for ``window`` refreshes, then forgotten). A screen can diff what it shows by ``row.key``:
``(group, topic, partition)`` for Kafka, ``(stream, consumer)`` for JetStream.
``summarize_groups(rows)`` collapses Kafka rows to one line per group (total lag, worst status).

At scale (200 groups x 50 partitions and 1,000 consumers: 11,000 rows) one refresh is judged
in slices of ``SLICE`` rows (``observe_sliced``, what the poller uses), so a UI sharing the
event loop answers between them; a row whose status changes is rebuilt by its own
``with_status`` (a plain constructor call: ``dataclasses.replace`` cost about 6 µs a row).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NamedTuple, Protocol, Self, TypeVar

Status = Literal["OK", "NOCOMMIT", "WARN", "STALL", "STOP", "ERR"]
#: From best to worst: a group shows the worst status of its partitions. ``NOCOMMIT`` (a
#: Kafka partition the group never committed on) is not judged: where the client starts is
#: its own initial-offset policy, which no broker reports, so it ranks just above OK.
STATUSES: tuple[Status, ...] = ("OK", "NOCOMMIT", "WARN", "STALL", "STOP", "ERR")
DEFAULT_WINDOW = 10
#: Seconds between refreshes for pollers that are not told otherwise (the dashboard).
DEFAULT_REFRESH = 5.0
#: Rows ``LagHistory.observe_sliced`` judges per turn of the event loop (a few ms of work).
SLICE = 1_000


@dataclass(frozen=True, slots=True)
class KafkaMember:
    """One member of a consumer group, as DescribeGroups (or ConsumerGroupDescribe) gives it:
    what ``kafka-consumer-groups --describe --members --verbose`` prints. ``host`` is the
    broker's view of the client's address (``/10.0.0.7``), as that tool shows it."""

    member_id: str
    client_id: str
    host: str
    assignment: tuple[tuple[str, int], ...] = ()

    def to_record(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "client_id": self.client_id,
            "host": self.host,
            "assignment": [{"topic": t, "partition": p} for t, p in sorted(self.assignment)],
        }

    def assignment_text(self) -> str:
        """``orders:0,1;payments:2``: the CURRENT-ASSIGNMENT column of Kafka 4's
        ``kafka-consumer-groups --describe --members --verbose``; ``-`` for none."""
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(self.assignment):
            by_topic.setdefault(topic, []).append(partition)
        return ";".join(f"{t}:{','.join(map(str, ps))}" for t, ps in by_topic.items()) or "-"


def nocommit_note(row: KafkaLagRow) -> str:
    """What a ``NOCOMMIT`` row means, in the words the table prints: the records between the
    log start and the end are skipped by a client starting at newest, read by one at oldest."""
    n = "?" if row.lag is None else str(row.lag)
    return f"no commit: a client starting at newest skips {n}, at oldest reads {n}"


@dataclass(frozen=True, slots=True)
class KafkaLagRow:
    """One partition of one consumer group (or the group alone when it has no partitions).

    ``committed`` is None when the group never committed on the partition; ``lag`` then
    counts from the log start offset and the status is ``NOCOMMIT`` (``nocommit_note``
    says it in words). ``members`` is None when the broker could not tell (a
    consumer-protocol group on a broker without ConsumerGroupDescribe). ``topic`` and
    ``partition`` are None only on the single row of a group that has no partition at all.
    ``active_at`` (not part of the record) is the snapshot time when the group had members
    (or when their number is unknown), else None. ``member_list`` (not part of the lag
    record: ``evmon lag --members`` prints it) is the group's members as the broker
    described them, the same tuple on every row of the group; empty when ``members`` is 0
    or None.
    """

    group: str
    state: str
    members: int | None
    topic: str | None
    partition: int | None
    committed: int | None
    end: int | None
    lag: int | None
    status: Status = "OK"
    active_at: float | None = field(default=None, compare=False)
    member_list: tuple[KafkaMember, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, str | None, int | None]:
        return (self.group, self.topic, self.partition)

    def unchanged(self, other: KafkaLagRow) -> bool:
        """Every field equal, those that ``==`` leaves out too."""
        return (
            self == other
            and self.active_at == other.active_at
            and self.member_list == other.member_list
        )

    def with_status(self, status: Status) -> KafkaLagRow:
        """This row with another status (every other field the same object)."""
        return KafkaLagRow(
            self.group,
            self.state,
            self.members,
            self.topic,
            self.partition,
            self.committed,
            self.end,
            self.lag,
            status,
            self.active_at,
            self.member_list,
        )

    @property
    def position(self) -> int | None:
        return self.committed

    @property
    def lag_value(self) -> int | None:
        return self.lag

    def to_record(self) -> dict[str, Any]:
        return {
            "system": "kafka",
            "group": self.group,
            "state": self.state,
            "members": self.members,
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "end": self.end,
            "lag": self.lag,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class JetStreamLagRow:
    """One JetStream consumer, with its stream's last sequence.

    The numbers are None only on an ``ERR`` row for a stream or consumer that was named but
    does not exist (``consumer`` is then None if only the stream was named, ``stream`` None if
    only the consumer was). The lag used for the window is ``num_pending + num_ack_pending``
    (messages not yet acknowledged) and the position is the ack floor: what the consumer has
    committed to having processed. ``active_at`` (not part of the record) is the last time
    the server saw the consumer deliver or receive an ack, or now if a client is waiting on it.
    ``ephemeral``: the consumer has no durable name (the server deletes it once its client
    is gone, so its name is often random); the record has ``"ephemeral": true`` only then,
    which leaves the record of a durable consumer as it always was.
    """

    stream: str | None
    consumer: str | None
    num_pending: int | None
    num_ack_pending: int | None
    num_redelivered: int | None
    num_waiting: int | None
    delivered_stream_seq: int | None
    ack_floor_stream_seq: int | None
    last_stream_seq: int | None
    status: Status = "OK"
    active_at: float | None = field(default=None, compare=False)
    ephemeral: bool = False

    @property
    def key(self) -> tuple[str | None, str | None]:
        return (self.stream, self.consumer)

    def unchanged(self, other: JetStreamLagRow) -> bool:
        """Every field equal, ``active_at`` (which ``==`` leaves out) too."""
        return self == other and self.active_at == other.active_at

    def with_status(self, status: Status) -> JetStreamLagRow:
        """This row with another status (every other field the same object)."""
        return JetStreamLagRow(
            self.stream,
            self.consumer,
            self.num_pending,
            self.num_ack_pending,
            self.num_redelivered,
            self.num_waiting,
            self.delivered_stream_seq,
            self.ack_floor_stream_seq,
            self.last_stream_seq,
            status,
            self.active_at,
            self.ephemeral,
        )

    @property
    def position(self) -> int | None:
        return self.ack_floor_stream_seq

    @property
    def lag_value(self) -> int | None:
        if self.num_pending is None or self.num_ack_pending is None:
            return None
        return self.num_pending + self.num_ack_pending

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "system": "jetstream",
            "stream": self.stream,
            "consumer": self.consumer,
            "num_pending": self.num_pending,
            "num_ack_pending": self.num_ack_pending,
            "num_redelivered": self.num_redelivered,
            "num_waiting": self.num_waiting,
            "delivered_stream_seq": self.delivered_stream_seq,
            "ack_floor_stream_seq": self.ack_floor_stream_seq,
            "last_stream_seq": self.last_stream_seq,
            "status": self.status,
        }
        if self.ephemeral:
            record["ephemeral"] = True
        return record


@dataclass(frozen=True, slots=True)
class KafkaGroupSummary:
    """One consumer group over all its partitions: the collapsed row of an expandable table."""

    group: str
    state: str
    members: int | None
    partitions: int
    lag: int
    status: Status


def summarize_groups(rows: Iterable[KafkaLagRow]) -> list[KafkaGroupSummary]:
    """Per group (sorted by name): partition count, total lag and the worst status."""
    groups: dict[str, list[KafkaLagRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    out = []
    for name in sorted(groups):
        members = groups[name]
        first = members[0]
        out.append(
            KafkaGroupSummary(
                name,
                first.state,
                first.members,
                sum(1 for r in members if r.partition is not None),
                sum(r.lag or 0 for r in members),
                max((r.status for r in members), key=STATUSES.index),
            )
        )
    return out


class Sample(NamedTuple):
    """One observation of a row: when, the committed position, the lag, last sign of life.

    ``LagHistory`` keeps its windows as plain tuples of the same four fields (``Point``): a
    window of 10 for 11,000 rows is 110,000 objects, and only an exact tuple of numbers is
    left out of the garbage collector's walks (a full collection took 40-65 ms inside one
    event-loop step while they were dataclasses)."""

    time: float
    position: int | None
    lag: int
    active_at: float | None = None


#: A sample as ``LagHistory`` stores it: ``(time, position, lag, active_at)``.
Point = tuple[float, int | None, int, float | None]


def evaluate(samples: Sequence[Point], allowed_lag: int = 0) -> Status:
    """The status of one partition or consumer over its window of samples (oldest first).

    Burrow's rules, with the liveness Kafka and JetStream report standing in for Burrow's
    commit timestamps (a poller cannot see commits that do not move the offset):

    1. No samples: ``ERR`` (nothing could be measured). One sample: ``OK``.
    2. ``OK`` if the lag was at or below ``allowed_lag`` in any sample of the window: the
       consumer caught up at some point, so it is keeping up.
    3. If the position is the same in every sample (the lag stayed above the allowed level):
       ``STALL`` when the consumer showed signs of life inside the window (a Kafka group with
       members; a JetStream consumer that delivered, got acks or has waiting pull requests) —
       it is there but not progressing; otherwise ``STOP``: nothing was committed for longer
       than the window and nobody is consuming.
    4. ``WARN`` if the position moved but the lag never decreased from one sample to the next
       and ended higher than it started: the consumer works but falls further behind.
    5. Otherwise ``OK`` (the lag is shrinking or holding while the consumer progresses).

    ``ERR`` for a gone group/consumer or a failed query is decided by ``LagHistory``.

    So OK is the default, as in Burrow's "Consumer Lag Evaluation Rules": a consumer with a
    lag of 178 that moves and works it down is OK, never judged on a threshold alone. Unlike
    Burrow's rule 5 ("lag not decreasing"), a lag that holds steady while the position moves
    is OK: between two polls that is a consumer keeping pace.

    One pass over the window (it runs for every row of every refresh): ``Sample`` objects
    or the plain ``Point`` tuples the history keeps.
    """
    if len(samples) < 2:
        return "OK" if samples else "ERR"
    start, position, first_lag, _ = samples[0]
    previous = first_lag
    moved, growing = False, True
    for _t, at_position, lag, _a in samples:
        if lag <= allowed_lag:
            return "OK"
        if at_position != position:
            moved = True
        if lag < previous:
            growing = False
        previous = lag
    if not moved:
        alive = any(a is not None and a >= start for _t, _p, _l, a in samples)
        return "STALL" if alive else "STOP"
    return "WARN" if growing and previous > first_lag else "OK"


class LagRow(Protocol):
    """What ``LagHistory`` needs from a row (both row classes above provide it)."""

    def with_status(self, status: Status) -> Self: ...

    def unchanged(self, other: Self) -> bool: ...

    @property
    def key(self) -> Hashable: ...

    @property
    def position(self) -> int | None: ...

    @property
    def lag_value(self) -> int | None: ...

    @property
    def status(self) -> Status: ...

    @property
    def active_at(self) -> float | None: ...


R = TypeVar("R", bound=LagRow)


@dataclass(slots=True)
class _Track(Generic[R]):
    row: R
    samples: deque[Point]
    missing: int = 0
    #: ``row`` with the status last judged (None: not judged, or its status was the row's).
    shown: R | None = None


class LagHistory(Generic[R]):
    """The last ``window`` samples per row key, and the status they give.

    A row the source already marked ``ERR`` stays ``ERR`` and adds no sample; a row without a
    lag (a group with no partitions) keeps the source's status. A ``NOCOMMIT`` row adds its
    sample (for the trend) and stays ``NOCOMMIT``: with no committed position there is no
    progress to judge, so it is never STALL or STOP.
    """

    def __init__(self, window: int = DEFAULT_WINDOW, allowed_lag: int = 0) -> None:
        if window < 1:
            raise ValueError("the window needs at least one sample")
        self.window = window
        self.allowed_lag = allowed_lag
        self._tracks: dict[Hashable, _Track[R]] = {}

    def samples(self, key: Hashable) -> tuple[Sample, ...]:
        track = self._tracks.get(key)
        return tuple(map(Sample._make, track.samples)) if track else ()

    def points(self, key: Hashable) -> Sequence[Point]:
        """The window of ``key`` as the plain tuples kept (oldest first; do not modify):
        ``samples`` without building a ``Sample`` each, for a screen reading every row."""
        track = self._tracks.get(key)
        return track.samples if track else ()

    def keys(self) -> list[Hashable]:
        return list(self._tracks)

    def __contains__(self, key: object) -> bool:
        return key in self._tracks

    def observe(self, rows: Iterable[R], now: float | None = None) -> list[R]:
        """Add one refresh; return its rows with their status, then the vanished rows."""
        out: list[R] = []
        for _ in self._observing(rows, now, out, SLICE):
            pass
        return out

    async def observe_sliced(
        self, rows: Iterable[R], now: float | None = None, size: int = SLICE
    ) -> list[R]:
        """``observe``, yielding to the event loop after every ``size`` rows: the same rows
        and statuses, but no one step long enough to freeze a UI on the same loop. Only one
        refresh of a history may be in flight (the poller never overlaps them)."""
        out: list[R] = []
        for _ in self._observing(rows, now, out, size):
            await asyncio.sleep(0)
        return out

    def _observing(
        self, rows: Iterable[R], now: float | None, out: list[R], size: int
    ) -> Iterator[None]:
        """Fill ``out`` (see ``observe``), yielding after every ``size`` rows."""
        now = time.time() if now is None else now
        seen: set[Hashable] = set()
        tracks, window, allowed = self._tracks, self.window, self.allowed_lag
        for n, row in enumerate(rows, 1):
            if n % size == 0:
                yield
            key = row.key
            seen.add(key)
            track = tracks.get(key)
            if track is None:
                track = tracks[key] = _Track(row, deque(maxlen=window))
            elif row is not track.row:
                if row.unchanged(track.row):
                    # Keep the row already held (and its judged copy): the new one is freed at
                    # once, so a steady refresh leaves no new objects for the GC to walk.
                    row = track.row
                else:
                    track.row, track.shown = row, None
            track.missing = 0
            lag = row.lag_value
            status = row.status
            if status == "ERR" or lag is None:
                out.append(row)
                continue
            track.samples.append((now, row.position, lag, row.active_at))
            if status == "NOCOMMIT":  # never judged: the sample only draws the trend
                out.append(row)
                continue
            judged = evaluate(track.samples, allowed)
            if judged == status:
                out.append(row)
                continue
            shown = track.shown
            if shown is None or shown.status != judged:
                shown = track.shown = row.with_status(judged)
            out.append(shown)
        for key in list(self._tracks):
            if key in seen:
                continue
            track = self._tracks[key]
            track.missing += 1
            if track.missing > self.window:
                del self._tracks[key]
                continue
            out.append(_as_error(track.row))

    def fail(self) -> list[R]:
        """The refresh failed: every known row, with its last values, as ``ERR``."""
        return [_as_error(t.row) for t in self._tracks.values()]


#: Eight levels, lowest first, as the lag screen draws them.
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
#: The same levels for a terminal that cannot show them (an ASCII locale).
SPARK_ASCII = "_.-~=+*#"


def sparkline(values: Sequence[int], width: int, blocks: str = SPARK_BLOCKS) -> str:
    """The last ``width`` lags as one character each, oldest left, scaled from 0 to the
    largest (a flat top is a steady lag, a flat bottom none)."""
    values = list(values)[-width:] if width > 0 else []
    top = max(values, default=0)
    return "".join(
        blocks[0] if v <= 0 or top <= 0 else blocks[1 + round(v / top * (len(blocks) - 2))]
        for v in values
    )


def _as_error(row: R) -> R:
    return row if row.status == "ERR" else row.with_status("ERR")
