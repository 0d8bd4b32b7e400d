"""``evmon tail``: live events to stdout, one line each.

Sources push into a ``TailWriter`` directly (no store: nothing is kept), which filters,
encodes and writes in batches so the output keeps up with the broker clients.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from evmon.codec.display import safe_text, text_line
from evmon.codec.record import encode_records, terminal_json
from evmon.commands.common import (
    check_selection,
    kafka_settings,
    nats_settings,
    start_position,
)
from evmon.errors import RuntimeFailure, UsageError
from evmon.filter import Filter, FilterError, parse_filter
from evmon.model import ConnectionStatus, Event
from evmon.sources import Source
from evmon.sources.spec import end_summary, source_specs

if TYPE_CHECKING:
    from evmon.lenses import Lens

#: ``sources.kafka.lines.encode_run``: JSON lines straight from a run of Kafka wire records.
WireEncoder = Callable[
    [str, int, Sequence[Any], Callable[[bytes], None], Callable[[Event], None]], int
]

FLUSH_INTERVAL = 0.05
#: Events held before a flush is forced (the timer flushes every FLUSH_INTERVAL anyway).
FLUSH_EVENTS = 5000
#: Events per write (about 300 KB of 1 KiB payloads): the buffers stay small and in cache.
WRITE_EVENTS = 128
#: Seconds one flush may spend in a filter with ``/regex/`` terms before it leaves the rest
#: for the next one, so Ctrl+C and --timeout are handled in between.
FILTER_SLICE = 0.1
#: Verdicts the lens keeps: tail needs one only until its event is filtered and written.
LENS_KEEP = 4 * FLUSH_EVENTS
#: Seconds the sources get to close once the output is written: a tail reads without a
#: group, acks or commits, so closing only says goodbye to the brokers and is never waited
#: on for long (a broker that went away, a fetch long-poll, a metadata refresh).
CLOSE_WAIT = 0.25


def _texts(events: Sequence[Event]) -> list[bytes]:
    return [text_line(ev).encode("utf-8", "replace") for ev in events]


def template_encoder(template: str) -> Callable[[Sequence[Event]], list[bytes]]:
    """``--template``: the operator's line per event (fields escaped by ``codec.template``)."""
    from evmon.codec.template import TemplateError, compile_template

    try:
        line = compile_template(template)
    except TemplateError as err:
        raise UsageError(str(err)) from None

    def encode(events: Sequence[Event]) -> list[bytes]:
        return [line(ev).encode("utf-8", "replace") for ev in events]

    return encode


def lens_and_filter(args: argparse.Namespace) -> tuple[Lens | None, Filter | None]:
    """``--filter`` and the lens its ``dup``/``drift`` terms read. The lens is None unless
    a term or ``--dedupe-key`` asks for it: judging costs work on every event (an identity,
    a JSON parse), and a plain tail does none."""
    from evmon.lenses import DedupeKeyError, Lens, parse_dedupe_key

    spec = getattr(args, "dedupe_key", None)
    try:
        lens = Lens(parse_dedupe_key(spec), dedupe=spec is not None, drift=False, keep=LENS_KEEP)
    except DedupeKeyError as err:
        raise UsageError(str(err)) from None
    flt = None
    if args.filter.strip():
        try:
            flt = parse_filter(args.filter, lens=lens)
        except FilterError as err:
            raise UsageError(str(err)) from None
    return (lens if lens.active else None), flt


