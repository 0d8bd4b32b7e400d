"""Profile one contender under the NATS flood with pyinstrument (a dev dependency).

    python -m bench.profile tail [--size 128] [--count 300000] [--filter EXPR] [--spy]
    python -m bench.profile store|dashboard|raw [--kafka]

Writes a text profile to bench/results/profile-<what>-<size>.txt and prints its top. This
is how the hot path was found (see bench/README.md); it is not part of ``python -m bench``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from bench.context import FULL, Context
from bench.harness import (
    PY,
    ROOT,
    PipeCounter,
    Proc,
    nats_subscriptions,
    publish,
    read_report,
    wait_lines,
    wait_subscribed,
)
from bench.ingest import DASHBOARD, STORE, TAIL, fill_topic, kafka_contenders, nats_contenders

WHAT = {"raw": "raw ", "tail": TAIL, "store": STORE, "dashboard": DASHBOARD}


def summarize(raw: Path, top: int = 40) -> str:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    lines = [f"{total} samples", "", "self %  function"]
    lines += [f"{100 * n / total:5.1f}  {f}" for f, n in own.most_common(top)]
    lines += ["", "incl % function"]
    lines += [f"{100 * n / total:5.1f}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("what", choices=list(WHAT))
    p.add_argument("--kafka", action="store_true", help="read a pre-filled topic instead")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--count", type=int, default=300_000)
    p.add_argument("--filter", default="")
    p.add_argument("--interval", default="0.0005", help="pyinstrument sampling interval (s)")
    p.add_argument("--spy", action="store_true", help="sample with py-spy instead (lower cost)")
    a = p.parse_args(argv)
    where = "kafka" if a.kafka else "nats"
    out = ROOT / "bench" / "results" / f"profile-{a.what}-{where}-{a.size}.txt"
    if a.spy:
        out = out.with_suffix(".spy.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = Context(FULL, quick=False, install_peers=False)
    try:
        if a.kafka:
            broker = ctx.kafka()
            if broker is None:
                return 1
            fill_topic(ctx, broker.bootstrap, a.count, a.size)
            contenders = kafka_contenders(ctx, broker.bootstrap)
        else:
            contenders = nats_contenders(ctx, a.filter)
        c = next(c for c in contenders if c.name.startswith(WHAT[a.what]))
        argv_ = c.argv(a.count)
        assert argv_[0] == PY
        if not a.spy:
            argv_ = [
                PY,
                "-m",
                "pyinstrument",
                "-i",
                a.interval,
                "-r",
                "text",
                "-o",
                str(out),
                *argv_[1:],
            ]
        before = 0 if a.kafka else nats_subscriptions(ctx.nats().monitor_url)
        with Proc(argv_) as proc:
            raw = out.with_suffix(".raw")
            spy = (
                Proc(
                    [
                        str(Path(PY).with_name("py-spy")),
                        "record",
                        "-r",
                        "500",
                        "-f",
                        "raw",
                        "-o",
                        str(raw),
                        "-p",
                        str(proc.popen.pid),
                    ]
                )
                if a.spy
                else None
            )
            counter = PipeCounter(proc.stdout_fd) if c.mode == "lines" else None
            if counter is not None:
                counter.start()
            if not a.kafka:
                wait_subscribed(ctx.nats().monitor_url, before, proc)
                publish(ctx.nats().url, a.count, a.size)
            if counter is not None:
                wait_lines(proc, counter, a.count, 10, 600)
            else:
                read_report(proc, 600)
            if spy is not None:
                spy.popen.wait(30)
                out.write_text(summarize(raw), encoding="utf-8")
    finally:
        ctx.close()
    text = out.read_text(encoding="utf-8") if out.exists() else "(no profile written)"
    print("\n".join(text.splitlines()[:80]))
    print(f"\nfull profile: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
