"""A JetStream read on a 3-node NATS cluster whose node freezes (SIGSTOP, not killed).

A frozen server keeps its TCP connections open and answers nothing, so only pings reveal
it. The node frozen here is the one evmon is connected to and the leader of the R3 stream
it reads: evmon has to notice, move to another node, and resume the stream after the last
sequence it printed, with nothing lost or repeated.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from evmon.codec import decode_record
from tests.helpers import evmon_cmd
from tests.nats_cluster import NatsCluster
from tests.waiting import async_wait_for

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    cluster = NatsCluster(root=tmp_path_factory.mktemp("nats-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def test_a_frozen_node_under_a_jetstream_read(
    nats_cluster: NatsCluster, unique: str, tmp_path: Path
) -> None:
    stream = f"S-{unique}"
    nc = await nats.connect(servers=nats_cluster.urls, allow_reconnect=True)
    try:
        js = nc.jetstream(timeout=5)
        await js.add_stream(StreamConfig(name=stream, subjects=[f"{unique}.>"], num_replicas=3))
        info = await js.stream_info(stream)
        assert info.cluster is not None and info.cluster.leader
        leader = int(info.cluster.leader.removeprefix("n"))
        assert len(info.cluster.replicas or []) == 2  # R3: the leader and two replicas
        await nc.close()
        # The test's own client stays off the node that will freeze.
        others = [u for i, u in enumerate(nats_cluster.urls, 1) if i != leader]
        nc = await nats.connect(servers=others, ping_interval=2, max_outstanding_pings=2)
        js = nc.jetstream(timeout=5)
        for i in range(20):
            await js.publish(f"{unique}.before", f"m{i}".encode())

        out_path, err_path = tmp_path / "tail.jsonl", tmp_path / "tail.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            tail = await asyncio.create_subprocess_exec(
                *evmon_cmd(
                    "tail", "--nats", nats_cluster.nodes[leader].url, "--stream", stream,
                    "--from", "first", "--format", "jsonl", "-n", "40", "--timeout", "150",
                ),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            await async_wait_for(lambda: _lines(out_path) == 20, timeout=30, message="20 read")
            nats_cluster.freeze(leader)
            try:
                # The other two elect a new stream leader; publish through them until acked.
                for i in range(20, 40):
                    await async_wait_for(
                        # a retry after a lost ack is dropped by the stream as a duplicate
                        lambda i=i: js.publish(
                            f"{unique}.during", f"m{i}".encode(), headers={"Nats-Msg-Id": f"m{i}"}
                        ),
                        timeout=60,
                        interval=0.5,
                        message=f"m{i} acknowledged without node {leader}",
                        ignore=(Exception,),
                    )
                code = await asyncio.wait_for(tail.wait(), 150)
                # Asked while the old leader is still frozen: once thawed, it answers stream
                # requests from its stale state (20 messages) until it learns of the new term.
                after = await js.stream_info(stream)
            finally:
                nats_cluster.thaw(leader)
        finally:
            if tail.returncode is None:
                tail.kill()
                await tail.wait()
        errors = err_path.read_text()
        assert code == 0, errors
        events = [decode_record(line) for line in out_path.read_bytes().splitlines()]
        assert [(e.offset, e.payload) for e in events] == [
            (i + 1, f"m{i}".encode()) for i in range(40)
        ], errors  # every sequence once, in order: nothing lost, nothing twice
        assert after.state.messages == 40  # the retries after lost acks were deduplicated
    finally:
        await nc.close()