class TailWriter:
    """A sink that filters, encodes and writes events, and stops after ``count`` of them.

    Sources call ``append`` once per event at broker speed, so it only queues the event
    (without ``count`` it *is* ``list.append``: no Python frame per event); filtering and
    encoding run once per batch in ``flush``, from the timer or when a batch is full. With
    ``count``, the output holds exactly that many events, written as soon as they arrived;
    events read past it are dropped unseen. Events that arrive while the sources close
    (after Ctrl-C) are still written: they were read. With a ``lens``, each event is judged
    just before the filter sees it (once, in arrival order), and a written event that drifts
    is explained on stderr (``evmon: drift: nats users.created: missing: email``).

    With a ``wire`` encoder and nothing to judge (no filter, no lens), ``extend_kafka`` takes
    runs of Kafka wire records and writes their lines at once, without an ``Event`` each
    (``sources/kafka/lines.py``); events queued before a run are written before it.
    """

    def __init__(
        self,
        out: BinaryIO,
        encode: Callable[[Sequence[Event]], list[bytes]],
        flt: Filter | None = None,
        count: int | None = None,
        escape: Callable[[bytes], bytes] | None = None,
        lens: Lens | None = None,
        wire: WireEncoder | None = None,
    ) -> None:
        self.out = out
        self.lens = lens
        #: Applied to each written chunk (``codec.terminal_json`` when stdout is a terminal).
        self.escape = escape
        #: One line per event, for a whole batch at once (``codec.encode_records``).
        self.encode = encode
        self.filter = None if flt is None or flt.is_empty else flt
        self.budget = None if self.filter is None else self.filter.budget
        self._warned = False
        self.count = count
        #: The most events the sources need to read (``count`` when every event is
        #: written; None with a filter, which may drop any number): a Kafka source then
        #: fetches about that many instead of megabytes per partition.
        self.limit = count if self.filter is None else None
        self.written = 0
        self.dropped = 0
        #: Events that could not be encoded (logged once, skipped; the tail goes on).
        self.unencodable = 0
        self.done = asyncio.Event()
        self.broken_pipe = False
        self._pending: list[Event] = []
        #: Flush once this many events are pending: the events still wanted, or a batch.
        self._room = FLUSH_EVENTS if count is None else min(count, FLUSH_EVENTS)
        if count is None:
            self.append = self._pending.append  # type: ignore[method-assign]
        self._wire = wire
        #: What a Kafka source calls with each run of wire records, when this writer can
        #: take them without events (None: the source makes ``Event``s).
        fused = wire is not None and self.filter is None and lens is None
        self.extend_kafka: Callable[[str, int, Sequence[Any]], int] | None = (
            self._extend_kafka if fused else None
        )

    def append(self, event: Event, /) -> None:
        pending = self._pending
        pending.append(event)
        if len(pending) >= self._room:
            self.flush()

    def extend(self, events: Iterable[Event], /) -> None:
        self._pending.extend(events)
        if len(self._pending) >= self._room:
            self.flush()

    def add_dropped(self, n: int, /) -> None:
        self.dropped += n

    def _extend_kafka(self, topic: str, partition: int, run: Sequence[Any], /) -> int:
        """Write the lines of a run of wire records now; how many items were no record."""
        assert self._wire is not None
        if self._pending:
            self.flush()  # in arrival order
        if self.broken_pipe:
            return 0
        lines: list[bytes] = []
        failed = self._wire(topic, partition, run, lines.append, self._encode_one(lines))
        if self.count is not None:
            del lines[self.count - self.written :]
        if lines:
            self._write_lines(lines)
            self._counted()
        return failed

    def _encode_one(self, lines: list[bytes]) -> Callable[[Event], None]:
        def encode(ev: Event) -> None:
            lines.extend(self._encode_all([ev]))

        return encode

    def _encode_all(self, events: list[Event]) -> list[bytes]:
        encode = self.encode
        try:
            return encode(events)
        except Exception:  # one odd event must not stop the tail: encode one by one
            lines = []
            for ev in events:
                try:
                    lines.extend(encode((ev,)))
                except Exception as err:
                    if not self.unencodable:
                        print(
                            safe_text(f"evmon: skipped an event that cannot be written: {err}"),
                            file=sys.stderr,
                        )
                    self.unencodable += 1
            return lines

    def flush(self) -> None:
        events = self._pending
        if not events:
            return
        # In place (not a new list): ``append`` may be this very list's bound method.
        batch = events[:]
        events.clear()
        if self.broken_pipe:
            return
        if self.filter is not None:
            pred = self.filter.predicate
            if self.budget is None and self.lens is None:
                batch = [ev for ev in batch if pred(ev)]
            else:
                batch = self._filter_slice(batch, pred)
        elif self.lens is not None:
            self.lens.observe_many(batch)
        if self.count is not None:
            batch = batch[: self.count - self.written]
        if not batch:
            return
        for lo in range(0, len(batch), WRITE_EVENTS):
            if not self._write(batch[lo : lo + WRITE_EVENTS]):
                break
        self._counted()

    def _counted(self) -> None:
        if self.count is not None:
            left = self.count - self.written
            self._room = min(left, FLUSH_EVENTS) if left > 0 else FLUSH_EVENTS
            if left <= 0:
                self.done.set()

    def _filter_slice(self, batch: list[Event], pred: Callable[[Event], bool]) -> list[Event]:
        """The matches of the events that fit in one ``FILTER_SLICE``; the rest go back to
        the front of the queue. Reports, once, that a regex ran out of its budget."""
        deadline = time.perf_counter() + FILTER_SLICE
        out = []
        observe = None if self.lens is None else self.lens.observe
        for i, ev in enumerate(batch):
            if observe is not None:
                observe(ev)  # before the filter: the events put back are not judged yet
            if pred(ev):
                out.append(ev)
            if i & 63 == 63 and time.perf_counter() > deadline:
                self._pending[0:0] = batch[i + 1 :]
                break
        budget = self.budget
        if budget is not None and budget.exceeded and not self._warned:
            self._warned = True
            print(
                safe_text(
                    f"evmon: warning: {budget.first_term} ran out of its time budget on an "
                    "event (a payload that makes it backtrack, or longer than 64 KiB); such "
                    "events are left out and counted"
                ),
                file=sys.stderr,
                flush=True,
            )
        return out

    def drain(self) -> None:
        """Flush until nothing is pending (a sliced flush may leave events behind)."""
        self.flush()
        while self._pending and not self.broken_pipe:
            if self.count is not None and self.written >= self.count:
                break
            self.flush()

    def _write(self, events: list[Event]) -> bool:
        """Encode and write one chunk; False once the reader has gone (broken pipe)."""
        if not self._write_lines(self._encode_all(events)):
            return False
        if self.lens is not None and self.lens.drift:
            self._drift_notes(events)
        return True

    def _write_lines(self, lines: list[bytes]) -> bool:
        """Write lines (``lines`` gets an empty last item); False once the reader has gone."""
        self.written += len(lines)
        lines.append(b"")  # the join then ends with a newline, without another copy
        data = b"\n".join(lines)
        if self.escape is not None:
            data = self.escape(data)
        try:
            self.out.write(data)
            self.out.flush()
        except BrokenPipeError:
            self.broken_pipe = True
            self.done.set()
            return False
        return True

    def _drift_notes(self, events: list[Event]) -> None:
        """Say on stderr how each written event drifts (stdout stays the records)."""
        assert self.lens is not None
        verdict = self.lens.verdict
        for ev in events:
            found = verdict(ev)
            if found is not None and found.drift is not None:
                where = f"{ev.source} {ev.subject} {ev.position}".rstrip()
                print(safe_text(f"evmon: drift: {where}: {found.drift}"), file=sys.stderr)
        sys.stderr.flush()

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()


