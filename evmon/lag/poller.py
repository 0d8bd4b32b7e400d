"""One round of lag polling for both brokers, shared by ``evmon lag`` and the lag screen.

    poller = LagPoller(window=10, allowed_lag=0)
    poller.watch_kafka(kafka_settings, groups=("billing",))
    poller.watch_jetstream(nats_settings, streams=("ORDERS",))
    await poller.kafka.start()              # optional: connect now, ConnectError if unreachable
    new_errors = await poller.poll()        # both systems at once; statuses over the window
    poller.kafka.rows, poller.kafka.error   # what to draw: rows (ERR after a failure), why
    await poller.close()

Headless: it gathers the rows and keeps the windows; ``evmon lag`` prints them and the lag
screen draws them (and schedules the next poll) itself. The clients are long-lived (opened by
``start`` or on the first poll) and a client that never connected (``ConnectError``) is dropped
and opened afresh on the next poll. A failed query turns that system's rows ``ERR`` with
their last values (``LagHistory.fail``) and keeps one line saying why; the next good poll
recovers. ``poll(first=True)`` raises instead, so a wrong address ends ``evmon lag`` at once.
The broker clients are imported when a system is watched: ``evmon lag --nats`` does not load
aiokafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol

from evmon.errors import ConnectError, EvmonError, RuntimeFailure
from evmon.lag.status import DEFAULT_WINDOW, JetStreamLagRow, KafkaLagRow, LagHistory, R

if TYPE_CHECKING:
    from evmon.config import KafkaSettings, NatsSettings

__all__ = ["LagPoller", "SystemLag"]


class _Client(Protocol):
    """What a long-lived lag client offers (``KafkaLagClient``, ``JetStreamLagClient``)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def error_line(err: BaseException) -> str:
    """The one line kept for a failed query (not escaped: it may quote broker names)."""
    return str(err) if isinstance(err, EvmonError) else f"{type(err).__name__}: {err}"


class SystemLag(Generic[R]):
    """One system: its client, the window of its rows, the rows of the last poll and why it
    failed (None: it did not). Unwatched until ``watch`` gives it a client to poll."""

    def __init__(self, name: str, history: LagHistory[R]) -> None:
        self.name = name
        self.history = history
        self.rows: list[R] = []
        self.error: str | None = None
        self.failing_since: float | None = None
        self.deadline: float | None = None
        self._make: Callable[[], _Client] | None = None
        self._take: Callable[[Any], Awaitable[list[R]]] | None = None
        self._client: _Client | None = None

    @property
    def watched(self) -> bool:
        return self._make is not None

    def watch(
        self,
        make: Callable[[], _Client],
        take: Callable[[Any], Awaitable[list[R]]],
        deadline: float | None = None,
    ) -> None:
        """Poll with clients from ``make`` and snapshots from ``take(client)``; failures
        lasting ``deadline`` seconds (``--reconnect-deadline``) make ``refresh`` raise."""
        self._make, self._take, self.deadline = make, take, deadline

    def _client_now(self) -> _Client:
        assert self._make is not None, f"{self.name} is not watched"
        client = self._client = self._client or self._make()
        return client

    async def start(self) -> None:
        """Connect now; ConnectError naming the servers if they cannot be reached."""
        await self._client_now().start()

    async def refresh(self, first: bool = False) -> str | None:
        """Take a snapshot into ``rows``. A failure raises when ``first``; otherwise it turns
        the rows ``ERR`` and returns its line, once per distinct failure (not every poll)."""
        assert self._take is not None, f"{self.name} is not watched"
        client = self._client_now()
        try:
            # In slices between turns of the event loop: a UI on the same loop stays live.
            self.rows = await self.history.observe_sliced(await self._take(client))
        except Exception as err:
            if isinstance(err, ConnectError):  # a client that never connected starts afresh
                self._client = None
                await client.close()
            if first:
                raise
            now = time.monotonic()
            self.failing_since = self.failing_since or now
            if self.deadline is not None and now - self.failing_since >= self.deadline:
                raise RuntimeFailure(
                    f"{self.name} unreachable for {self.deadline:g} s (last error: {err})"
                ) from None
            self.rows = self.history.fail()
            line = error_line(err)
            new = line if line != self.error else None
            self.error = line
            return new
        self.error = self.failing_since = None
        return None

    def observe(self, rows: list[R], now: float | None = None) -> None:
        """Take one poll's rows from the caller instead of the broker (scripted screens)."""
        self.error = self.failing_since = None
        self.rows = self.history.observe(rows, now)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


class LagPoller:
    """Kafka consumer groups and JetStream consumers, polled together (see module doc)."""

    def __init__(self, *, window: int = DEFAULT_WINDOW, allowed_lag: int = 0) -> None:
        self.window = window
        self.kafka: SystemLag[KafkaLagRow] = SystemLag("Kafka", LagHistory(window, allowed_lag))
        self.jetstream: SystemLag[JetStreamLagRow] = SystemLag(
            "JetStream", LagHistory(window, allowed_lag)
        )

    @property
    def systems(self) -> list[SystemLag[Any]]:
        """The watched systems, Kafka first."""
        return [s for s in (self.kafka, self.jetstream) if s.watched]

    def watch_kafka(
        self, settings: KafkaSettings, groups: Sequence[str] = (), deadline: float | None = None
    ) -> None:
        """Poll every consumer group of ``settings`` (or the named ``groups``)."""
        from evmon.sources.kafka.group_lag import KafkaLagClient

        names = tuple(groups)

        def take(client: KafkaLagClient) -> Awaitable[list[KafkaLagRow]]:
            return client.snapshot(names)

        self.kafka.watch(lambda: KafkaLagClient(settings), take, deadline)

    def watch_jetstream(
        self,
        settings: NatsSettings,
        streams: Sequence[str] = (),
        consumers: Sequence[str] = (),
        deadline: float | None = None,
    ) -> None:
        """Poll every consumer of every stream (or of the named ``streams`` / ``consumers``)."""
        from evmon.sources.nats.jetstream_lag import JetStreamLagClient

        names, wanted = tuple(streams), tuple(consumers)

        def take(client: JetStreamLagClient) -> Awaitable[list[JetStreamLagRow]]:
            return client.snapshot(names, wanted)

        self.jetstream.watch(lambda: JetStreamLagClient(settings), take, deadline)

    async def poll(self, *, first: bool = False) -> list[str]:
        """One round: every watched system at once. Returns the failures that are new since
        the previous round, one unescaped line each (print them with ``safe_text``); with
        ``first`` a failure raises instead."""
        errors = await asyncio.gather(*(s.refresh(first) for s in self.systems))
        return [e for e in errors if e is not None]

    async def close(self) -> None:
        for system in (self.kafka, self.jetstream):
            await system.close()
