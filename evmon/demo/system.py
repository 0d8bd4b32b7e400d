"""``demo_system``: the whole demo as one async context manager.

Any caller (``evmon demo --serve``, the dashboard, tests, the screenshot script) runs its
own work inside it and gets the same guarantee: whatever way the block is left — normally,
by an exception, by cancellation — the services stop, the connections close, the
nats-server is gone and its temp dir removed. Signals are the caller's business (a library
must not take over SIGINT); ``evmon demo`` turns SIGINT/SIGTERM/SIGHUP into a normal exit.
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
from evmon.demo.server import NatsServerProcess

if TYPE_CHECKING:
    from nats.aio.client import Client

    from evmon.demo.kafka import KafkaDemo, KafkaPoison

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

    - ``nats_url``: the embedded server (``nats://127.0.0.1:PORT``); ``nats`` as settings.
    - ``kafka``: the Kafka settings when ``--kafka`` was given, else ``None``.
    - ``streams``/``subjects``: the four streams and their subjects, in the same order.
    - ``consumers``: the three JetStream consumers and their intended behaviour.
    - ``poison``: the USERS message ``users-mailer`` keeps nak-ing.
    - ``kafka_topics``/``kafka_groups``/``kafka_poison``: the Kafka side, if any.
    - ``problems``: recent service errors (reconnects, failed sends), newest last; the
      demo never writes them to the terminal itself.
    """

    def __init__(self, seed: int, server: NatsServerProcess) -> None:
        self.seed = seed
        self._server = server
        self.nats_url = ""
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
        """Return (with the server's exit code and last log lines) if the nats-server dies
        under us; never returns while it runs."""
        code = await self._server.wait_exit()
        return f"exit code {code}; log:\n{self._server.log_tail()}"

    def _task(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.problem(f"{name} stopped: {type(err).__name__}: {err}")

        self._tasks.append(asyncio.create_task(guarded(), name=f"evmon-demo-{name}"))

    async def _start(self, kafka: KafkaSettings | None, kafka_prefix: str) -> None:
        await self._server.start()
        self.nats_url = self._server.url
        self._nc = await connect(self.nats_url, "demo-generator", self.problem)
        js = self._nc.jetstream()
        await create_streams(js)
        await create_consumers(js)

        async def publish(event: DemoEvent) -> tuple[str, int]:
            ack = await js.publish(
                event.subject, event.payload, timeout=5, headers=event.header_dict()
            )
            return ack.stream, ack.seq

        mirrors = []
        if kafka is not None:
            from evmon.demo.kafka import KafkaDemo

            self.kafka = kafka
            self.kafka_demo = KafkaDemo(kafka, prefix=kafka_prefix, on_problem=self.problem)
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
            if self.kafka_demo is not None:
                await self.kafka_demo.close()
            nc, self._nc = self._nc, None
            if nc is not None and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 3)
        finally:
            await self._server.stop()


@contextlib.asynccontextmanager
async def demo_system(
    seed: int | None = None,
    kafka: KafkaSettings | str | None = None,
    *,
    port: int | None = None,
    kafka_prefix: str = "",
) -> AsyncIterator[DemoSystem]:
    """Start the demo (server, streams, consumers, services, generator; Kafka side when
    ``kafka`` is given) and stop all of it when the block ends, however it ends.

    ``seed`` makes the event content reproducible (``None``: a random seed, kept on
    ``DemoSystem.seed``). ``port`` fixes the NATS port (default: a free one).
    ``kafka_prefix`` is prepended to Kafka topic and group names.
    """
    if seed is None:
        seed = random.SystemRandom().randrange(1, 1_000_000)
    if isinstance(kafka, str):
        kafka = KafkaSettings(bootstrap=kafka)
    system = DemoSystem(seed, NatsServerProcess(port))
    task = asyncio.current_task()
    try:
        await system._start(kafka, kafka_prefix)
        if task is not None and task.cancelling():
            # A cancellation swallowed during startup (3.11's wait_for, inside the clients,
            # can lose one): honour it rather than run the caller's block forever.
            raise asyncio.CancelledError
        yield system
    finally:
        await system.close()


__all__ = ["DemoSystem", "PoisonMessage", "demo_system"]
