"""Sizes of a full and a quick run, and the brokers and tools every benchmark shares.

The brokers are the test suite's (``tests.brokers``), started here on free loopback ports,
so the bench runs on a fresh clone with no broker of its own. The NATS server buffers up to
2 GiB per connection and waits 120 s on a write: a bounded flood then queues on the server
instead of making it cut off the slower subscribers (nats-server's "slow consumer"), and
each contender reads the same messages at its own pace.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from bench import peers
from tests.brokers import BrokerStartError, KafkaBroker, NatsServer

NATS_CONFIG = """\
max_pending: 2147483648
write_deadline: "120s"
max_payload: 1048576
"""


@dataclass(frozen=True)
class Sizes:
    """Counts and repeats of one kind of run."""

    nats_count: int
    nats_sizes: tuple[int, ...]
    kafka_count: int
    kafka_size: int
    filter_count: int
    mem_retained: int
    mem_more: int
    mem_rate: float
    paced_rate: float
    paced_seconds: float
    key_presses: int
    startup_runs: int
    repeats: int
    idle: float
    deadline: float


FULL = Sizes(
    nats_count=500_000,
    nats_sizes=(128, 1024),
    kafka_count=1_000_000,
    kafka_size=512,
    filter_count=500_000,
    mem_retained=100_000,
    mem_more=1_000_000,
    mem_rate=40_000,
    paced_rate=20_000,
    paced_seconds=10,
    key_presses=20,
    startup_runs=15,
    repeats=3,
    idle=10.0,
    deadline=600.0,
)

QUICK = Sizes(
    nats_count=5_000,
    nats_sizes=(128, 1024),
    kafka_count=20_000,
    kafka_size=512,
    filter_count=5_000,
    mem_retained=2_000,
    mem_more=10_000,
    mem_rate=20_000,
    paced_rate=20_000,
    paced_seconds=0.5,
    key_presses=3,
    startup_runs=3,
    repeats=1,
    idle=5.0,
    deadline=120.0,
)


def dashboard_available() -> str | None:
    """None when ``evmon.tui.app.EvmonApp`` exists, else why the dashboard is skipped."""
    try:
        if importlib.util.find_spec("evmon.tui.app") is None:
            return "evmon.tui.app does not exist yet"
        from evmon.tui import app
    except Exception as err:  # a half-built module must not stop the other benchmarks
        return f"evmon.tui.app does not import ({type(err).__name__}: {err})"
    if not hasattr(app, "EvmonApp"):
        return "evmon.tui.app has no EvmonApp yet"
    return None


@dataclass
class Context:
    """What a run shares: sizes, brokers (started on first use), peers and notes."""

    sizes: Sizes
    quick: bool
    install_peers: bool
    #: Run only contenders whose name contains one of these (and the baselines).
    contenders: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _nats: NatsServer | None = None
    _kafka: KafkaBroker | None = None
    _kafka_error: str | None = None
    _peers: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            print(f"  note: {text}", flush=True)

    def nats(self) -> NatsServer:
        if self._nats is None:
            server = NatsServer(config=NATS_CONFIG, jetstream=False, name="evmon-bench")
            self._nats = self._stack.enter_context(server)
        return self._nats

    def kafka(self) -> KafkaBroker | None:
        """The Kafka broker, or None (with a note) where Java or the jars are missing."""
        if self._kafka is None and self._kafka_error is None:
            try:
                broker = KafkaBroker(properties={"num.partitions": "3"})
                self._kafka = self._stack.enter_context(broker)
            except (BrokerStartError, OSError) as err:
                self._kafka_error = str(err).splitlines()[0]
                self.note(f"Kafka benchmarks skipped: {self._kafka_error}")
        return self._kafka

    def peer(self, name: str) -> str | None:
        if name not in self._peers:
            find = peers.nats_cli if name == "nats" else peers.kcat
            self._peers[name] = find(self.install_peers)
            path, note = self._peers[name]
            if path is None:
                self.note(note)
            else:
                self.meta.setdefault("peers", {})[name] = note
        return self._peers[name][0]

    def close(self) -> None:
        self._stack.close()
