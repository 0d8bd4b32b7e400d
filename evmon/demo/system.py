"""``demo_system``: the whole demo as one async context manager.

Any caller (``evmon demo --serve``, the dashboard, tests, the screenshot script) runs its
own work inside it and gets the same guarantee: whatever way the block is left — normally,
by an exception, by cancellation — the services stop, the connections close, the
nats-server is gone and its temp dir removed. Signals are the caller's business (a library
must not take over SIGINT); ``evmon demo`` turns SIGINT/SIGTERM/SIGHUP into a normal exit.

``kafka="local"`` runs a Kafka broker of the demo's own (``evmon.demo.kafka_local``) with
the same guarantee; on any other Kafka the demo deletes what it created unless ``keep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evmon.config import KafkaSettings, NatsSettings
from evmon.demo.consumers import (
    CONSUMERS,
    STREAMS,
    DemoConsumer,
    Service,
    connect,
    create_consumers,
    create_streams,
)
from evmon.demo.generator import POISON_MSG_ID, DemoEvent, EventFactory, Generator
from evmon.demo.kafka_jars import Progress
from evmon.demo.server import NatsServerProcess
from evmon.demo.traps import CoreTraps, Notifier

if TYPE_CHECKING:
    from nats.aio.client import Client

    from evmon.demo.kafka import KafkaDemo, KafkaPoison
    from evmon.demo.kafka_local import LocalKafka

#: The ``--kafka`` value that asks for a broker of the demo's own.
LOCAL = "local"

MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class PoisonMessage:
    """The message ``consumer`` is stuck on: JetStream ``stream`` sequence ``seq``."""

    stream: str
    consumer: str
    subject: str
    seq: int
    msg_id: str


class DemoSystem:
    """A running demo. Attributes are plain values to print or pass to the dashboard.

    - ``nats_url``: the embedded server (``nats://127.0.0.1:PORT``); ``nats`` as settings;
      ``nats_monitor``: its monitoring endpoint (``http://127.0.0.1:PORT``).
    - ``traps``/``notifier``: the core-NATS traps of ``evmon.demo.traps`` (a subject nobody
      listens to, a wrong-case subscriber).
    - ``kafka``: the Kafka settings when ``--kafka`` was given, else ``None``.
    - ``local_kafka``: the demo's own broker (``--kafka local``), else ``None``.
    - ``streams``/``subjects``: the four streams and their subjects, in the same order.
    - ``consumers``: the three JetStream consumers and their intended behaviour.
    - ``poison``: the USERS message ``users-mailer`` keeps nak-ing.
    - ``kafka_topics``/``kafka_groups``/``kafka_poison``: the Kafka side, if any.
    - ``problems``: recent service errors (reconnects, failed sends), newest last; the
      demo never writes them to the terminal itself.
    - ``exit_notes``: lines for the caller to print once the demo is gone (what became of
      the topics and groups on the user's Kafka).
    """

    def __init__(
        self,
        seed: int,
        server: NatsServerProcess,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.seed = seed
        self._on_note = on_note
        self._server = server
        self.nats_url = ""
        self.nats_monitor = ""
        self.traps: CoreTraps | None = None
        self.notifier: Notifier | None = None
        self.kafka: KafkaSettings | None = None
        self.streams: tuple[str, ...] = tuple(STREAMS)
        self.subjects: tuple[str, ...] = tuple(STREAMS.values())
        self.consumers: tuple[DemoConsumer, ...] = CONSUMERS
        self.poison: PoisonMessage | None = None
        self.kafka_topics: tuple[str, ...] = ()
        self.kafka_groups: tuple[str, ...] = ()
        self.problems: deque[str] = deque(maxlen=MAX_PROBLEMS)
        self.generator: Generator | None = None
        self.kafka_demo: KafkaDemo | None = None
        self.local_kafka: LocalKafka | None = None
        self.exit_notes: list[str] = []
        self._nc: Client | None = None
        self._services: list[Service] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def nats(self) -> NatsSettings:
        return NatsSettings(urls=(self.nats_url,))

    @property
    def server_pid(self) -> int | None:
        return self._server.pid

    @property
    def workdir(self) -> Path | None:
        return self._server.workdir

    @property
    def kafka_poison(self) -> KafkaPoison | None:
        return self.kafka_demo.poison if self.kafka_demo is not None else None

    def problem(self, text: str) -> None:
        if not self._closed:
            self.problems.append(f"{time.strftime('%H:%M:%S')} {text}")

    def server_running(self) -> bool:
        return self._server.is_running()

    async def wait_server_exit(self) -> str:
        """Return (naming the process, with its exit code and last log lines) if the
        nats-server or the local Kafka broker dies under us; never returns while they run."""
        waits = {asyncio.ensure_future(self._server.wait_exit()): "nats-server"}
        local = self.local_kafka
        if local is not None:
            waits[asyncio.ensure_future(local.wait_exit())] = "local Kafka broker"
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        task = next(iter(done))
        tail = self._server.log_tail() if waits[task] == "nats-server" else ""
        if local is not None and waits[task] != "nats-server":
            tail = local.log_tail()
        return f"{waits[task]} exited unexpectedly (exit code {task.result()}); log:\n{tail}"

    def _task(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.problem(f"{name} stopped: {type(err).__name__}: {err}")

        self._tasks.append(asyncio.create_task(guarded(), name=f"evmon-demo-{name}"))

    async def _start(self, kafka: KafkaSettings | None, kafka_prefix: str, keep: bool) -> None:
        local = self.local_kafka
        if local is not None:
            local.check()  # a missing Java or Maven is one line, before anything starts
            await local.launch()  # the JVM boots while the nats-server starts
        await self._server.start()
        self.nats_url = self._server.url
        self.nats_monitor = self._server.monitor_url
        self._nc = await connect(self.nats_url, "demo-generator", self.problem)
        js = self._nc.jetstream()
        await create_streams(js)
        await create_consumers(js)

        async def publish(event: DemoEvent) -> tuple[str, int]:
            ack = await js.publish(
                event.subject, event.payload, timeout=5, headers=event.header_dict()
            )
            return ack.stream, ack.seq

        self.traps = CoreTraps(await connect(self.nats_url, "demo-checkout", self.problem))
        mirrors = [self.traps.mirror]
        if local is not None:
            await local.wait_ready()
            kafka = KafkaSettings(bootstrap=local.bootstrap)
        if kafka is not None:
            from evmon.demo.kafka import KafkaDemo

            self.kafka = kafka
            self.kafka_demo = KafkaDemo(
                kafka, prefix=kafka_prefix, on_problem=self.problem, keep=keep or local is not None
            )
            await self.kafka_demo.start()
            self.kafka_topics = self.kafka_demo.topics
            self.kafka_groups = self.kafka_demo.groups
            mirrors.append(self.kafka_demo.mirror)

        factory = EventFactory(self.seed)
        self.generator = Generator(factory, publish, mirrors, on_problem=self.problem)
        for event in factory.opening():
            stream, seq = await self.generator.emit(event)
            if event.kind == "poison":
                self.poison = PoisonMessage(
                    stream, "users-mailer", event.subject, seq, POISON_MSG_ID
                )
        if self.kafka_demo is not None:
            await self.kafka_demo.produce_poison()
            self.kafka_demo.start_groups()

        for consumer in self.consumers:
            service = Service(self.nats_url, consumer, self.problem)
            self._services.append(service)
            self._task(consumer.name, service.run)
        self.notifier = Notifier(await connect(self.nats_url, "demo-notifier", self.problem))
        self._task("notifier", self.notifier.run)
        self._task("generator", self.generator.run)

    async def close(self) -> None:
        """Stop services, close connections, stop the server and remove its data.

        The server is stopped in a ``finally``: an error or a cancellation while the
        services shut down cannot leave it behind.
        """
        if self._closed:
            return
        self._closed = True
        try:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=5)
            for service in self._services:
                await service.close()
            if self.notifier is not None:
                await self.notifier.close()
            if self.traps is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.traps.nc.close(), 3)
            if self.kafka_demo is not None:
                await self.kafka_demo.close()
                note = self.kafka_demo.exit_note
                if note and self.local_kafka is None:
                    self.exit_notes.append(note)
                    if self._on_note is not None:
                        self._on_note(note)
            nc, self._nc = self._nc, None
            if nc is not None and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 3)
        finally:
            try:
                await self._server.stop()
            finally:
                if self.local_kafka is not None:
                    await self.local_kafka.stop()


@contextlib.asynccontextmanager
async def demo_system(
    seed: int | None = None,
    kafka: KafkaSettings | str | None = None,
    *,
    port: int | None = None,
    kafka_prefix: str = "",
    keep: bool = False,
    progress: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> AsyncIterator[DemoSystem]:
    """Start the demo (server, streams, consumers, services, generator; Kafka side when
    ``kafka`` is given) and stop all of it when the block ends, however it ends.

    ``seed`` makes the event content reproducible (``None``: a random seed, kept on
    ``DemoSystem.seed``). ``port`` fixes the NATS port (default: a free one).
    ``kafka="local"`` starts a broker of the demo's own (``progress`` hears about a first
    fetch of its jars); on another Kafka, ``keep`` keeps the topics and groups the demo
    created instead of deleting them. ``kafka_prefix`` is prepended to their names.
    ``on_note`` hears the ``exit_notes`` as they are made (the demo may end during startup,
    before the caller holds the ``DemoSystem``).
    """
    if seed is None:
        seed = random.SystemRandom().randrange(1, 1_000_000)
    system = DemoSystem(seed, NatsServerProcess(port), on_note)
    if kafka == LOCAL:
        from evmon.demo.kafka_local import LocalKafka

        system.local_kafka = LocalKafka(progress=progress)
        kafka = None
    elif isinstance(kafka, str):
        kafka = KafkaSettings(bootstrap=kafka)
    task = asyncio.current_task()
    try:
        await system._start(kafka, kafka_prefix, keep)
        if task is not None and task.cancelling():
            # A cancellation swallowed during startup (3.11's wait_for, inside the clients,
            # can lose one): honour it rather than run the caller's block forever.
            raise asyncio.CancelledError
        yield system
    finally:
        await system.close()


__all__ = ["LOCAL", "DemoSystem", "PoisonMessage", "demo_system"]
