"""Never-committed groups and group members against a real Kafka, checked against Kafka's own
ConsumerGroupCommand (``--describe``, and ``--describe --members --verbose``).

The services are written as services write them: aiokafka groups on ``earliest`` and on
``latest`` that consume for real while a producer writes and never commit
(``enable_auto_commit=False``, no ``commit()``), next to one that commits. Every group a test
creates is deleted at its end (other tests assert that the cluster has no stray groups).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.brokers import ExternalKafka, KafkaBroker, run_kafka_tool
from tests.helpers import evmon_cmd
from tests.kafka_kit import create_topic, delete_groups, produce_split
from tests.waiting import async_wait_for

pytestmark = pytest.mark.kafka

Broker = KafkaBroker | ExternalKafka
Rows = list[dict[str, Any]]
SPLIT = {0: 34, 1: 33, 2: 33}  # 100 records before any consumer starts
GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


@pytest.fixture
async def groups(kafka_bootstrap: str) -> AsyncIterator[list[str]]:
    """Names of groups to delete after the test."""
    names: list[str] = []
    yield names
    await delete_groups(kafka_bootstrap, names)


async def evmon_lag(bootstrap: str, *args: str) -> Any:
    """``evmon lag --format json`` in a subprocess, without blocking the loop (the live
    consumers of the test keep heartbeating)."""
    out = await evmon_lag_text(bootstrap, "--format", "json", *args)
    return orjson.loads(out)


async def evmon_lag_text(bootstrap: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *evmon_cmd("lag", "--kafka", bootstrap, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def kafka_tool(broker: Broker, *args: str) -> str:
    proc = run_kafka_tool(GROUP_COMMAND, "--bootstrap-server", broker.bootstrap, *args,
                          version=broker.version)  # fmt: skip
    assert proc.returncode == 0 and "Error:" not in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def kafka_members(broker: Broker, group: str) -> set[tuple[str, str, str, int, str]]:
    """``--describe --members --verbose``: (consumer id, host, client id, #partitions,
    assignment) per member, as Kafka's own tool prints them."""
    text = kafka_tool(broker, "--describe", "--group", group, "--members", "--verbose")
    out: set[tuple[str, str, str, int, str]] = set()
    header: list[str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if fields[:2] == ["GROUP", "CONSUMER-ID"]:
            header = fields
        elif header is not None and fields and fields[0] == group:
            row = dict(zip(header, fields, strict=True))
            assignment = row.get("CURRENT-ASSIGNMENT", row.get("ASSIGNMENT", "-"))
            out.add(
                (row["CONSUMER-ID"], row["HOST"], row["CLIENT-ID"], int(row["#PARTITIONS"]),
                 assignment)
            )  # fmt: skip
    return out


def by_partition(rows: Rows, group: str) -> dict[int, dict[str, Any]]:
    return {r["partition"]: r for r in rows if r["group"] == group}


@dataclass
class Service:
    """A consumer the way a service writes one: subscribe, read in a loop, maybe commit."""

    consumer: AIOKafkaConsumer
    client_id: str
    commits: bool
    read: dict[int, int] = field(default_factory=dict)  # partition -> records read
    upto: dict[int, int] = field(default_factory=dict)  # partition -> last offset read + 1
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                self.read[tp.partition] = self.read.get(tp.partition, 0) + len(records)
                self.upto[tp.partition] = records[-1].offset + 1
            if batches and self.commits:
                await self.consumer.commit()


async def start_service(
    bootstrap: str, topic: str, group: str, client_id: str, reset: str, commits: bool
) -> Service:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset=reset,
    )
    await consumer.start()
    service = Service(consumer, client_id, commits)
    service.task = asyncio.create_task(service.run())
    return service


async def stop_service(service: Service) -> None:
    if service.task is not None:
        service.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await service.task
    await service.consumer.stop()


