"""The demo's own Kafka (``evmon demo --kafka local``): a single-node KRaft broker that never
outlives evmon.

It runs from the jars ``evmon.demo.kafka_jars`` fetches (once, from Maven Central) with
plain ``java -cp``, as ``shared/KAFKA.md`` describes: broker and controller in one process
on two free loopback ports, its data in a private temp dir. The guarantees are those of the
demo's nats-server (``evmon.demo.server``): ``stop()`` from a ``finally`` (SIGTERM, a
deadline, SIGKILL, the dir removed), ``stop_now()`` at interpreter exit, the kernel's
``PR_SET_PDEATHSIG`` when evmon is SIGKILLed, and an ``owner`` file so that the next demo
start sweeps the dir (its name matches ``server.WORKDIR_PREFIX``). The JVM runs in its own
session, so the terminal's Ctrl+C reaches evmon only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from evmon.demo import server as _server
from evmon.demo.kafka_jars import (
    JVM_FLAGS,
    JVM_TOOL,
    KAFKA_VERSION,
    FetchCancel,
    FetchCancelled,
    Progress,
    cache_root,
    cached_jars,
    ensure_kafka_jars,
    find_java,
    find_maven,
)
from evmon.demo.server import HOST, OWNER_FILE, WORKDIR_PREFIX, free_port
from evmon.errors import RuntimeFailure

__all__ = ["LocalKafka", "broker_properties"]

START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
FORMAT_TIMEOUT = 120.0
JVM_BROKER = ["-Xms256m", "-Xmx512m", *JVM_FLAGS]

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


def broker_properties(port: int, controller_port: int, data_dir: Path) -> dict[str, str]:
    """server.properties of a combined broker+controller on 127.0.0.1 (KAFKA.md): one node,
    replication factor 1 everywhere, small thread pools."""
    p, c = port, controller_port
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{c}",
        "listeners": f"PLAINTEXT://{HOST}:{p},CONTROLLER://{HOST}:{c}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{p}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "1",
        "num.io.threads": "2",
        "background.threads": "2",
        "log.cleaner.dedupe.buffer.size": "16777216",
    }


def cluster_id() -> str:
    """A KRaft cluster id, as ``StorageTool random-uuid`` makes one (without a JVM)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class LocalKafka(_server.ChildProcess):
    """A Kafka broker+controller of the demo's own on 127.0.0.1 (free ports)."""

    LOG_NAME = "kafka.log"

    def __init__(
        self,
        *,
        version: str = KAFKA_VERSION,
        cache: Path | None = None,
        progress: Progress | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.version = version
        self.cache = cache or cache_root()
        self.progress = progress
        self.start_timeout = start_timeout
        self.port = 0
        self.controller_port = 0
        self.workdir: Path | None = None
        self._java = ""
        self._libs: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def check(self) -> None:
        """Fail at once, in one line, when Java 17+ is missing, or Maven when the jars are
        not cached yet (before the demo starts anything else)."""
        self._java = find_java()
        if cached_jars(self.version, self.cache) is None:
            find_maven(libs=self.cache / f"kafka-{self.version}" / "libs")

    async def fetch(self) -> Path:
        """The jars, fetched in a worker thread that a cancellation stops (Maven killed)."""
        cancel = FetchCancel()
        try:
            self._libs = await asyncio.to_thread(
                ensure_kafka_jars,
                self.version,
                root=self.cache,
                progress=self.progress,
                cancel=cancel,
            )
        except BaseException:
            cancel.set()
            raise
        return self._libs

    async def launch(self) -> None:
        """Format the storage and spawn the JVM, without waiting for it to be ready (the
        demo starts its nats-server meanwhile)."""
        if not self._java:
            self.check()
        if self._libs is None:
            try:
                await self.fetch()
            except FetchCancelled:
                raise asyncio.CancelledError from None
        _server.sweep_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}kafka-"))
        (self.workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        _server._live.add(self)
        try:
            await self._spawn_formatted()
        except BaseException:
            self.stop_now()
            raise

    async def _spawn_formatted(self) -> None:
        assert self.workdir is not None
        self.port, self.controller_port = free_port(), free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        data = self.workdir / "data"
        shutil.rmtree(data, ignore_errors=True)
        props = self.workdir / "server.properties"
        props.write_text(
            "".join(
                f"{k}={v}\n"
                for k, v in broker_properties(self.port, self.controller_port, data).items()
            ),
            encoding="utf-8",
        )
        (self.workdir / "log4j2.properties").write_text(LOG4J2, encoding="utf-8")
        await self._format(props)
        self._proc = self._popen(self._argv("kafka.Kafka", str(props), jvm=JVM_BROKER), True)
        (self.workdir / OWNER_FILE).write_text(f"{os.getpid()} {self._proc.pid}\n")

    def _popen(self, argv: list[str], pdeathsig: bool) -> subprocess.Popen[bytes]:
        """A child in its own session writing to the log; with ``pdeathsig`` the kernel
        kills it when evmon dies (see ``evmon.demo.server``)."""
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_server._pdeathsig_preexec() if pdeathsig else None,
            )

    def _argv(self, main_class: str, *args: str, jvm: Sequence[str] = JVM_TOOL) -> list[str]:
        assert self.workdir is not None and self._libs is not None
        return [
            self._java,
            *jvm,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{self._libs}/*",
            main_class,
            *args,
        ]

    async def _format(self, props: Path) -> None:
        """``StorageTool format`` (static voters, so no ``--standalone``); killed if the
        demo is cancelled meanwhile."""
        argv = self._argv(
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id()}", "-c", str(props)
        )
        proc = self._popen(argv, False)
        try:
            code = await asyncio.to_thread(proc.wait, FORMAT_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            raise RuntimeFailure(
                f"formatting the local Kafka's storage failed (exit {code}):\n{self.log_tail()}"
            )

    async def wait_ready(self) -> None:
        """Until the client port accepts (Kafka opens it once the broker is unfenced); a
        port lost to another process meanwhile is retried on new ports."""
        for attempt in range(3):
            if await self._ready():
                return
            lost_port = "address already in use" in self.log_tail(60).lower()
            if not lost_port or attempt == 2:
                tail = self.log_tail()
                code = self._proc.poll() if self._proc is not None else None
                self.stop_now()
                raise RuntimeFailure(f"the local Kafka broker exited (code {code}):\n{tail}")
            await self._spawn_formatted()

    async def _ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        interval = 0.05
        while True:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if await self._accepts():
                return True
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                self.stop_now()
                raise RuntimeFailure(
                    f"the local Kafka broker did not accept connections on {self.bootstrap} "
                    f"within {self.start_timeout:.0f} s:\n{tail}"
                )
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 0.25)

    async def _accepts(self) -> bool:
        writer = None
        try:
            async with asyncio.timeout(1):
                _, writer = await asyncio.open_connection(HOST, self.port)
            return True
        except (OSError, TimeoutError):
            return False
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def start(self) -> None:
        await self.launch()
        await self.wait_ready()

    async def wait_exit(self) -> int | None:
        """The exit code once the broker has exited (for noticing that it died under us)."""
        proc = self._proc
        if proc is None:
            return None
        return await asyncio.to_thread(proc.wait)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:  # noqa: ASYNC109
        """SIGTERM (Kafka's controlled shutdown), wait up to ``timeout`` without blocking
        the loop, then ``stop_now()`` — which also runs if this wait is cancelled."""
        try:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(proc.wait, timeout)
        finally:
            self.stop_now()

    def stop_now(self) -> None:
        """Kill the broker if it still runs, reap it, remove the temp dir. Idempotent."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        _server._live.discard(self)
