"""The Kafka jars from Maven Central and Kafka's own command-line tools, for the tests.

Split out of `tests.brokers` (which re-exports every name here): ``ensure_kafka_jars``
fetches a version once into ``~/.cache/evmon-test/kafka-<version>/libs`` (see
``shared/KAFKA.md``), ``run_kafka_tool`` runs one of its main classes, and
``describe_group`` is ConsumerGroupCommand --describe, the tests' second opinion on lag.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "KAFKA_VERSION",
    "BrokerStartError",
    "describe_group",
    "ensure_kafka_jars",
    "find_java",
    "kafka_cache_root",
    "parse_group_table",
    "run_kafka_tool",
]

KAFKA_VERSION: str = os.environ.get("EVMON_KAFKA_VERSION", "4.1.1")


class BrokerStartError(RuntimeError):
    """A broker (or its prerequisites: binary, Java, jars) could not be started."""



def kafka_cache_root() -> Path:
    root = os.environ.get("EVMON_TEST_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "evmon-test"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _logging_deps(version: str) -> list[tuple[str, str, str]]:
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


def _pom(version: str) -> str:
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


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Fetch Kafka `version` (broker, tools, a log4j backend) from Maven Central into
    ``<cache>/kafka-<version>/libs`` unless a previous fetch completed; return that folder.

    Safe to call from several processes at once (a file lock serialises the fetch).
    """
    home = kafka_cache_root() / f"kafka-{version}"
    libs = home / "libs"
    marker = home / "COMPLETE"
    if marker.is_file() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    with _file_lock(home / ".lock"):
        if marker.is_file() and any(libs.glob("kafka_2.13-*.jar")):
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerStartError(
                "Maven (`mvn`) is needed once to fetch the Kafka jars from Maven Central "
                f"into {libs}; install Maven, or set EVMON_TEST_KAFKA=HOST:PORT to use an "
                "existing broker"
            )
        pom = home / "pom.xml"
        pom.write_text(_pom(version), encoding="utf-8")
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900
        )
        if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            out = (proc.stdout + proc.stderr).strip().splitlines()[-40:]
            raise BrokerStartError(
                f"fetching Kafka {version} jars with Maven failed (exit {proc.returncode}):\n"
                + "\n".join(out)
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        marker.write_text(f"kafka {version}\n", encoding="utf-8")
    return libs


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise BrokerStartError(
            "Java 17+ (`java`) is needed to run the Kafka test broker; install a JDK/JRE 17+ "
            "or set EVMON_TEST_KAFKA=HOST:PORT to use an existing broker"
        )
    return found



_TOOL_LOG4J2 = """\
status = error
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %m (%c)%n
rootLogger.level = ERROR
rootLogger.appenderRef.stderr.ref = STDERR
"""

_JVM_FLAGS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
_JVM_TOOL = ["-Xms64m", "-Xmx256m", *_JVM_FLAGS]


def _tool_log_config(libs: Path) -> Path:
    path = libs.parent / "tool-log4j2.properties"
    if not path.is_file() or path.read_text(encoding="utf-8") != _TOOL_LOG4J2:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_TOOL_LOG4J2, encoding="utf-8")
        tmp.replace(path)
    return path


def run_kafka_tool(
    main_class: str,
    *args: str,
    version: str = KAFKA_VERSION,
    timeout: float = 120.0,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a Java main class from the Kafka jars (e.g. ``kafka.tools.StorageTool`` or
    ``org.apache.kafka.tools.consumer.group.ConsumerGroupCommand``); text output captured."""
    libs = ensure_kafka_jars(version)
    argv = [
        find_java(),
        *_JVM_TOOL,
        f"-Dlog4j2.configurationFile={_tool_log_config(libs)}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        start_new_session=True,
    )


def _cell(value: str) -> int | str | None:
    if value == "-":
        return None
    try:
        return int(value)
    except ValueError:
        return value


def parse_group_table(text: str) -> list[dict[str, int | str | None]]:
    """Parse the table(s) that ``kafka-consumer-groups.sh --describe`` prints.

    Every line after a header line starting with ``GROUP`` is a row, until a blank line;
    ``-`` becomes None and integers become int. Columns are whitespace separated.
    """
    rows: list[dict[str, int | str | None]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            header = None
            continue
        if fields[0] == "GROUP" and "TOPIC" in fields:
            header = fields
            continue
        if header is None:
            continue
        if len(fields) < len(header):
            fields += ["-"] * (len(header) - len(fields))
        elif len(fields) > len(header):  # a value with spaces lands in the last column
            fields = [*fields[: len(header) - 1], " ".join(fields[len(header) - 1 :])]
        rows.append({k: _cell(v) for k, v in zip(header, fields, strict=True)})
    return rows


def describe_group(
    bootstrap: str, group: str, *, version: str = KAFKA_VERSION
) -> list[dict[str, int | str | None]]:
    """Kafka's own view of a group's offsets and lag (ConsumerGroupCommand --describe).

    Returns one dict per row with the tool's column names (GROUP, TOPIC, PARTITION,
    CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST, CLIENT-ID); an unknown group
    gives []. Raises RuntimeError if the tool fails otherwise.
    """
    proc = run_kafka_tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        bootstrap,
        "--describe",
        "--group",
        group,
        version=version,
    )
    out = proc.stdout + "\n" + proc.stderr
    # The tool reports errors as an "Error: ..." line and may still exit 0.
    if "GroupIdNotFoundException" in out or "does not exist" in out:
        return []
    if proc.returncode != 0 or "Error:" in proc.stdout:
        raise RuntimeError(
            f"ConsumerGroupCommand failed (exit {proc.returncode}):\n{out.strip()[-4000:]}"
        )
    return parse_group_table(proc.stdout)