async def test_never_committed_groups_are_nocommit_not_stall(
    kafka_broker: Broker, kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic = f"{unique}-t"
    early, late, keeps = f"{unique}-earliest", f"{unique}-latest", f"{unique}-commits"
    groups += [early, late, keeps]
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    services = [
        await start_service(kafka_bootstrap, topic, early, "svc-early", "earliest", False),
        await start_service(kafka_bootstrap, topic, late, "svc-late", "latest", False),
        await start_service(kafka_bootstrap, topic, keeps, "svc-keeps", "earliest", True),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    written = dict(SPLIT)

    async def write(n: int) -> None:
        for i in range(n):
            partition = i % 3
            await producer.send_and_wait(topic, b"more", partition=partition)
            written[partition] += 1

    try:
        await async_wait_for(
            lambda: all(len(s.consumer.assignment()) == 3 for s in services),
            timeout=60,
            message="every group got its partitions",
        )
        # --watch over a window of 3 while the producer writes and the services read: the
        # never-committed rows keep members and a position that never moves (STALL's
        # pattern, STOP's once they leave), yet they stay NOCOMMIT in every report
        watch = await asyncio.create_subprocess_exec(
            *evmon_cmd("lag", "--kafka", kafka_bootstrap, "--group", early, "--group", late,
                       "--watch", "1", "--window", "3", "--format", "json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        assert watch.stdout is not None
        reports: list[Rows] = []
        try:
            while len(reports) < 5:
                await write(6)
                line = await asyncio.wait_for(watch.stdout.readline(), 30)
                assert line, "evmon lag --watch ended"
                reports.append(orjson.loads(line))
        finally:
            with contextlib.suppress(ProcessLookupError):
                watch.kill()
            await watch.wait()
        for rows in reports:
            assert {(r["group"], r["status"]) for r in rows} == {
                (early, "NOCOMMIT"),
                (late, "NOCOMMIT"),
            }, rows
            assert all(r["committed"] is None and r["members"] == 1 for r in rows)
        # the services really read: earliest everything, latest only what came after it
        assert sum(services[0].read.values()) > 100 and sum(services[1].read.values()) > 0

        # the producer stops; every service reads up to the end
        await async_wait_for(
            lambda: (
                all(s.upto == written for s in services)
                and sum(services[0].read.values()) == sum(written.values())
            ),
            timeout=60,
            message="every service read up to the end",
        )
        assert sum(services[1].read.values()) < sum(written.values())  # latest skipped 100

        async def settled() -> Rows:
            rows: Rows = await evmon_lag(kafka_bootstrap, "--group", early, "--group", late,
                                         "--group", keeps)  # fmt: skip
            done = by_partition(rows, keeps)
            return rows if all(r["committed"] == written[p] for p, r in done.items()) else []

        rows = await async_wait_for(settled, timeout=30, message="the commits of svc-keeps")
        for group in (early, late):
            mine = by_partition(rows, group)
            assert {p: (r["committed"], r["end"], r["lag"], r["status"]) for p, r in mine.items()} \
                == {p: (None, n, n, "NOCOMMIT") for p, n in written.items()}  # fmt: skip
            # Kafka's own view: the same ends, no current offset, and no lag figure at all
            theirs = await asyncio.to_thread(kafka_broker.describe_group, group)
            assert {
                int(r["PARTITION"]): (r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"])  # type: ignore[arg-type]
                for r in theirs
            } == {p: (None, n, None) for p, n in written.items()}
        done = by_partition(rows, keeps)
        assert {p: (r["committed"], r["end"], r["lag"], r["status"]) for p, r in done.items()} \
            == {p: (n, n, 0, "OK") for p, n in written.items()}  # fmt: skip
        theirs = await asyncio.to_thread(kafka_broker.describe_group, keeps)
        assert {
            int(r["PARTITION"]): (r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"])  # type: ignore[arg-type]
            for r in theirs
        } == {p: (n, n, 0) for p, n in written.items()}

        # the table says it in words
        table = await evmon_lag_text(kafka_bootstrap, "--group", late)
        for p, n in written.items():
            (row_line,) = [ln for ln in table.splitlines() if ln.split()[4:5] == [str(p)]]
            assert row_line.endswith(
                f"NOCOMMIT  no commit: a client starting at newest skips {n}, at oldest reads {n}"
            )

        # --fail-on NOCOMMIT finds them; STALL,STOP does not
        for statuses, code in (("NOCOMMIT", 3), ("STALL,STOP", 0)):
            proc = await asyncio.create_subprocess_exec(
                *evmon_cmd("lag", "--kafka", kafka_bootstrap, "--group", late, "--window",
                           "2", "--watch", "0.5", "--fail-on", statuses),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == code, (statuses, err.decode())
    finally:
        await producer.stop()
        for service in services:
            await stop_service(service)


async def test_members_equal_kafka_consumer_groups_members(
    kafka_broker: Broker, kafka_bootstrap: str, unique: str, groups: list[str]
) -> None:
    topic, group, idle = f"{unique}-t", f"{unique}-g", f"{unique}-idle"
    groups += [group, idle]
    await create_topic(kafka_bootstrap, topic)
    await produce_split(kafka_bootstrap, topic, SPLIT)
    services = [
        await start_service(kafka_bootstrap, topic, group, f"svc-{i}", "latest", False)
        for i in range(2)
    ]
    try:
        await async_wait_for(
            lambda: sorted(len(s.consumer.assignment()) for s in services) == [1, 2],
            timeout=60,
            message="two members sharing three partitions",
        )

        async def stable() -> Any:
            records = await evmon_lag(kafka_bootstrap, "--group", group, "--members")
            (record,) = records
            ok = record["state"] == "Stable" and len(record["members"]) == 2
            return record if ok and all(m["assignment"] for m in record["members"]) else None

        record = await async_wait_for(stable, timeout=60, message="a stable group of two")
        ours = {
            (m["member_id"], m["host"], m["client_id"], len(m["assignment"]),
             f"{topic}:" + ",".join(str(a["partition"]) for a in m["assignment"]))
            for m in record["members"]
        }  # fmt: skip
        theirs = await asyncio.to_thread(kafka_members, kafka_broker, group)
        assert ours == theirs
        assert {m[2] for m in theirs} == {"svc-0", "svc-1"}
        # each member's assignment is what its consumer was given
        given = {s.client_id: s.consumer.assignment() for s in services}
        for m in record["members"]:
            assert {(a["topic"], a["partition"]) for a in m["assignment"]} == {
                (tp.topic, tp.partition) for tp in given[m["client_id"]]
            }

        # the table: one line per member, the same columns as Kafka's
        table = await evmon_lag_text(kafka_bootstrap, "--group", group, "--members")
        lines = table.splitlines()
        assert lines[1].split() == [
            "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT",
        ]  # fmt: skip
        assert {(f[1], f[2], f[3], int(f[4]), f[5]) for f in map(str.split, lines[2:4])} == theirs
    finally:
        for service in services:
            await stop_service(service)

    # a group whose members left: none listed, like Kafka's "has no active members"
    async def emptied() -> Any:
        (record,) = await evmon_lag(kafka_bootstrap, "--group", group, "--members")
        return record if record["members"] == [] else None

    record = await async_wait_for(emptied, timeout=60, message="the members left")
    assert record["state"] == "Empty"
    assert await asyncio.to_thread(kafka_members, kafka_broker, group) == set()
    table = await evmon_lag_text(kafka_bootstrap, "--group", group, "--members")
    assert f"{group}: no active members (Empty)" in table.splitlines()
