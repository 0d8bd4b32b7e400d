"""Benchmark 9, the lag part (issue 14): 200 Kafka groups x 50 partitions and 1,000 durable
JetStream consumers, refreshed by ``LagPoller`` in this process, ``evmon lag`` as a command
and the lag screen (bench/consumers/lagscreen.py). bench/scale.py's docstring says what is
measured; this module holds the fixtures and the measuring.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import time
from collections import Counter
from typing import Any

from bench import fixtures
from bench.context import Context
from bench.harness import (
    PY,
    Proc,
    python_env,
    read_report,
)
from bench.stall import LoopStall
from bench.startup import evmon_command

LAG_TOPIC = "bench.lag"


async def _kafka_groups(bootstrap: str, groups: int, partitions: int) -> None:
    """``groups`` groups committed at offset 1 on every partition of the lag topic (which
    holds 3 records a partition): OffsetCommit with generation -1, as a tool does."""
    from aiokafka import AIOKafkaClient, AIOKafkaProducer
    from aiokafka.protocol.commit import OffsetCommitRequest
    from aiokafka.protocol.coordination import FindCoordinatorRequest

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        sent = [
            await producer.send(LAG_TOPIC, b'{"n":1}', partition=p)
            for p in range(partitions)
            for _ in range(3)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        node = client.get_random_node()

        async def commit(i: int) -> None:
            group = f"bench-group-{i:03d}"
            for _ in range(100):  # the offsets topic may still be being created
                found = await client.send(node, FindCoordinatorRequest(group, 0))
                if found.error_code == 0:
                    break
                await asyncio.sleep(0.2)
            parts = [(p, 1, "") for p in range(partitions)]
            req = OffsetCommitRequest(group, -1, "", -1, [(LAG_TOPIC, parts)])
            for _ in range(100):  # the coordinator may still be loading the group
                resp = await client.send(found.coordinator_id, req)
                if not any(code for _t, ps in resp.topics for _p, code in ps):
                    return
                await asyncio.sleep(0.2)
            raise RuntimeError(f"committing {group} failed")

        for lo in range(0, groups, 50):
            await asyncio.gather(*(commit(i) for i in range(lo, min(lo + 50, groups))))
    finally:
        await client.close()


async def _jetstream_consumers(url: str, stream: str, consumers: int) -> None:
    import nats
    from nats.js.api import ConsumerConfig

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for lo in range(0, consumers, 100):
            await asyncio.gather(
                *(
                    js.add_consumer(stream, ConsumerConfig(durable_name=f"worker-{i:04d}"))
                    for i in range(lo, min(lo + 100, consumers))
                )
            )
    finally:
        await nc.close()


async def _refresh_rounds(
    bootstrap: str, nats_url: str, rounds: int, batched: bool = True
) -> dict[str, Any]:
    from evmon.config import KafkaSettings, NatsSettings
    from evmon.lag.poller import LagPoller

    poller = LagPoller(window=3)
    poller.watch_kafka(KafkaSettings(bootstrap=bootstrap))
    poller.watch_jetstream(NatsSettings(urls=(nats_url,)), streams=(fixtures_lag_stream,))
    await poller.kafka.start()
    await poller.jetstream.start()
    kafka_client: Any = poller.kafka._client
    js_client: Any = poller.jetstream._client
    kafka_client._batch_offset_fetch = batched  # False: one OffsetFetch per group (before)
    kafka_api: Counter[str] = Counter()
    nats_subjects: Counter[str] = Counter()
    send, request = kafka_client.cluster.send, js_client.nc.request

    async def counted_send(node: Any, req: Any, *a: Any, **kw: Any) -> Any:
        kafka_api[type(req).__name__] += 1
        return await send(node, req, *a, **kw)

    async def counted_request(subject: str, *a: Any, **kw: Any) -> Any:
        nats_subjects[".".join(subject.split(".")[:4])] += 1
        return await request(subject, *a, **kw)

    kafka_client.cluster.send = counted_send
    js_client.nc.request = counted_request
    walls, stalls, per_round = [], [], []
    # The bench's own heap (the groups and consumers it made, both clients' modules, earlier
    # benchmarks' results) is not what a process running the poller holds: it goes to the
    # permanent generation, as the dashboard's HeapKeeper does with its own every second.
    gc.collect()
    gc.freeze()
    try:
        async with LoopStall() as stall:
            for _ in range(rounds + 1):
                kafka_api.clear()
                nats_subjects.clear()
                stall.take()
                t0 = time.perf_counter()
                errors = await poller.poll(first=True)
                walls.append(time.perf_counter() - t0)
                stalls.append(stall.take())
                per_round.append({"kafka": dict(kafka_api), "nats": dict(nats_subjects)})
                if errors:
                    raise RuntimeError("; ".join(errors))
        rows = {"kafka": len(poller.kafka.rows), "jetstream": len(poller.jetstream.rows)}
    finally:
        gc.unfreeze()
        await poller.close()
    return {
        "first_s": round(walls[0], 3),
        "refresh_s": round(statistics.median(walls[1:]), 3),
        "refresh_runs_s": [round(w, 3) for w in walls[1:]],
        "stall_s": round(max(stalls[1:]), 3),
        "requests": per_round[-1],
        "rows": rows,
    }


fixtures_lag_stream = "LAGSCALE"


def bench_lag(ctx: Context, sizes: dict[str, int]) -> dict[str, Any] | None:
    bootstrap = fixtures.kafka_topic(ctx, LAG_TOPIC, 0, partitions=sizes["partitions"])
    if bootstrap is None:
        return None
    nats_url = fixtures.jetstream_stream(ctx, fixtures_lag_stream, 1_000, 128)
    t0 = time.monotonic()
    asyncio.run(_kafka_groups(bootstrap, sizes["groups"], sizes["partitions"]))
    asyncio.run(_jetstream_consumers(nats_url, fixtures_lag_stream, sizes["consumers"]))
    made = time.monotonic() - t0
    print(
        f"  lag: {sizes['groups']} groups x {sizes['partitions']} partitions, "
        f"{sizes['consumers']} JetStream consumers (made in {made:.0f} s)",
        flush=True,
    )
    out = asyncio.run(_refresh_rounds(bootstrap, nats_url, sizes["rounds"]))
    single = asyncio.run(_refresh_rounds(bootstrap, nats_url, sizes["rounds"], batched=False))
    out["one_per_group"] = {k: single[k] for k in ("refresh_s", "stall_s", "requests")}
    cmd = [*evmon_command(), "lag", "--kafka", bootstrap, "--nats", nats_url]
    cmd += ["--stream", fixtures_lag_stream, "--format", "json"]
    walls = []
    for _ in range(sizes["rounds"]):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=python_env(), timeout=120)
        walls.append(time.perf_counter() - t)
        if proc.returncode not in (0, 3):
            out["command_error"] = proc.stderr.decode("utf-8", "replace")[-300:]
            break
    out["command_s"] = round(statistics.median(walls), 3)
    argv = [PY, "-m", "bench.consumers.lagscreen", "--nats", nats_url, "--kafka", bootstrap]
    argv += [
        "--topic",
        LAG_TOPIC,
        "--stream",
        fixtures_lag_stream,
        "--rounds",
        str(sizes["rounds"]),
    ]
    with Proc(argv) as screen_proc:
        try:
            out["screen"] = read_report(screen_proc, 300)
        except RuntimeError as err:
            out["screen"] = {"error": str(err)}
    out.update(sizes)
    print(
        f"    refresh {out['refresh_s']} s (first {out['first_s']} s), loop stall "
        f"{out['stall_s']} s, evmon lag {out['command_s']} s, requests {out['requests']}",
        flush=True,
    )
    return out


# ---------------------------------------------------------------------- topic pattern
