"""A 3-node Kafka KRaft cluster for the tests: replication factor 3, leaders spread.

Plain Python (no pytest), like `tests.brokers`::

    with KafkaCluster() as cluster:
        print(cluster.bootstrap)          # all three client addresses, comma separated
        cluster.kill(2)                   # SIGKILL node 2 (a crash)
        cluster.restart(2)                # back on the same ports and data

Every node is a combined broker+controller (`tests.brokers.KafkaBroker` with its own
``node.id``, the three controllers as static voters and one shared cluster id), so killing
one keeps a quorum of two. Broker heartbeats are short (fenced 4 s after a crash instead of
9 s) so that leaders move within seconds. Topics made by `create_spread_topic` name their
replicas explicitly, so which broker leads which partition is known, not left to chance.

Start-up launches all nodes before waiting on any (none opens its client port before the
quorum has formed) and is ready when every node accepts clients, the metadata lists all of
them and the group coordinator answers (the offsets topic exists, replicated three times).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.brokers import (
    HOST,
    KAFKA_VERSION,
    BrokerStartError,
    KafkaBroker,
    StartsAndCleansUp,
    describe_group,
    free_port,
    signal_group,
    start_together,
)

__all__ = [
    "KafkaCluster",
    "brokers",
    "coordinator",
    "create_spread_topic",
    "partition_leaders",
]

T = TypeVar("T")


def run_sync(factory: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    """Run a coroutine from sync code, also while an event loop runs in this thread."""

    def run() -> T:
        async def main() -> T:
            return await factory()

        return asyncio.run(main())

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=timeout)


# --------------------------------------------------------------------------- metadata


async def brokers(bootstrap: str) -> dict[int, str]:
    """node id -> ``host:port`` of every broker in the cluster metadata (fenced ones are not)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        info = await admin.describe_cluster()
    finally:
        await admin.close()
    return {b["node_id"]: f"{b['host']}:{b['port']}" for b in info["brokers"]}


async def partition_leaders(bootstrap: str, topic: str) -> dict[int, tuple[int, list[int]]]:
    """partition -> (leader node id, in-sync replicas), from a metadata request."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        [desc] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if desc["error_code"]:
        raise RuntimeError(f"metadata of {topic}: error code {desc['error_code']}")
    return {p["partition"]: (p["leader"], sorted(p["isr"])) for p in desc["partitions"]}


async def coordinator(bootstrap: str, group: str) -> int:
    """The node id of the broker that coordinates ``group`` (FindCoordinator)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        node: int = await admin.find_coordinator(group)
        return node
    finally:
        await admin.close()


async def create_spread_topic(
    bootstrap: str, topic: str, leaders: Sequence[int], nodes: Sequence[int] = (1, 2, 3)
) -> None:
    """A topic with one partition per entry of ``leaders``: partition ``p`` is replicated on
    every node, ``leaders[p]`` first (its preferred, hence initial, leader)."""
    assignment: dict[int, list[int]] = {}
    for p, leader in enumerate(leaders):
        i = list(nodes).index(leader)
        assignment[p] = [*nodes[i:], *nodes[:i]]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, -1, -1, replica_assignments=assignment)])
    finally:
        await admin.close()


# --------------------------------------------------------------------------- the cluster


def _cluster_id() -> str:
    while True:  # an id starting with "-" reads as an option to some tools
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


