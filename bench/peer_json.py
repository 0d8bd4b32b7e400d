"""Benchmark 10 (issue 14): the peers' JSON output modes beside their raw modes and beside
``evmon tail --format jsonl``, in one run: a whole JetStream stream read from the first
message (``nats sub --stream S --all --dump=-`` / ``--raw``) and a Kafka topic from the
first offset (``kcat -C -e -J`` / plain). The JSON modes do work comparable to evmon's
records (subject, headers, position, time and the data, one record per message).

Each contender writes into a pipe that a thread counts (newlines, or NULs for ``--dump=-``)
while it samples the writer's CPU time; CPU µs per message is the figure to compare, as in
the ingest benchmarks. Rounds are interleaved and the median is reported.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from bench import fixtures, peers
from bench.context import Context
from bench.harness import PipeCounter, Proc, cpu_seconds
from bench.startup import evmon_command

STREAM = "PEERJSON"
TOPIC = "bench.peerjson"


class RecordCounter(PipeCounter):
    """``PipeCounter`` for records ending in ``sep`` (``--dump=-`` ends each with a NUL)."""

    def __init__(self, fd: int, pid: int | None, sep: bytes) -> None:
        super().__init__(fd, pid)
        self.sep = sep

    def run(self) -> None:
        read, clock = os.read, time.perf_counter
        sampled = 0.0
        while True:
            try:
                chunk = read(self.fd, 1 << 20)
            except OSError:
                return
            if not chunk:
                return
            n = chunk.count(self.sep)
            if not n:
                continue
            now = clock()
            self.count += n
            if not self.first_count:
                self.first, self.first_count = now, self.count
            if self.pid is not None and (not self.cpu or now - sampled >= 0.02):
                used = cpu_seconds(self.pid)
                if used is not None:
                    self.cpu.append((self.count, used))
                    sampled = now
            self.last = now


def run_once(argv: list[str], expected: int, sep: bytes, deadline: float) -> dict[str, Any]:
    with Proc(argv) as proc:
        counter = RecordCounter(proc.stdout_fd, proc.popen.pid, sep)
        counter.start()
        end = time.monotonic() + deadline
        while time.monotonic() < end and counter.count < expected and proc.running():
            time.sleep(0.05)
        proc.stop()
        counter.join(5)
        error = None if counter.count >= expected else (proc.stderr_tail() or "stopped early")
    seconds = counter.last - counter.first
    n = counter.count - counter.first_count
    return {
        "count": counter.count,
        "rate": round(n / seconds) if seconds > 0 and n > 0 else None,
        "cpu_us": None if counter.cpu_us is None else round(counter.cpu_us, 2),
        "error": error,
    }


def contenders(
    ctx: Context, nats_url: str, js_count: int, bootstrap: str | None, kafka_count: int
) -> dict[str, tuple[list[str], int, bytes]]:
    evmon = evmon_command()
    out: dict[str, tuple[list[str], int, bytes]] = {}
    tail = [*evmon, "tail", "--nats", nats_url, "--stream", STREAM, "--from", "first"]
    out["JetStream: evmon tail --stream jsonl"] = (
        [*tail, "-n", str(js_count), "--format", "jsonl"],
        js_count,
        b"\n",
    )
    nats = ctx.peer("nats")
    if nats:
        for dump, label in ((True, "--dump=- (JSON)"), (False, "--raw")):
            argv = peers.nats_sub_argv(
                nats, nats_url, ">", stream=STREAM, count=js_count, dump=dump
            )
            out[f"JetStream: nats sub {label}"] = (argv, js_count, b"\0" if dump else b"\n")
    if bootstrap is not None:
        ktail = [*evmon, "tail", "--kafka", bootstrap, "-t", TOPIC, "--from", "first"]
        out["Kafka: evmon tail jsonl"] = (
            [*ktail, "-n", str(kafka_count), "--format", "jsonl"],
            kafka_count,
            b"\n",
        )
        kcat = ctx.peer("kcat")
        if kcat:
            for js, label in ((True, "-J (JSON)"), (False, "(payloads)")):
                argv = peers.kcat_argv(kcat, bootstrap, TOPIC, json=js)
                out[f"Kafka: kcat -C -e {label}"] = (argv, kafka_count, b"\n")
    return out


def bench_peer_json(ctx: Context) -> dict[str, Any]:
    js_count = 5_000 if ctx.quick else 200_000
    kafka_count = 10_000 if ctx.quick else 500_000
    nats_url = fixtures.jetstream_stream(ctx, STREAM, js_count, 128)
    bootstrap = fixtures.kafka_topic(ctx, TOPIC, kafka_count, 128)
    argvs = contenders(ctx, nats_url, js_count, bootstrap, kafka_count)
    repeats = ctx.sizes.repeats
    print(f"  peers' JSON modes: {', '.join(argvs)}; {repeats} round(s)", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in argvs}
    for _ in range(repeats):
        for name, (argv, expected, sep) in argvs.items():
            runs[name].append(run_once(argv, expected, sep, ctx.sizes.deadline))
    results: dict[str, Any] = {}
    for name, rs in runs.items():
        good = [r for r in rs if r["error"] is None]
        cpus = [r["cpu_us"] for r in good if r["cpu_us"] is not None]
        rates = [r["rate"] for r in good if r["rate"] is not None]
        results[name] = {
            "cpu_us": round(statistics.median(cpus), 2) if cpus else None,
            "median": statistics.median(rates) if rates else None,
            "errors": sorted({r["error"] for r in rs if r["error"]}),
            "runs": rs,
        }
        e = results[name]
        print(f"    {name}: {e['cpu_us']} µs/msg CPU, {e['median']} msgs/s", flush=True)
    return {"jetstream_count": js_count, "kafka_count": kafka_count, "results": results}


def targets(b: dict[str, Any]) -> list[dict[str, Any]]:
    """No target of its own: the ratios evmon / peer JSON mode, for the table."""
    res = b["results"]
    out = []
    for system, ours, peer in (
        (
            "JetStream",
            "JetStream: evmon tail --stream jsonl",
            "JetStream: nats sub --dump=- (JSON)",
        ),
        ("Kafka", "Kafka: evmon tail jsonl", "Kafka: kcat -C -e -J (JSON)"),
    ):
        a, p = (res.get(ours) or {}).get("cpu_us"), (res.get(peer) or {}).get("cpu_us")
        if a and p:
            out.append(
                {
                    "target": f"{system} JSON lines, CPU/msg: evmon / {peer.split(': ')[1]}",
                    "measured": f"{a / p:.1f}x ({a:.2f} vs {p:.2f} µs)",
                    "limit": "(reported)",
                    "ok": None,
                    "note": "",
                }
            )
    return out


def markdown(b: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## 10. JSON output modes of the peers ({b['jetstream_count']:,} x 128 B JetStream "
        f"stream, {b['kafka_count']:,} x 128 B Kafka records, from first)",
        "",
        "| contender | CPU µs/msg | msgs/s |",
        "|---|---|---|",
    ]
    for name, e in b["results"].items():
        rate = "-" if e["median"] is None else f"{e['median']:,.0f}"
        cpu = "-" if e["cpu_us"] is None else f"{e['cpu_us']:.2f}"
        lines.append(f"| {name} | {cpu} | {rate} |")
    return lines
