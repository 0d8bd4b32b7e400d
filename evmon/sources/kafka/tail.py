"""Kafka: live tails of topics and topic patterns without any consumer group.

evmon reads with ``group_id=None`` and assigns partitions itself, so watching a production
cluster never creates a group, never commits and never triggers a rebalance of real
consumers. Assignment is refreshed from metadata every few seconds: new topics matching a
pattern (and new partitions) are picked up from their beginning, and every partition keeps
its position across reassignments and broker restarts, so nothing is shown twice or skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

from evmon.codec import safe_text
from evmon.config import KafkaSettings
from evmon.errors import ConnectError, UsageError
from evmon.model import ConnectionStatus, Event
from evmon.selection import START_NEW, Start
from evmon.sources import Sink, StatusCallback, ignore_status
from evmon.sources.kafka.client import client_kwargs, describe_kafka_error, start_client
from evmon.sources.kafka.positions import UntilBounds, check_partitions, last_offsets
from evmon.sources.kafka.protocol import ApiVersionRequest, consumer_client
from evmon.sources.kafka.records import (
    AS_RUNS,
    RUN_RECORDS,
    RecordRun,
    as_events,
    run_events,
    stop_runs,
)

__all__ = ["DISCOVERY_INTERVAL", "KafkaSource"]

DISCOVERY_INTERVAL = 2.0
#: Records per ``getmany`` and the fetch sizes of a read that wants them all.
MAX_RECORDS = 10_000
#: Runs per ``getmany`` (records.py): aiokafka decodes them all before evmon sees the first,
#: so this bounds what waits between decoding and use. Four runs (512 records) stay in the
#: CPU cache; 78 (10,000 records) made each record 20-30% dearer to store or write. The
#: loop still yields to the event loop only once per MAX_RECORDS records.
RUNS_PER_READ = 4
PARTITION_FETCH_BYTES = 16 * 1024 * 1024
FETCH_BYTES = 64 * 1024 * 1024
#: Ping intervals without an answer after which a broker is named as frozen (NATS: two
#: unanswered pings, so a third interval).
SILENT_INTERVALS = 3


class KafkaSource:
    """Pushes records of the selected topics into a sink, following them live.

    ``start`` applies to the partitions that exist when the tail starts; partitions that
    appear later (new topics matching the pattern, added partitions) are read from their
    beginning so that nothing produced to them is missed. Internal topics (``__*``) are
    only read when named explicitly. ``start.partitions`` limits every topic to those
    partitions; with ``start.until`` the read is bounded (``positions.UntilBounds``): only
    the partitions there at the start are read, and ``ended`` is set once all reached it.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        sink: Sink,
        *,
        topics: Sequence[str] = (),
        pattern: str | None = None,
        start: Start = START_NEW,
        on_status: StatusCallback = ignore_status,
        discovery_interval: float = DISCOVERY_INTERVAL,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.topics = list(topics)
        try:
            self.pattern = re.compile(pattern) if pattern else None
        except re.error as err:
            raise UsageError(f"bad --topic-pattern {pattern!r}: {err}") from None
        self.start_at = start
        self.bounds = UntilBounds(start.until) if start.until is not None else None
        #: Set when a bounded read is over (None: the tail follows the topics live).
        self.ended = self.bounds.ended if self.bounds is not None else None
        self.on_status = on_status
        self.discovery_interval = discovery_interval
        #: ``evmon tail -n N`` (a sink with a ``limit``) wants at most N records: a small
        #: read fetches and unpacks about that many, not the 16 MiB per partition a full
        #: read takes (which made ``-n 1`` on a big topic wait for the whole first fetch).
        limit = getattr(sink, "limit", None)
        self.limit = limit if isinstance(limit, int) and 0 < limit < MAX_RECORDS else None
        #: Set by a sink that wants nothing more (the tail's writer): reading stops, so the
        #: records aiokafka has buffered are not unpacked while the tail is closing.
        done = getattr(sink, "done", None)
        self._sink_done = done if isinstance(done, asyncio.Event) else None
        self.consumer: AIOKafkaConsumer | None = None
        #: Next offset to read per partition: the position evmon resumes from.
        self.next_offsets: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._state = "connecting"
        self._detail = ""
        #: Every broker the metadata has listed (node id -> host:port), to name one that leaves.
        self._brokers: dict[int, str] = {}
        self._gone = ""  # brokers that left the metadata, as the status names them
        self._error: str | None = None  # why the last read or metadata request failed
        #: When each listed broker last answered a ping, and the ones silent for too long.
        self._answered: dict[int, float] = {}
        self._timed_out: set[int] = set()
        self._silent: dict[int, str] = {}
        self._down_since: float | None = None
        self._watcher: asyncio.Task[None] | None = None
        #: The record patch did not yield runs of records (``records.py``): "degraded: ..."
        #: in the connected status, said once; records converted, and left out unconverted.
        self._degraded = ""
        self._patch_off = False
        #: getmany gives aiokafka's own records (the patch off or not applied): its
        #: max_records counts records again, not runs.
        self._foreign = False
        self.converted_records = 0
        self.unconverted_records = 0

    def _status(self, state: str, detail: str = "") -> None:
        if state != self._state or detail != self._detail:
            self._state, self._detail = state, detail
            self.on_status(ConnectionStatus("kafka", self.settings.display, state, detail))  # type: ignore[arg-type]

    async def start(self, wait: float | None = 10.0) -> None:
        """Connect and assign; with ``wait=None`` keep retrying until the broker answers."""
        self._status("connecting")
        while True:
            try:
                await self._open(wait or self.settings.request_timeout)
                break
            except ConnectError as err:
                if wait is not None:
                    self._status("failed", str(err))
                    raise
                self._status("connecting", str(err))
                await asyncio.sleep(2.0)
        self._status("connected")
        self._task = asyncio.create_task(self._run(), name="evmon-kafka-tail")
        self._watcher = asyncio.create_task(self._watch(), name="evmon-kafka-pings")

    def _fetch_sizes(self) -> tuple[int, int]:
        """(max partition fetch bytes, max fetch bytes): a read of ``limit`` records asks
        for about 1 KiB a record (the broker still returns a whole first batch, KIP-74)."""
        if self.limit is None:
            return PARTITION_FETCH_BYTES, FETCH_BYTES
        part = min(PARTITION_FETCH_BYTES, max(64 * 1024, self.limit * 1024))
        return part, min(FETCH_BYTES, 4 * part)

    async def _open(self, wait: float) -> None:
        partition_bytes, fetch_bytes = self._fetch_sizes()
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=int(self.discovery_interval * 1000),
            max_partition_fetch_bytes=partition_bytes,
            fetch_max_bytes=fetch_bytes,
            value_deserializer=AS_RUNS,  # getmany returns RecordRuns (records.py)
            **client_kwargs(self.settings),
        )
        # The caller may give up while connecting (the dashboard quit): start_client then
        # closes the half-started client, or its connections and tasks outlive the source.
        await start_client(self.settings, consumer, wait)
        self.consumer = consumer
        try:
            cluster = await consumer_client(consumer).fetch_all_metadata()  # one request
            self._gone_brokers(cluster)
            missing = [t for t in self.topics if t not in cluster.topics()]
            if missing:
                names = ", ".join(repr(t) for t in missing)
                raise UsageError(f"Kafka topic {names} not found on {self.settings.display}")
            check_partitions(cluster, self.topics, self.start_at.partitions, self.settings.display)
            await self._assign(cluster, initial=True)
            if self.bounds is not None:
                await self.bounds.begin(consumer, self.next_offsets)
        except BaseException:
            await self.close()
            raise

    def _wanted(self, cluster: Any) -> set[TopicPartition]:
        if self.bounds is not None and self.next_offsets:
            return set(self.next_offsets)  # a bounded read keeps the partitions it started on
        only = self.start_at.partitions
        wanted: set[TopicPartition] = set()
        for topic in cluster.topics():
            named = topic in self.topics
            matched = (
                self.pattern is not None
                and not topic.startswith("__")
                and self.pattern.fullmatch(topic) is not None
            )
            if named or matched:
                for p in cluster.partitions_for_topic(topic) or ():
                    if not only or p in only:
                        wanted.add(TopicPartition(topic, p))
        return wanted

    async def _assign(self, cluster: Any, initial: bool = False) -> None:
        consumer = self.consumer
        assert consumer is not None
        wanted = self._wanted(cluster)
        known = set(self.next_offsets)
        if wanted == known and not initial:
            return
        fresh = wanted - known
        consumer.assign(sorted(wanted))
        for tp, offset in self.next_offsets.items():
            if tp in wanted:
                consumer.seek(tp, offset)
        if not fresh:
            return
        if initial:
            await self._seek_start(sorted(fresh))
        else:
            await consumer.seek_to_beginning(*fresh)
        for tp in fresh:
            self.next_offsets[tp] = await consumer.position(tp)

    async def _seek_start(self, tps: list[TopicPartition]) -> None:
        consumer = self.consumer
        assert consumer is not None
        start = self.start_at
        if not tps:
            return
        if start.kind == "first":
            await consumer.seek_to_beginning(*tps)
        elif start.kind == "new":
            await consumer.seek_to_end(*tps)
        elif start.kind == "last":
            for tp, offset in (await last_offsets(consumer, tps, start.offset)).items():
                consumer.seek(tp, offset)
        elif start.kind == "offset":
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, min(max(start.offset, begin[tp]), end[tp]))
        else:
            found = await consumer.offsets_for_times({tp: int(start.time * 1000) for tp in tps})
            end = await consumer.end_offsets(tps)
            for tp in tps:
                hit = found.get(tp)
                consumer.seek(tp, hit.offset if hit is not None else end[tp])

    def _gone_brokers(self, cluster: Any) -> str:
        """``broker 2 at H:P went away`` for each broker that left the metadata (crashed and
        fenced, shut down, partitioned off): the tail goes on with the partitions' new leaders,
        and the status names what the cluster lost. Empty once every one is back."""
        listed = {b.nodeId: safe_text(f"{b.host}:{b.port}") for b in cluster.brokers()}
        self._brokers.update(listed)
        gone = sorted(set(self._brokers) - set(listed))
        return "; ".join(f"broker {i} at {self._brokers[i]} went away" for i in gone)

    def _report(self) -> None:
        """One status from what the tail loop and the pings know. A frozen broker is named
        before any generic cause; the state is *reconnecting* while nothing answers."""
        silent = "; ".join(
            f"Kafka broker {i} at {host} stopped answering"
            for i, host in sorted(self._silent.items())
        )
        everyone = bool(self._silent) and set(self._silent) >= set(self._answered)
        if self._error is not None or everyone:
            if self._down_since is None:
                self._down_since = time.monotonic()
            self._status("reconnecting", silent or self._error or "")
        else:
            self._down_since = None
            detail = "; ".join(d for d in (self._degraded, self._gone, silent) if d)
            self._status("connected", detail)

    async def _watch(self) -> None:
        """Ping every listed broker (an ApiVersions request) each ``ping_interval``.

        A SIGSTOPped broker or a silent partition keeps its sockets open and answers
        nothing: reads then just come back empty, and a metadata request only fails after
        the 10 s request timeout, without naming the broker. One ping at a time per broker;
        a broker whose ping has gone unanswered (still pending, or timed out) for
        ``SILENT_INTERVALS`` intervals is named. A refused connection is not "frozen": the
        tail loop reports it as unreachable.
        """
        consumer = self.consumer
        assert consumer is not None
        client = consumer_client(consumer)
        interval = self.settings.ping_interval
        pings: dict[int, asyncio.Task[None]] = {}
        try:
            while True:
                now = time.monotonic()
                listed = {
                    b.nodeId: safe_text(f"{b.host}:{b.port}") for b in client.cluster.brokers()
                }
                for node in list(self._answered):
                    if node not in listed:
                        del self._answered[node]
                for node in listed:
                    self._answered.setdefault(node, now)
                    ping = pings.get(node)
                    if ping is None or ping.done():
                        pings[node] = asyncio.create_task(self._ping(client, node))
                silent = {
                    node: host
                    for node, host in listed.items()
                    if now - self._answered[node] >= SILENT_INTERVALS * interval
                    and (node in self._timed_out or not pings[node].done())
                }
                if silent != self._silent:
                    self._silent = silent
                    self._report()
                if self._check_deadline():
                    return
                await asyncio.sleep(interval)
        finally:
            for ping in pings.values():
                ping.cancel()

    async def _ping(self, client: AIOKafkaClient, node: int) -> None:
        try:
            await client.send(node, ApiVersionRequest())
        except (RequestTimedOutError, KafkaTimeoutError, TimeoutError):
            self._timed_out.add(node)  # aiokafka's request timeout: no answer at all
            return
        except NodeNotReadyError:
            return  # no connection: refused (not frozen), or a connect that timed out
        except (KafkaError, OSError):
            self._timed_out.discard(node)  # reset or closed: reported as unreachable
            return
        self._timed_out.discard(node)
        self._answered[node] = time.monotonic()
        if node in self._silent:
            del self._silent[node]
            self._report()

    def _check_deadline(self) -> bool:
        """Close (status ``closed``) once nothing answered for ``reconnect_deadline``."""
        deadline = self.settings.reconnect_deadline
        since = self._down_since
        if deadline is None or since is None or time.monotonic() - since < deadline:
            return False
        last = f" (last error: {self._detail})" if self._detail else ""
        self._status(
            "closed",
            f"lost the connection to Kafka at {self.settings.display} for {deadline:g} s{last}",
        )
        for task in (self._task, self._watcher):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        return True

    async def _run(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        next_discovery = time.monotonic() + self.discovery_interval
        extend = self.sink.extend
        positions = self.next_offsets
        bounds = self.bounds
        # A sink that writes lines from wire records takes the runs as they are (not with
        # --until: its cut works on events).
        wire = getattr(self.sink, "extend_kafka", None) if bounds is None else None
        records = self.limit or MAX_RECORDS
        # getmany's max_records counts runs (records.py)
        runs = min(RUNS_PER_READ, -(-records // RUN_RECORDS))
        handed = 0  # records handed to the sink since the loop last yielded
        sink_done = self._sink_done
        while sink_done is None or not sink_done.is_set():
            try:
                try:
                    batches = await consumer.getmany(
                        timeout_ms=200, max_records=records if self._foreign else runs
                    )
                except (TimeoutError, KafkaError, OSError):
                    raise
                except Exception as err:  # raised inside aiokafka's unpacking: the patch?
                    if self._records_failed(err):
                        await asyncio.sleep(1.0)
                    continue
                for tp, items in batches.items():
                    if not items:
                        continue
                    if type(items[0]) is RecordRun and type(items[-1]) is RecordRun:
                        handed += sum(map(len, items))
                        if wire is not None:
                            self._wire_runs(wire, tp, items)
                            continue
                        events = self._run_events(tp, items)
                    else:
                        handed += len(items)
                        events = self._convert(tp, items)
                    if bounds is not None and events:
                        events = bounds.cut(tp, events)
                    if events:
                        extend(events)
                        last = events[-1].offset  # a Kafka event's offset is never None
                        if last is not None:
                            positions[tp] = last + 1
                if handed >= records or (handed and not batches):
                    # getmany hands out what a fetch buffered without yielding: a backlog's
                    # 64 MiB fetch (~100,000 records) drained at once kept the dashboard's
                    # keys and frames waiting 0.3 s. One loop turn per MAX_RECORDS.
                    handed = 0
                    await asyncio.sleep(0)
                if bounds is not None and bounds.open:
                    await bounds.reached(consumer)
                if time.monotonic() >= next_discovery:
                    next_discovery = time.monotonic() + self.discovery_interval
                    cluster = await consumer_client(consumer).fetch_all_metadata()
                    await self._assign(cluster)
                    self._error, self._gone = None, self._gone_brokers(cluster)
                    self._report()
            except asyncio.CancelledError:
                raise
            except (TimeoutError, KafkaError, OSError) as err:
                self._error = describe_kafka_error(err, self.settings)
                self._report()
                if self._check_deadline():
                    return
                await asyncio.sleep(1.0)
                next_discovery = 0.0  # probe the cluster again at once

    def _wire_runs(
        self, wire: Callable[[str, int, RecordRun], int], tp: TopicPartition, runs: list[RecordRun]
    ) -> None:
        """Runs to a sink that writes them itself; the position follows what it was given."""
        topic, partition = tp.topic, tp.partition
        for run in runs:
            failed = wire(topic, partition, run)
            if failed:
                self._left_out(run, failed)
            offset = getattr(run[-1], "offset", None)  # None: no record (left out)
            if isinstance(offset, int):
                self.next_offsets[tp] = offset + 1

    def _run_events(self, tp: TopicPartition, runs: list[RecordRun]) -> list[Event]:
        topic, partition = tp.topic, tp.partition
        events: list[Event] = []
        for run in runs:
            some, failed = run_events(topic, partition, run)
            events += some
            if failed:
                self._left_out(run, failed)
        return events

    def _left_out(self, run: RecordRun, failed: int) -> None:
        """Items of a run that are no record at all: counted as dropped; said once."""
        self.unconverted_records += failed
        self.sink.add_dropped(failed)
        if not self._degraded:
            odd = next((r for r in run if not hasattr(r, "timestamp")), None)
            self._degraded = (
                f"degraded: the aiokafka record patch gave {type(odd).__name__}, not a Kafka record"
            )
            self._report()

    def _convert(self, tp: TopicPartition, batch: list[Any]) -> list[Event]:
        """A batch the record patch did not make runs of, converted; said once."""
        self._foreign = True
        foreign = next(r for r in batch if type(r) is not RecordRun)
        events, failed = as_events(tp.topic, tp.partition, batch)
        self.converted_records += len(events)
        if failed:
            self.unconverted_records += failed
            self.sink.add_dropped(failed)
        if not self._degraded:
            self._degraded = (
                f"degraded: the aiokafka record patch gave {type(foreign).__name__}, not "
                "RecordRun; records are converted (slower)"
            )
            self._report()
        return events

    def _records_failed(self, err: Exception) -> bool:
        """An exception from inside ``getmany``: the first one turns the record patch off
        for this consumer (aiokafka's own records, converted); every partition is sought
        back to the next offset evmon has not shown, so nothing read meanwhile is lost.
        True when the patch was off already (then it is an error like any other)."""
        consumer = self.consumer
        assert consumer is not None
        cause = " ".join(f"{type(err).__name__}: {err}".split())[:200]
        again = self._patch_off
        if again:
            self._error = f"reading records failed ({cause})"
        else:
            self._patch_off = self._foreign = True
            stop_runs(consumer)
            self._degraded = (
                f"degraded: the aiokafka record patch failed ({cause}); aiokafka's own "
                "records are converted (slower)"
            )
        assigned = consumer.assignment()
        for tp, offset in self.next_offsets.items():
            if tp in assigned:
                consumer.seek(tp, offset)
        self._report()
        return again

    def summary(self) -> str:
        """One line for the end of a tail: records the patch did not make (see ``_convert``
        and ``_records_failed``); "" when there were none."""
        if not self._degraded:
            return ""
        counts = [f"{self.converted_records} records converted"] if self.converted_records else []
        if self.unconverted_records:
            counts.append(f"{self.unconverted_records} left out")
        what = self._degraded.removeprefix("degraded: ")
        return f"Kafka: {what}: {', '.join(counts) or '0 records converted'}"

    async def close(self) -> None:
        if self.bounds is not None:
            self.bounds.close()
        for task in (self._watcher, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._task = self._watcher = None
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            try:
                await asyncio.wait_for(consumer.stop(), 5)
            except asyncio.CancelledError:
                # aiokafka's fetcher lets the cancellation of its own pending fetches escape
                # stop() when the broker is gone; only a cancellation of *this* task counts.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            except Exception:  # closing a consumer whose broker is gone: nothing to do
                pass