class KafkaCluster(StartsAndCleansUp):
    """``size`` combined KRaft nodes (ids 1..size) on free loopback ports under ``root``.

    ``heap`` is each node's -Xmx. ``root`` defaults to a private temp dir (removed by
    `cleanup`); with a given root only the nodes' data dirs are removed (logs stay).
    """

    def __init__(
        self,
        size: int = 3,
        *,
        root: Path | None = None,
        version: str = KAFKA_VERSION,
        heap: str = "384m",
        start_timeout: float = 150.0,
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="evmon-kafka-cluster-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.version = version
        self.start_timeout = start_timeout
        ports = {i: (free_port(), free_port()) for i in range(1, size + 1)}
        voters = ",".join(f"{i}@{HOST}:{c}" for i, (_, c) in ports.items())
        replicas = str(min(size, 3))
        min_isr = str(min(size, 2))
        self.cluster_id = _cluster_id()
        self.nodes: dict[int, KafkaBroker] = {}
        for i, (port, controller) in ports.items():
            node = KafkaBroker(
                version=version,
                port=port,
                controller_port=controller,
                workdir=self.root / f"node-{i}",
                start_timeout=start_timeout,
                heap=heap,
                properties={
                    "node.id": i,
                    "controller.quorum.voters": voters,
                    "default.replication.factor": replicas,
                    "min.insync.replicas": min_isr,
                    "offsets.topic.replication.factor": replicas,
                    "offsets.topic.num.partitions": size,
                    "transaction.state.log.replication.factor": replicas,
                    "transaction.state.log.min.isr": min_isr,
                    "share.coordinator.state.topic.replication.factor": replicas,
                    "share.coordinator.state.topic.min.isr": min_isr,
                    # A crashed broker is fenced (and its leaderships move) after 4 s.
                    "broker.heartbeat.interval.ms": 500,
                    "broker.session.timeout.ms": 4000,
                    "replica.lag.time.max.ms": 10_000,
                    # Leaders stay where the tests put them (no rebalancing behind their back).
                    "auto.leader.rebalance.enable": "false",
                    "num.replica.fetchers": 1,
                    "log.segment.bytes": 16 * 1024 * 1024,
                },
            )
            node.cluster_id = self.cluster_id
            self.nodes[i] = node

    # -- addresses -------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Every node's client address, comma separated (what a production client is given)."""
        return ",".join(n.bootstrap for n in self.nodes.values())

    def address(self, node_id: int) -> str:
        return self.nodes[node_id].bootstrap

    def others(self, node_id: int) -> str:
        """The bootstrap list without ``node_id``."""
        return ",".join(n.bootstrap for i, n in self.nodes.items() if i != node_id)

    def running(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.is_running()]

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Launch every node that is not running, then wait until the cluster is whole."""
        try:
            start_together(self.nodes.values())
            self.wait_whole()
        except BaseException:
            self.stop()
            raise

    def wait_whole(self, timeout: float | None = None) -> None:
        """Until the metadata lists every node and the group coordinator answers."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.start_timeout)
        want = set(self.nodes)
        last: object = None
        while time.monotonic() < deadline:
            for i, node in self.nodes.items():
                if not node.is_running():
                    raise BrokerStartError(
                        f"Kafka cluster node {i} exited; log tail ({node.log_path}):\n"
                        f"{node.log_tail()}"
                    )
            try:
                seen = run_sync(lambda: brokers(self.bootstrap), timeout=30)
                if set(seen) == want:
                    run_sync(lambda: coordinator(self.bootstrap, "evmon-cluster-probe"), 30)
                    return
                last = f"brokers in metadata: {sorted(seen)}"
            except Exception as exc:  # not yet: no quorum, offsets topic being created
                last = exc
            time.sleep(0.25)
        logs = "\n".join(
            f"--- node {i} ({n.log_path}):\n{n.log_tail(15)}" for i, n in self.nodes.items()
        )
        raise BrokerStartError(
            f"Kafka cluster at {self.bootstrap} did not become whole within "
            f"{timeout or self.start_timeout:.0f} s (last: {last!r})\n{logs}"
        )

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (a crash: no controlled shutdown, nothing flushed)."""
        self.nodes[node_id].kill()

    def restart(self, node_id: int) -> None:
        """Start a stopped node again on its ports and data; wait until the cluster is whole."""
        node = self.nodes[node_id]
        if not node.is_running():
            node.launch()
            node.wait_ready()
        self.wait_whole()

    def ensure_running(self) -> None:
        if len(self.running()) != len(self.nodes):
            self.start()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every node at once (one at a time, the last ones wait for a quorum that is
        leaving), then SIGKILL what is left at the deadline."""
        live = [n for n in self.nodes.values() if n.is_running() and n.pid is not None]
        for node in live:
            signal_group(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in live:
            node.stop(timeout=max(deadline - time.monotonic(), 0.1))
        for node in self.nodes.values():
            node.stop(timeout=1.0)

    def cleanup(self) -> None:
        """Stop every node and remove the data (and the root if it is ours)."""
        self.stop()
        for node in self.nodes.values():
            shutil.rmtree(node.data_dir, ignore_errors=True)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- tools -----------------------------------------------------------------------

    def describe_group(self, group: str) -> list[dict[str, int | str | None]]:
        """Kafka's own ConsumerGroupCommand --describe against the cluster."""
        return describe_group(self.bootstrap, group, version=self.version)

    def log_tails(self, n: int = 20) -> str:
        return "\n".join(
            f"--- node {i} ({node.log_path}):\n{node.log_tail(n)}" for i, node in self.nodes.items()
        )

    def __repr__(self) -> str:
        return f"KafkaCluster(bootstrap={self.bootstrap!r}, running={self.running()})"