async def _bounded_end(sources: Sequence[Source], writer: TailWriter) -> None:
    """``--until``: the tail is done once every bounded source (Kafka) reached its bound;
    what they read is written by the drain that follows."""
    ended = [e for src in sources if (e := getattr(src, "ended", None)) is not None]
    if ended:
        await asyncio.gather(*(e.wait() for e in ended))
        writer.done.set()


async def close_sources(sources: Sequence[Source], wait: float = CLOSE_WAIT) -> None:
    """Close every source at once, waiting at most ``wait`` seconds; a close still running
    then is cancelled (there is nothing to commit: the tail never joins a group)."""
    tasks = [asyncio.ensure_future(src.close()) for src in reversed(sources)]
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=wait)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late, timeout=wait)
    for task in tasks:  # a failed close is nothing to report: the tail is over
        if task.done() and not task.cancelled():
            task.exception()


async def run(args: argparse.Namespace) -> int:
    check_selection(args)
    lens, flt = lens_and_filter(args)
    start = start_position(args)
    if args.count is not None and args.count <= 0:
        raise UsageError("-n/--count must be a positive number")
    template = getattr(args, "template", None)
    if template is not None and args.format == "jsonl":
        raise UsageError("--template lays out text lines: it cannot be used with --format jsonl")
    encode = (
        encode_records
        if args.format == "jsonl"
        else _texts
        if template is None
        else template_encoder(template)
    )
    # Text lines are escaped already; JSONL is escaped further only for a terminal.
    escape = terminal_json if args.format == "jsonl" and sys.stdout.isatty() else None
    nats, kafka = nats_settings(args), kafka_settings(args)
    wire: WireEncoder | None = None
    if kafka is not None and args.format == "jsonl":
        from evmon.sources.kafka.lines import encode_run as wire
    writer = TailWriter(sys.stdout.buffer, encode, flt, args.count, escape, lens, wire)
    failure: list[str] = []

    #: What was last said on stderr per connection: (state, detail); quiet at the start.
    said: dict[str, tuple[str, str]] = {}

    def on_status(status: ConnectionStatus) -> None:
        if status.notice:  # said once by the source; not a change of state
            print(safe_text(f"evmon: {status.notice}"), file=sys.stderr, flush=True)
            return
        key = f"{status.source} {status.url}"
        if status.state == "reconnecting":
            detail = f": {status.detail}" if status.detail else ""
            said[key] = ("reconnecting", status.detail)
            print(safe_text(f"evmon: {key} reconnecting{detail}"), file=sys.stderr, flush=True)
        elif status.state == "connected" and "slow consumer" in status.detail:
            # the NATS source names a slow-consumer cut-off once the server took it back
            said[key] = ("connected", status.detail)
            line = f"evmon: {key} reconnected: {status.detail}"
            print(safe_text(line), file=sys.stderr, flush=True)
        elif status.state == "connected":
            # "broker 2 at H:P went away", a frozen broker in a cluster, and that it is back.
            # The NATS source names the server it reached: that is no news.
            detail = "" if status.detail in status.url else status.detail
            if said.get(key, ("connected", "")) != ("connected", detail):
                said[key] = ("connected", detail)
                line = f"evmon: {key} connected" + (f": {detail}" if detail else "")
                print(safe_text(line), file=sys.stderr, flush=True)
        elif status.state == "closed" and not closing:
            failure.append(
                status.detail or f"lost the connection to {status.source} at {status.url}"
            )
            writer.done.set()

    closing = False
    sources: list[Source] = []
    specs = source_specs(
        nats,
        kafka,
        subjects=args.subjects,
        streams=args.streams,
        topics=args.topics,
        topic_pattern=args.topic_pattern,
        start=start,
    )
    try:
        for spec in specs:
            source = spec.factory(writer, on_status)
            await source.start()
            sources.append(source)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, writer.done.set)
        flusher = asyncio.create_task(writer.flush_forever())
        bounded = asyncio.create_task(_bounded_end(sources, writer))
        timed_out = False
        try:
            await asyncio.wait_for(writer.done.wait(), args.timeout)
        except TimeoutError:
            timed_out = True
        finally:
            flusher.cancel()
            bounded.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        closing = True
        writer.drain()  # what was read is out (and flushed) before anything is closed
        await close_sources(sources)
        writer.drain()  # and what arrived while closing
    if lens is not None and lens.dups:
        n = sum(lens.dups.values())
        said_dups = f"evmon: {n} duplicates ({lens.identity.describe()}): {lens.summary()}"
        print(safe_text(said_dups), file=sys.stderr)
    budget = writer.budget
    if budget is not None and budget.exceeded:
        print(
            safe_text(
                f"evmon: {budget.exceeded} events left out: {budget.first_term} "
                "ran out of its time budget (see README: filter language)"
            ),
            file=sys.stderr,
        )
    # One sink counts both: a Kafka record aiokafka gave in a shape evmon could not convert
    # (KafkaSource.unconverted_records) is no NATS slow-consumer drop.
    unconverted = sum(int(getattr(src, "unconverted_records", 0)) for src in sources)
    if writer.dropped > unconverted:
        print(
            f"evmon: {writer.dropped - unconverted} messages dropped by the NATS client "
            "(slow consumer)",
            file=sys.stderr,
        )
    if unconverted:
        records = "record" if unconverted == 1 else "records"
        print(
            f"evmon: {unconverted} Kafka {records} dropped: aiokafka gave what evmon could "
            "not convert to an event",
            file=sys.stderr,
        )
    for src in sources:  # a slow-consumer cut-off, a delivery fault
        if line := end_summary(src):
            print(f"evmon: {line}", file=sys.stderr)
    if failure:
        raise RuntimeFailure(failure[0])
    if timed_out and args.count is not None and writer.written < args.count:
        raise RuntimeFailure(
            f"timed out after {args.timeout:g} s with {writer.written} of {args.count} events"
        )
    return 0
