"""``evmon tail``: live events to stdout, one line each.

Sources push into a ``TailWriter`` directly (no store: nothing is kept), which filters,
encodes and writes in batches so the output keeps up with the broker clients.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterable
from typing import BinaryIO

from evmon.codec import encode_record, text_line
from evmon.commands.common import (
    check_selection,
    event_filter,
    kafka_settings,
    nats_settings,
    start_position,
)
from evmon.errors import RuntimeFailure, UsageError
from evmon.filter import Filter
from evmon.model import ConnectionStatus, Event
from evmon.sources import Source

FLUSH_INTERVAL = 0.05
FLUSH_LINES = 2000


def _text(ev: Event) -> bytes:
    return text_line(ev).encode("utf-8", "replace")


class TailWriter:
    """A sink that filters, encodes and writes events, and stops after ``count`` of them."""

    def __init__(
        self,
        out: BinaryIO,
        encode: Callable[[Event], bytes],
        flt: Filter | None = None,
        count: int | None = None,
    ) -> None:
        self.out = out
        self.encode = encode
        self.filter = flt
        self.count = count
        self.written = 0
        self.dropped = 0
        self.done = asyncio.Event()
        self.broken_pipe = False
        self._lines: list[bytes] = []

    def append(self, event: Event, /) -> None:
        if self.done.is_set() or (self.filter is not None and not self.filter(event)):
            return
        self._lines.append(self.encode(event))
        self.written += 1
        if self.count is not None and self.written >= self.count:
            self.done.set()
            self.flush()
        elif len(self._lines) >= FLUSH_LINES:
            self.flush()

    def extend(self, events: Iterable[Event], /) -> None:
        if self.filter is None and self.count is None and not self.done.is_set():
            encode = self.encode
            before = len(self._lines)
            self._lines.extend([encode(ev) for ev in events])
            self.written += len(self._lines) - before
            if len(self._lines) >= FLUSH_LINES:
                self.flush()
            return
        for ev in events:
            self.append(ev)

    def add_dropped(self, n: int, /) -> None:
        self.dropped += n

    def flush(self) -> None:
        if not self._lines or self.broken_pipe:
            self._lines.clear()
            return
        lines, self._lines = self._lines, []
        try:
            self.out.write(b"\n".join(lines) + b"\n")
            self.out.flush()
        except BrokenPipeError:
            self.broken_pipe = True
            self.done.set()

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()


async def run(args: argparse.Namespace) -> int:
    check_selection(args)
    flt = event_filter(args.filter)
    start = start_position(args)
    if args.count is not None and args.count <= 0:
        raise UsageError("-n/--count must be a positive number")
    encode = encode_record if args.format == "jsonl" else _text
    writer = TailWriter(sys.stdout.buffer, encode, flt, args.count)
    failure: list[str] = []

    def on_status(status: ConnectionStatus) -> None:
        if status.state == "reconnecting":
            detail = f": {status.detail}" if status.detail else ""
            print(f"evmon: {status.source} {status.url} reconnecting{detail}", file=sys.stderr)
        elif status.state == "closed" and not closing:
            failure.append(
                status.detail or f"lost the connection to {status.source} at {status.url}"
            )
            writer.done.set()

    closing = False
    sources: list[Source] = []
    nats = nats_settings(args)
    kafka = kafka_settings(args)
    try:
        if nats is not None:
            from evmon.sources.nats import NatsSource

            ns = NatsSource(
                nats,
                writer,
                subjects=args.subjects,
                streams=args.streams,
                start=start,
                on_status=on_status,
            )
            await ns.start()
            sources.append(ns)
        if kafka is not None:
            from evmon.sources.kafka import KafkaSource

            ks = KafkaSource(
                kafka,
                writer,
                topics=args.topics,
                pattern=args.topic_pattern,
                start=start,
                on_status=on_status,
            )
            await ks.start()
            sources.append(ks)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, writer.done.set)
        flusher = asyncio.create_task(writer.flush_forever())
        timed_out = False
        try:
            await asyncio.wait_for(writer.done.wait(), args.timeout)
        except TimeoutError:
            timed_out = True
        finally:
            flusher.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        closing = True
        for src in reversed(sources):
            with contextlib.suppress(Exception):
                await src.close()
        writer.flush()
    if writer.dropped:
        print(
            f"evmon: {writer.dropped} messages dropped by the NATS client (slow consumer)",
            file=sys.stderr,
        )
    if failure:
        raise RuntimeFailure(failure[0])
    if timed_out and args.count is not None and writer.written < args.count:
        raise RuntimeFailure(
            f"timed out after {args.timeout:g} s with {writer.written} of {args.count} events"
        )
    return 0
