"""Apache Kafka from Maven Central: the jars a single-node KRaft broker runs from, and Java.

The machines evmon targets have Java and Maven but often neither Docker nor the Apache
download site, so the broker is assembled from Maven artifacts (``shared/KAFKA.md``):
``kafka_2.13`` pulls the broker's modules, ``kafka-tools`` adds Kafka's command-line tools
(the tests' second opinion on lag), and a log4j backend makes it log. One copy of this
logic serves ``evmon demo --kafka local`` and the test harness (``tests/kafka_jars.py``).

Cache layout, shared by both: ``<root>/kafka-<version>/libs`` plus a ``COMPLETE`` marker.
The demo's root is ``$EVMON_KAFKA_CACHE``, else ``$XDG_CACHE_HOME/evmon``, else
``~/.cache/evmon``; the tests pass theirs (``~/.cache/evmon-test``). Pointing
``EVMON_KAFKA_CACHE`` at the tests' cache makes the demo reuse it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from evmon.errors import RuntimeFailure, UsageError

__all__ = [
    "CACHE_ENV",
    "JVM_FLAGS",
    "JVM_TOOL",
    "KAFKA_VERSION",
    "FetchCancel",
    "KafkaSetupError",
    "cache_root",
    "cached_jars",
    "ensure_kafka_jars",
    "find_java",
    "find_maven",
    "java_major",
]

KAFKA_VERSION: str = os.environ.get("EVMON_KAFKA_VERSION", "4.1.1")
CACHE_ENV = "EVMON_KAFKA_CACHE"
MIN_JAVA = 17
FETCH_TIMEOUT = 900.0

#: JVM options of every Kafka process: small and quick to start (a demo, a test broker).
JVM_FLAGS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
JVM_TOOL = ["-Xms64m", "-Xmx256m", *JVM_FLAGS]

#: Receives a status text while the jars are fetched; ``done`` marks the last one.
Progress = Callable[[str, bool], None]

DEMO_HINT = "or give the demo a broker you run: --kafka HOST:PORT"


class KafkaSetupError(UsageError):
    """A prerequisite of a local Kafka broker is missing (Java 17+, or Maven to fetch it)."""


def cache_root() -> Path:
    """Where the demo keeps Kafka versions: ``$EVMON_KAFKA_CACHE``, else evmon's XDG cache."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "evmon"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _logging_deps(version: str) -> list[tuple[str, str, str]]:
    """Kafka ships no logging backend: reload4j for 3.x, log4j2 for 4.x (KAFKA.md)."""
    v = _version_tuple(version)
    if v < (4,):
        return [
            ("org.slf4j", "slf4j-reload4j", "1.7.36"),
            ("ch.qos.reload4j", "reload4j", "1.2.25"),
        ]
    log4j = "2.24.3" if v < (4, 2) else "2.25.1"
    return [
        ("org.apache.logging.log4j", "log4j-slf4j-impl", log4j),
        ("org.apache.logging.log4j", "log4j-core", log4j),
    ]


def pom(version: str) -> str:
    """A ``pom``-packaging project whose runtime dependencies are the broker and its tools."""
    deps = [
        ("org.apache.kafka", "kafka_2.13", version),
        ("org.apache.kafka", "kafka-tools", version),
        *_logging_deps(version),
    ]
    lines = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>evmon.test</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{lines}
  </dependencies>
</project>
"""


class FetchCancel:
    """Lets another thread stop a fetch: ``set()`` kills Maven and ends the lock wait.

    Needed because the demo fetches in a worker thread (Maven can take minutes) and Ctrl+C
    must not wait for the download to finish.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def set(self) -> None:
        with self._lock:
            self._event.set()
            if self._proc is not None and self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()

    def is_set(self) -> bool:
        return self._event.is_set()

    def attach(self, proc: subprocess.Popen[str] | None) -> None:
        with self._lock:
            self._proc = proc
            if proc is not None and self._event.is_set():
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()


class FetchCancelled(Exception):
    """The fetch was stopped through its ``FetchCancel``."""


