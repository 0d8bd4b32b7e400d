"""`evmon demo --kafka local`: a real Kafka of the demo's own, and that nothing outlives it.

The jars come from the cache the test harness already filled (``EVMON_TEST_CACHE``, which
``.ci/run`` fetches first), passed to evmon as ``EVMON_KAFKA_CACHE``, so no test downloads.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from evmon.demo import demo_system
from evmon.demo.server import _live, sweep_stale_workdirs
from tests.test_demo import Banner, DemoProcess, run_demo_kafka_local, server_alive
from tests.waiting import wait_for

KAFKA_BANNER = re.compile(
    r"Kafka at (?P<bootstrap>127\.0\.0\.1:\d+)\n\s+Apache Kafka \S+ \(KRaft, the demo's own\) "
    r"pid (?P<pid>\d+), data in (?P<workdir>\S+)\n"
)
START = 180.0  # the JVM's start on a busy 2-core machine


@pytest.fixture(autouse=True)
def _jars_from_the_test_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVMON_KAFKA_CACHE", os.environ["EVMON_TEST_CACHE"])


@pytest.fixture
def demo_process() -> Iterator[type[DemoProcess]]:
    started: list[DemoProcess] = []

    class Tracked(DemoProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for d in started:
        d.kill()


def processes_in(workdir: Path) -> list[int]:
    """PIDs of live processes whose command line names ``workdir`` (the broker's JVM, its
    format tool)."""
    needle = str(workdir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state not in ("Z", "X"):
            found.append(int(proc.name))
    return found


def kafka_banner(demo: DemoProcess) -> tuple[str, int, Path, Banner]:
    """The local broker's address, JVM PID and dir from the banner; the NATS part too."""
    nats = demo.banner(timeout=START)
    m = KAFKA_BANNER.search(demo.stdout)
    assert m is not None, demo.stdout
    return m["bootstrap"], int(m["pid"]), Path(m["workdir"]), nats


async def round_trip(bootstrap: str, topic: str) -> bytes | None:
    """Produce one record and read it back by its offset."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        md = await producer.send_and_wait(topic, b"hello from the test", key=b"k", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, md.offset)
        record = await asyncio.wait_for(consumer.getone(), 30)
        value: bytes | None = record.value
        return value
    finally:
        await consumer.stop()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_serve_kafka_local_runs_a_real_broker_and_the_signal_removes_it(
    sig: signal.Signals, demo_process: type[DemoProcess]
) -> None:
    demo = demo_process("--seed", "1", "--kafka", "local")
    bootstrap, pid, workdir, nats = kafka_banner(demo)
    assert workdir.is_dir() and workdir.name.startswith("evmon-demo-kafka-")
    assert pid in processes_in(workdir)
    assert f"evmon lag --kafka {bootstrap} --watch 2" in demo.stdout

    assert await round_trip(bootstrap, "test-round-trip") == b"hello from the test"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()
    assert {"shop.orders", "shop.payments"} <= set(topics)

    assert demo.stop(sig, timeout=60) == 0, demo.stderr
    wait_for(lambda: not processes_in(workdir), timeout=10, message="the broker's JVM gone")
    wait_for(lambda: not server_alive(nats.pid), timeout=10, message="nats-server gone")
    assert not workdir.exists() and not nats.workdir.exists()
    assert "Traceback" not in demo.stderr
    assert "deleted the demo's Kafka" not in demo.stderr  # the whole broker went away


def test_sigkill_takes_the_broker_down_and_the_next_start_sweeps_its_dir(
    demo_process: type[DemoProcess],
) -> None:
    demo = demo_process("--kafka", "local")
    _, pid, workdir, _ = kafka_banner(demo)
    assert pid in processes_in(workdir)
    demo.proc.kill()
    demo.proc.wait(timeout=10)
    # PR_SET_PDEATHSIG: the kernel kills the JVM with its parent
    wait_for(lambda: not processes_in(workdir), timeout=30, message="the broker's JVM killed")
    assert workdir.is_dir(), "a SIGKILLed process cannot clean up; the sweep does"
    # A JVM on its way out has no command line any more but is not a zombie yet: the sweep
    # rightly keeps its dir until it is gone, so ask again until then.
    wait_for(
        lambda: workdir in sweep_stale_workdirs(workdir.parent) or not workdir.exists(),
        timeout=30,
        message="the sweep removed the dead broker's dir",
    )
    assert not workdir.exists()


async def test_a_crash_inside_the_demo_removes_the_local_broker() -> None:
    with pytest.raises(RuntimeError, match="dashboard crashed"):
        async with demo_system(seed=2, kafka="local") as demo:
            local = demo.local_kafka
            assert local is not None and local.workdir is not None and local.pid is not None
            assert demo.kafka is not None and demo.kafka.bootstrap == local.bootstrap
            workdir, pid = local.workdir, local.pid
            assert pid in processes_in(workdir)
            raise RuntimeError("dashboard crashed")
    assert not processes_in(workdir)
    assert not workdir.exists()
    assert not _live


def test_no_maven_for_the_first_fetch_is_one_line(tmp_path: Path) -> None:
    """Java is there (a PATH with only `java` on it), the jars are not, Maven is missing."""
    java = shutil.which("java")
    assert java is not None, "the Kafka tests need Java 17+ on PATH"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(java)
    env = {**os.environ, "PATH": str(bin_dir), "EVMON_KAFKA_CACHE": str(tmp_path / "cache")}
    env.pop("JAVA_HOME", None)
    res = run_demo_kafka_local(env)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Maven (`mvn`) is needed once to fetch the Kafka jars" in lines[0]
    assert "--kafka HOST:PORT" in lines[0]
    assert res.stdout == ""


def test_ctrl_c_during_the_first_fetch_stops_maven_at_once(tmp_path: Path) -> None:
    """A stand-in `mvn` that reports one download and then hangs (a slow network): SIGINT
    ends the demo with exit 0 without waiting for it, and kills it; nothing half-fetched
    is taken for the jars."""
    java = shutil.which("java")
    assert java is not None, "the Kafka tests need Java 17+ on PATH"
    bin_dir, cache = tmp_path / "bin", tmp_path / "cache"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(java)
    marker = tmp_path / "mvn.pid"
    (bin_dir / "mvn").write_text(
        "#!/bin/sh\n"
        f"echo $$ > {marker}\n"
        "echo 'Downloaded from central: https://repo/x.jar (1.5 MB at 3.0 MB/s)'\n"
        "exec sleep 600\n"
    )
    (bin_dir / "mvn").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/bin:/usr/bin", "EVMON_KAFKA_CACHE": str(cache)}
    env.pop("JAVA_HOME", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "evmon", "demo", "--serve", "--kafka", "local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        pid = int(wait_for(lambda: marker.is_file() and marker.read_text().strip(), timeout=30))
        wait_for(lambda: _alive(pid), message="the stand-in mvn running")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert re.fullmatch(
        r"evmon: fetching Apache Kafka \S+ from Maven Central \(once, about 55 MB\)\n", err
    ), err
    assert "Traceback" not in err and out == ""
    wait_for(lambda: not _alive(pid), timeout=10, message="the stand-in mvn killed")
    home = next(cache.glob("kafka-*"))
    assert not (home / "COMPLETE").exists() and not (home / "libs").exists()
    assert not (home / "libs.partial").exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
