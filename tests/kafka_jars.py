"""The Kafka jars from Maven Central and Kafka's own command-line tools, for the tests.

Split out of `tests.brokers` (which re-exports every name here). Fetching the jars and
finding Java is evmon's own code (``evmon.demo.kafka_jars``, which ``evmon demo --kafka
local`` uses too); here it gets the tests' cache, ``~/.cache/evmon-test/kafka-<version>/libs``
(``EVMON_TEST_CACHE``), and the tests' hint. ``run_kafka_tool`` runs one of the jars' main
classes, and ``describe_group`` is ConsumerGroupCommand --describe, the tests' second
opinion on lag.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from evmon.demo import kafka_jars as _jars
from evmon.errors import EvmonError

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

KAFKA_VERSION: str = _jars.KAFKA_VERSION
_HINT = "or set EVMON_TEST_KAFKA=HOST:PORT to use an existing broker"


class BrokerStartError(RuntimeError):
    """A broker (or its prerequisites: binary, Java, jars) could not be started."""


def kafka_cache_root() -> Path:
    root = os.environ.get("EVMON_TEST_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "evmon-test"


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Fetch Kafka `version` (broker, tools, a log4j backend) from Maven Central into
    ``<cache>/kafka-<version>/libs`` unless a previous fetch completed; return that folder.

    Safe to call from several processes at once (a file lock serialises the fetch).
    """
    try:
        return _jars.ensure_kafka_jars(version, root=kafka_cache_root(), hint=_HINT)
    except EvmonError as err:
        raise BrokerStartError(str(err)) from None


def find_java() -> str:
    """Java 17+ (``JAVA_HOME``, else PATH)."""
    try:
        return _jars.find_java(_HINT)
    except EvmonError as err:
        raise BrokerStartError(str(err)) from None


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

_JVM_FLAGS = _jars.JVM_FLAGS
_JVM_TOOL = _jars.JVM_TOOL


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