@contextlib.contextmanager
def _file_lock(
    path: Path, cancel: FetchCancel | None, waiting: Callable[[], None]
) -> Iterator[None]:
    """An exclusive lock across processes; polled when cancellable, so a wait can end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        if cancel is None:
            fcntl.flock(f, fcntl.LOCK_EX)
        else:
            told = False
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not told:
                        waiting()
                        told = True
                    if cancel.is_set():
                        raise FetchCancelled from None
                    time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_jars(version: str = KAFKA_VERSION, root: Path | None = None) -> Path | None:
    """The ``libs`` folder of a completed fetch of ``version``, else None."""
    home = (root or cache_root()) / f"kafka-{version}"
    libs = home / "libs"
    if (home / "COMPLETE").is_file() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    return None


def find_maven(hint: str = DEMO_HINT, libs: Path | None = None) -> str:
    """``mvn`` from PATH, else a one-line ``KafkaSetupError``."""
    found = shutil.which("mvn")
    if found is None:
        where = f" into {libs}" if libs is not None else ""
        raise KafkaSetupError(
            "Maven (`mvn`) is needed once to fetch the Kafka jars from Maven Central"
            f"{where}; install Maven, {hint}"
        )
    return found


_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+ \((\d+(?:\.\d+)?) (B|kB|MB|GB) at")
_UNITS = {"B": 1, "kB": 1_000, "MB": 1_000_000, "GB": 1_000_000_000}


def ensure_kafka_jars(
    version: str = KAFKA_VERSION,
    *,
    root: Path | None = None,
    progress: Progress | None = None,
    hint: str = DEMO_HINT,
    cancel: FetchCancel | None = None,
) -> Path:
    """Fetch Kafka ``version`` from Maven Central into ``<root>/kafka-<version>/libs`` unless
    a previous fetch completed; return that folder.

    Safe across processes (a file lock serialises fetches; the jars land in a staging
    folder renamed into place). ``progress`` gets the files and bytes Maven downloaded so
    far. Raises ``KafkaSetupError`` without Maven, ``RuntimeFailure`` if Maven fails.
    """
    root = root or cache_root()
    found = cached_jars(version, root)
    if found is not None:
        return found
    home = root / f"kafka-{version}"
    libs = home / "libs"
    what = f"Apache Kafka {version} from Maven Central"

    def waiting() -> None:
        if progress is not None:
            progress(f"waiting for another process fetching {what} into {libs}", False)

    mvn = find_maven(hint, libs)
    with _file_lock(home / ".lock", cancel, waiting):
        found = cached_jars(version, root)
        if found is not None:
            return found
        (home / "pom.xml").write_text(pom(version), encoding="utf-8")
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        _run_maven(mvn, home / "pom.xml", staging, what, progress, cancel)
        if not any(staging.glob("kafka_2.13-*.jar")):
            raise RuntimeFailure(f"fetching {what}: Maven finished without the Kafka jars")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (home / "COMPLETE").write_text(f"kafka {version}\n", encoding="utf-8")
    if progress is not None:
        jars = sum(1 for _ in libs.glob("*.jar"))
        progress(f"fetched {what}: {jars} jars in {libs}", True)
    return libs


def _run_maven(
    mvn: str,
    pom_path: Path,
    staging: Path,
    what: str,
    progress: Progress | None,
    cancel: FetchCancel | None,
) -> None:
    """``copy-dependencies`` into ``staging``, reporting Maven's "Downloaded" lines."""
    cmd = [
        mvn,
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom_path),
        "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    if progress is not None:
        progress(f"fetching {what} (once, about 55 MB)", False)
    tail: deque[str] = deque(maxlen=40)
    files = size = 0
    last = 0.0
    deadline = time.monotonic() + FETCH_TIMEOUT
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # the terminal's Ctrl+C goes to evmon, which stops Maven
    )
    if cancel is not None:
        cancel.attach(proc)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            m = _DOWNLOADED.search(line)
            if m is not None:
                files += 1
                size += int(float(m[1]) * _UNITS[m[2]])
                now = time.monotonic()
                if progress is not None and now - last >= 0.1:
                    last = now
                    progress(f"fetching {what}: {files} files, {size / 1e6:.1f} MB", False)
            if time.monotonic() > deadline:
                proc.kill()
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if cancel is not None:
            cancel.attach(None)
    if cancel is not None and cancel.is_set():
        shutil.rmtree(staging, ignore_errors=True)
        raise FetchCancelled
    if code != 0:
        errors = [t for t in tail if t.startswith("[ERROR]")] or list(tail)
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeFailure(
            f"fetching {what} with Maven failed (exit {code}):\n" + "\n".join(errors[-20:])
        )


_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@functools.lru_cache(maxsize=8)
def java_major(java: str) -> int | None:
    """The major version ``java -version`` reports (``1.8`` is 8), None if it cannot say."""
    try:
        proc = subprocess.run(
            [java, "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = _JAVA_VERSION.search(proc.stderr + proc.stdout)
    if m is None:
        return None
    major = int(m[1])
    return int(m[2] or 0) if major == 1 else major


def find_java(hint: str = DEMO_HINT) -> str:
    """``$JAVA_HOME/bin/java``, else ``java`` from PATH, checked to be Java 17 or newer."""
    java: str | None = None
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        java = str(Path(java_home) / "bin" / "java")
    java = java or shutil.which("java")
    if java is None:
        raise KafkaSetupError(
            f"Java {MIN_JAVA}+ is needed to run Kafka, and `java` is neither on PATH nor in "
            f"JAVA_HOME; install a JDK or JRE {MIN_JAVA}+, {hint}"
        )
    major = java_major(java)
    if major is None:
        raise KafkaSetupError(f"{java} -version does not run or says no version; {hint}")
    if major < MIN_JAVA:
        raise KafkaSetupError(
            f"Java {MIN_JAVA}+ is needed to run Kafka, and {java} is Java {major}; install "
            f"a JDK or JRE {MIN_JAVA}+ (or point JAVA_HOME at one), {hint}"
        )
    return java
