"""``evmon replay --partitioner murmur2|fnv1a|keep`` and ``--keep-timestamp``.

The fnv1a check is against sarama itself: ``tests/go/sarama_produce`` (built here with
``go build``, sarama from the Go module proxy) produces keys with sarama's default
partitioner into a real Kafka; evmon tails them, replays them with ``--partitioner fnv1a``
into a second topic of the same size, and every key must land where sarama put it. The
known-answer tests pin the hashes without a broker (FNV-1a's published vectors, Kafka's own
murmur2 test values from ``UtilsTest``). No Go toolchain is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from evmon.sources.kafka.partitioners import fnv1a_32, partition_for
from tests.helpers import run_evmon
from tests.kafka_kit import create_topic

GO_PROGRAM = Path(__file__).parent / "go" / "sarama_produce"
KEYS = [f"customer-{i}" for i in range(40)] + ["a", "foobar", "", "ünï", "order:42"]


def test_fnv1a_and_murmur2_known_answers() -> None:
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968
    # sarama: int32(h) % n keeps the dividend's sign, then the sign is dropped
    # 0xE40C292C as int32 is -469948116; 469948116 % 6 == 0 (the Java-style & 0x7fffffff
    # would give 1678518572 % 6 == 2)
    assert partition_for("fnv1a", b"a", 6) == 0
    assert (0xE40C292C & 0x7FFFFFFF) % 6 == 2
    assert partition_for("fnv1a", b"", 7) == abs(0x811C9DC5 - 2**32) % 7
    # Kafka's UtilsTest.testMurmur2: murmur2("21") == -973932308 etc.; toPositive, % n
    for key, value in ((b"21", -973932308), (b"foobar", -790332482), (b"", 275646681)):
        assert partition_for("murmur2", key, 10) == (value & 0x7FFFFFFF) % 10
    assert partition_for("fnv1a", None, 3) is None  # no key: the producer picks one


def _sarama_binary(tmp_path: Path) -> Path:
    go = shutil.which("go")
    assert go is not None, "the Go toolchain is needed (go on PATH): .ci/run checks it"
    out = tmp_path / "sarama_produce"
    res = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=GO_PROGRAM,
        capture_output=True,
        timeout=540,
        check=False,
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    return out


def _sarama_produce(binary: Path, bootstrap: str, topic: str) -> dict[str, int]:
    """Each of KEYS produced by sarama's default partitioner: key -> partition."""
    res = subprocess.run(
        [str(binary), "-bootstrap", bootstrap, "-topic", topic, *KEYS],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode()
    out = {}
    for line in res.stdout.decode().splitlines():
        key, partition, _offset = line.split("\t")
        out[key] = int(partition)
    return out


def _records(bootstrap: str, topic: str) -> list[dict[str, object]]:
    res = run_evmon(
        [
            "tail",
            "--kafka",
            bootstrap,
            "-t",
            topic,
            "--from",
            "first",
            "--until",
            "end",
            "--format",
            "jsonl",
        ],
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 0, res.stderr.decode()
    return [orjson.loads(line) for line in res.stdout.splitlines()]


def _replay(path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return run_evmon(["replay", str(path), *args, "--yes"], timeout=60, stdin=subprocess.DEVNULL)


async def test_fnv1a_replay_lands_where_sarama_put_each_key(
    kafka_bootstrap: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    binary = _sarama_binary(tmp_path)
    src, copy, other, small = (f"{unique}-{n}" for n in ("go", "copy", "java", "small"))
    for topic, n in ((src, 6), (copy, 6), (other, 6), (small, 3)):
        await create_topic(kafka_bootstrap, topic, n)
    sarama = _sarama_produce(binary, kafka_bootstrap, src)
    assert set(sarama) == set(KEYS) and len(set(sarama.values())) > 1

    records = _records(kafka_bootstrap, src)
    assert {r["key"]: r["partition"] for r in records} == sarama  # the tail agrees
    dump = tmp_path / "go.jsonl"
    dump.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))

    done = _replay(
        dump, "--kafka", kafka_bootstrap, "--to", copy, "--partitioner", "fnv1a", "--keep-timestamp"
    )
    assert done.returncode == 0, done.stderr.decode()
    copied = _records(kafka_bootstrap, copy)
    assert {r["key"]: r["partition"] for r in copied} == sarama
    stamps = {r["key"]: r["timestamp"] for r in records}
    assert {r["key"]: r["timestamp"] for r in copied} == stamps  # --keep-timestamp
    audit = (tmp_path / "state" / "evmon" / "audit.jsonl").read_bytes().splitlines()
    assert orjson.loads(audit[-1])["kafka"] == ["fnv1a", "keep_timestamp"]

    done = _replay(dump, "--kafka", kafka_bootstrap, "--to", other)  # default: murmur2
    assert done.returncode == 0, done.stderr.decode()
    java = {r["key"]: r["partition"] for r in _records(kafka_bootstrap, other)}
    assert java == {k: partition_for("murmur2", k.encode(), 6) for k in KEYS}
    assert java != sarama  # the two hashes disagree: the test tells them apart
    later = [r for r in _records(kafka_bootstrap, other) if r["timestamp"] in stamps.values()]
    assert later == []  # without --keep-timestamp the records are stamped now

    refused = _replay(dump, "--kafka", kafka_bootstrap, "--to", small, "--partitioner", "keep")
    lines = refused.stderr.decode().strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, lines
    assert "--partitioner keep:" in lines[0] and "the target has partitions 0-2" in lines[0]
    assert _records(kafka_bootstrap, small) == []  # nothing was sent

    dry = run_evmon(
        ["replay", str(dump), "--to", small, "--partitioner", "fnv1a", "--dry-run"], timeout=30
    )
    assert dry.returncode == 0 and b"(by fnv1a of the key)" in dry.stdout
