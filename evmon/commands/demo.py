"""``evmon demo``: the demo system, with the dashboard or (``--serve``) headless.

This module owns the process-level concerns that ``demo_system`` leaves to its caller:
SIGINT, SIGTERM and SIGHUP end the demo like a normal exit (so the ``finally`` that stops
the server runs), a second signal during a hung shutdown kills the server at once, and a
server that dies under us ends the command with exit 1. ``--kafka local`` adds a Kafka
broker of the demo's own (its first run fetches the jars, with a progress line on stderr);
on a user's Kafka, the demo's topics and groups are deleted on exit unless ``--keep``, and
one line on stderr says which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import os
import shlex
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TextIO

from evmon.errors import RuntimeFailure, UsageError

if TYPE_CHECKING:
    from evmon.demo import DemoSystem

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Dashboard = Callable[..., Coroutine[Any, Any, object]]


def find_dashboard() -> Dashboard | None:
    """The dashboard's ``run_dashboard`` coroutine function, if this build has one.

    Imported lazily so ``--serve`` never loads Textual; anything short of a coroutine
    function named ``run_dashboard`` in ``evmon.tui.dashboard`` counts as "not available".
    """
    try:
        app = importlib.import_module("evmon.tui.dashboard")
    except ImportError:
        return None
    run = getattr(app, "run_dashboard", None)
    return run if inspect.iscoroutinefunction(run) else None


def banner(demo: DemoSystem) -> str:
    """What ``--serve`` prints: where things are and commands to paste (URL first, so
    scripts can read it from the first line)."""
    url = demo.nats_url
    q = shlex.quote
    streams = " ".join(f"--stream {s}" for s in demo.streams)
    poison = demo.poison
    lines = [
        f"evmon demo: NATS at {url}",
        f"  nats-server pid {demo.server_pid}, JetStream data in {demo.workdir}",
        f"  monitoring (subscriptions, connections) at {demo.nats_monitor}",
    ]
    local = demo.local_kafka
    if local is not None:
        lines += [
            f"evmon demo: Kafka at {local.bootstrap}",
            f"  Apache Kafka {local.version} (KRaft, the demo's own) pid {local.pid}, "
            f"data in {local.workdir}",
        ]
    lines.append(f"  seed {demo.seed}; streams {', '.join(demo.streams)}")
    for c in demo.consumers:
        lines.append(f"  consumer {c.stream}/{c.name}: {c.behaviour} ({c.description})")
    if poison is not None:
        lines.append(
            f"  poison message: {poison.stream} seq {poison.seq} ({poison.subject}, "
            f"Nats-Msg-Id {poison.msg_id}), stuck in {poison.consumer}"
        )
    if demo.kafka is not None:
        lines.append(
            f"  Kafka at {demo.kafka.bootstrap}: topics {', '.join(demo.kafka_topics)}; "
            f"groups {', '.join(demo.kafka_groups)}"
        )
    lines += trap_lines(demo)
    lines += [
        "",
        "Paste in another terminal:",
        f"  evmon connect --nats {url} {streams} --from first",
        f"  evmon connect --nats {url} -s {q('orders.>')} -s {q('payments.>')}",
        f"  evmon tail --nats {url} -s {q('payments.card.failed')}",
        f"  evmon lag --nats {url} --watch 2",
        f"  evmon interest --nats {url} --nats-monitor {demo.nats_monitor}",
        f"  evmon tail --nats {url} --stream PAYMENTS --from first --filter dup",
        f"  evmon tail --nats {url} --stream ORDERS --from first --filter drift",
        f"  evmon tail --nats {url} --stream DLQ --from first -n 3 --format jsonl > dlq.jsonl",
        f"  evmon replay dlq.jsonl --nats {url} --to payments.card.failed",
        f"  evmon skip --nats {url} --stream USERS --consumer users-mailer",
    ]
    if demo.kafka is not None:
        k = demo.kafka.bootstrap
        orders, payments = demo.kafka_topics
        fraud = demo.kafka_groups[2]
        lines += [
            f"  evmon connect --nats {url} --kafka {k} -t {orders} -t {payments}",
            f"  evmon lag --kafka {k} --watch 2",
            f"  evmon skip --kafka {k} --group {fraud} --topic {payments} --partition 0",
        ]
    if local is not None:
        lines += ["", "Ctrl+C stops the demo and removes its servers and data."]
    elif demo.kafka is not None:
        keep = "keeps" if demo.kafka_demo is not None and demo.kafka_demo.keep else "deletes"
        lines += [
            "",
            "Ctrl+C stops the demo and removes its server and data; it "
            f"{keep} the Kafka topics and groups it created.",
        ]
    else:
        lines += ["", "Ctrl+C stops the demo and removes its server and data."]
    return "\n".join(lines)


def trap_lines(demo: DemoSystem) -> list[str]:
    """The traps of event subscription the demo sets (``evmon.demo.traps``), one line each."""
    from evmon.demo.traps import (
        ANNOUNCE_SUBJECT,
        DRIFT_FROM,
        DRIFT_TO,
        DUPLICATE_WINDOW,
        NOTIFIER_SUBJECT,
        STOCK_SUBJECT,
    )

    lines = [
        "  traps (README: The traps of event subscription):",
        f"    nobody listens: {STOCK_SUBJECT} is published, nobody subscribes (evmon interest, i)",
        f"    wrong case: the notifier subscribed to {NOTIFIER_SUBJECT}, checkout publishes "
        f"{ANNOUNCE_SUBJECT} (near-miss)",
        "    duplicate: the payments gateway re-publishes with the same Nats-Msg-Id later than "
        f"PAYMENTS's {DUPLICATE_WINDOW:g} s duplicate_window: stored twice (--filter dup)",
        f"    drift: warehouse-v2 renamed {DRIFT_FROM} to {DRIFT_TO} in some orders.*.shipped "
        "(--filter drift)",
    ]
    if demo.kafka_demo is not None:
        lines.append(
            f"    never committed: Kafka group {demo.kafka_demo.order_audit} reads from the "
            "newest record and never commits (NOCOMMIT in evmon lag)"
        )
    return lines


def dashboard_kwargs(demo: DemoSystem) -> dict[str, Any]:
    """What ``run_dashboard`` is given (the demo's Pilot test builds its app from the same).

    The streams are read from the first message (ordered consumers), so events carry their
    stream and sequence and the DLQ's stored failures are there to replay; Kafka, when
    present, is read from the demo's own topics only; the server's monitoring endpoint is
    the interest screen's subscription table.
    """
    return {
        "nats_urls": [demo.nats_url],
        "kafka": demo.kafka.bootstrap if demo.kafka is not None else None,
        "subjects": list(demo.subjects),
        "streams": list(demo.streams),
        "topics": list(demo.kafka_topics),
        "start": "first",
        "first_run_hint": True,
        "nats_monitor": demo.nats_monitor,  # the interest screen (i) works out of the box
    }


class ProgressLine:
    """The first fetch of the Kafka jars on stderr: one line redrawn in place on a terminal;
    on anything else only the first and the last text (a log gets no hundred lines)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = False

    def __call__(self, text: str, done: bool) -> None:
        line = f"evmon: {text}"
        with contextlib.suppress(OSError, ValueError):
            if self.tty:
                self.stream.write(f"\r\x1b[K{line}{chr(10) if done else ''}")
            elif done or not self.started:
                self.stream.write(line + "\n")
            self.stream.flush()
        self.started = True


def note(text: str) -> None:
    """One line on stderr once the demo is gone (what became of the user's topics)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"evmon demo: {text}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> int:
    from evmon.demo import demo_system
    from evmon.demo.server import stop_all_now
    from evmon.demo.system import LOCAL

    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: not a TCP port (1-65535)")
    keep = bool(getattr(args, "keep", False))
    if keep and args.kafka is None:
        raise UsageError("--keep keeps the demo's topics and groups on --kafka HOST:PORT")
    if keep and args.kafka == LOCAL:
        raise UsageError(
            "--keep: the demo's own Kafka (--kafka local) goes away with its data; "
            "--keep is for a Kafka you run (--kafka HOST:PORT)"
        )
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    stop = asyncio.Event()
    starting = True

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():  # a second signal: the graceful stop hangs; end it now
            stop_all_now()
            os._exit(128 + sig)
        stop.set()
        if starting and main is not None:
            main.cancel()  # startup waits on brokers; do not make Ctrl+C wait for them

    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with demo_system(
            args.seed,
            args.kafka,
            port=args.port,
            keep=keep,
            progress=ProgressLine(sys.stderr),
            on_note=note,
        ) as demo:
            starting = False
            dashboard = None if args.serve else find_dashboard()
            if dashboard is None:
                if not args.serve:
                    print(
                        "evmon: the dashboard is not available in this build yet; "
                        "running the demo headless (as with --serve)",
                        file=sys.stderr,
                    )
                with contextlib.suppress(BrokenPipeError):  # `evmon demo --serve | head -1`
                    print(banner(demo), flush=True)
                work: Coroutine[Any, Any, object] = stop.wait()
            else:
                work = dashboard(**dashboard_kwargs(demo))
            await _until_stopped(work, stop, demo.wait_server_exit())
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
    return 0


async def _until_stopped(
    work: Coroutine[Any, Any, object],
    stop: asyncio.Event,
    server_exit: Coroutine[Any, Any, str],
) -> None:
    """Run ``work`` (the dashboard, or waiting) until it ends, a signal arrives, or the
    server dies. The dashboard's own exception propagates (and the demo is cleaned up)."""
    work_task = asyncio.ensure_future(work)
    stop_task = asyncio.ensure_future(stop.wait())
    exit_task = asyncio.ensure_future(server_exit)
    tasks = {work_task, stop_task, exit_task}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in (stop_task, exit_task):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if work_task.done() and not work_task.cancelled():
        work_task.result()  # re-raise a dashboard crash
    elif exit_task.done() and not exit_task.cancelled() and not stop.is_set():
        raise RuntimeFailure(f"the demo's {exit_task.result()}")
    with contextlib.suppress(asyncio.CancelledError):
        await work_task
