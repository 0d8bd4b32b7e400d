"""A 3-node nats-server cluster with JetStream, for tests of a node that freezes.

Plain Python, like `tests.brokers`::

    with NatsCluster() as cluster:
        cluster.urls          # one nats:// URL per node
        cluster.freeze(1)     # SIGSTOP node 1: it keeps its sockets open and answers nothing
        cluster.thaw(1)       # SIGCONT

Each node is a `tests.brokers.NatsServer` with a ``cluster {}`` block routing to the other
two. All three are launched before any is waited on: a clustered JetStream reports healthy
only once the meta group has a leader, which needs a quorum.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path

from tests.brokers import (
    HOST,
    NatsServer,
    StartsAndCleansUp,
    free_port,
    signal_group,
    start_together,
)

__all__ = ["NatsCluster"]


class NatsCluster(StartsAndCleansUp):
    """``size`` nats-server nodes (names ``n1``..) in cluster ``evmon``, JetStream on."""

    def __init__(self, size: int = 3, *, root: Path | None = None) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="evmon-nats-cluster-")) if root is None else root
        routes = {i: free_port() for i in range(1, size + 1)}
        self.nodes: dict[int, NatsServer] = {}
        for i, route in routes.items():
            others = ", ".join(f"nats-route://{HOST}:{p}" for j, p in routes.items() if j != i)
            config = (
                f"server_name: n{i}\n"
                f"cluster {{\n  name: evmon\n  listen: {HOST}:{route}\n  routes: [{others}]\n}}\n"
            )
            self.nodes[i] = NatsServer(
                config=config, name=f"n{i}", workdir=self.root / f"n{i}", start_timeout=60
            )

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes.values()]

    def start(self) -> None:
        try:
            start_together(self.nodes.values())
        except BaseException:
            self.stop()
            raise

    def freeze(self, node_id: int) -> None:
        """SIGSTOP: the process stays, its sockets stay open, nothing is answered."""
        self._signal(node_id, signal.SIGSTOP)

    def thaw(self, node_id: int) -> None:
        self._signal(node_id, signal.SIGCONT)

    def _signal(self, node_id: int, sig: int) -> None:
        signal_group(self.nodes[node_id].pid, sig)

    def stop(self) -> None:
        for i in self.nodes:
            self.thaw(i)  # a stopped process cannot act on SIGTERM
        for node in self.nodes.values():
            node.stop(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        for node in self.nodes.values():
            shutil.rmtree(node.store_dir, ignore_errors=True)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
