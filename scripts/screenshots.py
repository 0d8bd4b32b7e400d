#!/usr/bin/env python3
"""Regenerate the README screenshots in ``screenshots/`` from the demo's data (fixed seed).

    python scripts/screenshots.py            # SVG, plus PNG when cairosvg is installed

No server runs: the demo's own event generator (``evmon.demo.EventFactory``, seed ``SEED``)
is driven with a fixed clock, its events are given the stream sequences JetStream would give
them (failed payments also parked in ``DLQ``, as the demo's retrier does), and the app runs
headless (``run_test``) over a store whose clock stands still, with a scripted connection.
The lag screen is fed scripted samples of the demo's three consumers (healthy, lagging,
stuck on the poison message). So the images only change when the dashboard's look does.

Shots: ``main`` (live stream and subject tree), ``filter`` (``payments.*.failed``),
``detail`` (an order's JSON payload and headers), ``lag`` (OK / WARN / STALL) and
``republish`` (the re-publish modal on a DLQ event, target ``payments.card.failed``) and
``interest`` (the interest screen on ``evmon.interest.sample``: a publisher nobody hears, a
wrong-case subscriber, an uneven queue group, a slow client).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from evmon.config import NatsSettings  # noqa: E402
from evmon.demo import CONSUMERS, STREAMS, EventFactory  # noqa: E402
from evmon.demo.generator import DemoEvent, dlq_copy, rate_at  # noqa: E402
from evmon.interest.sample import sample_report  # noqa: E402
from evmon.lag import JetStreamLagRow  # noqa: E402
from evmon.model import ConnectionStatus, Event  # noqa: E402
from evmon.sources import Sink, StatusCallback  # noqa: E402
from evmon.tui.app import EvmonApp  # noqa: E402
from evmon.tui.connections import SourceSpec  # noqa: E402
from evmon.tui.sample import BASE_TIME, ScriptedSource, sample_store  # noqa: E402
from evmon.tui.screens.interest import InterestScreen  # noqa: E402
from evmon.tui.screens.lag import LagScreen  # noqa: E402
from evmon.tui.screens.republish import RepublishModal  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (140, 38)
SEED = 7
URL = "nats://127.0.0.1:4222"
#: Events after the demo's opening (users, the poison message, orders, parked failures).
EVENTS = 260
LAG_SAMPLES = 10

Step = Callable[[EvmonApp, Pilot[int]], Awaitable[None]]


# --------------------------------------------------------------------------- the data


def demo_events() -> tuple[list[Event], float]:
    """The demo's first events as the dashboard reads them from its four streams, and the
    seconds they span (the rates shown are count / span)."""
    now = [BASE_TIME]
    factory = EventFactory(SEED, clock=lambda: now[0])
    seqs = dict.fromkeys(STREAMS, 0)
    stream_of = {subjects.split(".")[0]: name for name, subjects in STREAMS.items()}
    events: list[Event] = []

    def store(ev: DemoEvent) -> tuple[str, int]:
        stream = stream_of[ev.subject.split(".")[0]]
        seqs[stream] += 1
        headers = tuple((k, v.encode()) for k, v in ev.headers)
        events.append(
            Event("nats", ev.subject, ev.payload, now[0], headers, None, stream, None, seqs[stream])
        )
        return stream, seqs[stream]

    def emit(ev: DemoEvent) -> None:
        stream, seq = store(ev)
        if ev.to_dlq:
            store(dlq_copy(ev, stream, seq))

    for ev in factory.opening():
        now[0] += 0.004
        emit(ev)
    for _ in range(EVENTS):
        now[0] += 1.0 / rate_at(now[0] - BASE_TIME)
        emit(factory.next())
    return events, now[0] - BASE_TIME


def lag_samples() -> list[list[JetStreamLagRow]]:
    """The demo's consumers over ``LAG_SAMPLES`` refreshes, 5 s apart: orders-projector
    keeps up (OK), payments-ledger moves but falls behind (WARN), users-mailer does not
    move past the poison message while users keep arriving (STALL)."""
    rounds = []
    for i in range(LAG_SAMPLES):
        last = {"ORDERS": 2_310 + 61 * i, "PAYMENTS": 1_020 + 38 * i, "USERS": 42 + 9 * i}
        floor = {"ORDERS": last["ORDERS"] - (i % 3), "PAYMENTS": 960 + 5 * i, "USERS": 4}
        rows = []
        for c in CONSUMERS:
            stuck = c.behaviour == "stuck"
            ack_pending = 1 if stuck else (i % 3 if c.behaviour == "healthy" else 1)
            pending = last[c.stream] - floor[c.stream] - ack_pending
            rows.append(
                JetStreamLagRow(
                    c.stream,
                    c.name,
                    num_pending=pending,
                    num_ack_pending=ack_pending,
                    num_redelivered=1 if stuck else 0,
                    num_waiting=1,
                    delivered_stream_seq=floor[c.stream] + ack_pending,
                    ack_floor_stream_seq=floor[c.stream],
                    last_stream_seq=last[c.stream],
                    active_at=lag_time(i),
                )
            )
        rounds.append(rows)
    return rounds


def lag_time(i: int) -> float:
    return BASE_TIME + 5.0 * i


def demo_spec() -> SourceSpec:
    """The demo's NATS connection, scripted: it reports ``connected`` and reads nothing
    (its settings make the lag screen show the JetStream table)."""
    status = ConnectionStatus("nats", URL, "connected", "")

    def factory(sink: Sink, on_status: StatusCallback) -> ScriptedSource:
        return ScriptedSource(on_status, [status])

    return SourceSpec("nats", URL, factory, NatsSettings(urls=(URL,)))


# --------------------------------------------------------------------------- the shots


def keys(*names: str) -> Step:
    async def press(app: EvmonApp, pilot: Pilot[int]) -> None:
        await pilot.press(*names)

    return press


async def detail(app: EvmonApp, pilot: Pilot[int]) -> None:
    """Highlight the newest order with a JSON payload and open the detail pane."""
    events = app.filtered_events()
    back = next(
        n
        for n, ev in enumerate(reversed(events))
        if ev.subject.endswith(".created")
        and ev.subject.startswith("orders.")
        and (ev.payload or b"").startswith(b"{")
        and n >= 6
    )
    await pilot.press(*["up"] * back, "enter")


async def lag(app: EvmonApp, pilot: Pilot[int]) -> None:
    screen = LagScreen(live=False)
    app.install_screen(screen, "lag")
    await pilot.press("l")
    for i, rows in enumerate(lag_samples()):
        screen.observe(jetstream=rows, now=lag_time(i))
    await pilot.pause()


async def interest(app: EvmonApp, pilot: Pilot[int]) -> None:
    screen = InterestScreen(live=False)
    app.install_screen(screen, "interest")
    await pilot.press("i")
    screen.observe(sample_report())
    await pilot.pause()


async def republish(app: EvmonApp, pilot: Pilot[int]) -> None:
    await pilot.press("slash", *"dlq.>", "enter", "p", "r")
    while not isinstance(app.screen, RepublishModal):
        await pilot.pause(0.01)
    app.screen.query_one("#republish-target", Input).value = "payments.card.failed"
    await pilot.press("end")  # the cursor after the text, nothing selected


SHOTS: dict[str, Step] = {
    "main": keys(),
    "filter": keys("slash", *"payments.*.failed", "enter"),
    "detail": detail,
    "lag": lag,
    "republish": republish,
    "interest": interest,
}


#: Shots that need more rows than ``SIZE`` (the re-publish form, headers editor included).
SIZES = {"republish": (140, 48)}


async def shoot(name: str, step: Step) -> Path:
    events, span = demo_events()
    app = EvmonApp(sample_store(seconds=span), [demo_spec()], streams=list(STREAMS), blink=False)
    async with app.run_test(size=SIZES.get(name, SIZE)) as pilot:
        while any(view.state == "connecting" for view in app.connections):
            await pilot.pause(0.01)
        app.feed(events)
        await pilot.pause()
        await step(app, pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        svg = app.export_screenshot(title="evmon demo")
        await app.close_sources()
    path = OUT / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def to_png(svg_path: Path) -> Path | None:
    """A PNG next to the SVG, if cairosvg is available (the SVG is what the README uses)."""
    try:
        import cairosvg  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return None
    # cairosvg ignores SVG textLength (which stretches each run to its cells), so use a
    # monospace font it is sure to find, sized so its advance (0.602 em) is one 12.2 px cell.
    svg = svg_path.read_text(encoding="utf-8").replace(
        "font-family: Fira Code, monospace;\n        font-size: 20px;",
        'font-family: "DejaVu Sans Mono", monospace;\n        font-size: 20.2px;',
    )
    png = svg_path.with_suffix(".png")
    cairosvg.svg2png(bytestring=svg.encode(), write_to=str(png), output_width=1680)
    return png


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, step in SHOTS.items():
        svg = await shoot(name, step)
        png = to_png(svg)
        print(svg.relative_to(ROOT), *([png.relative_to(ROOT)] if png else []))


if __name__ == "__main__":
    asyncio.run(main())
