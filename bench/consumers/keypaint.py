"""Key press to paint, in the dashboard under a live flood (headless, under ``run_test``).

A frame counts as "painted" when Textual hands it to the driver (``App._display``: the
compositor has rendered it; the headless driver then discards it). Each key's latency runs
from sending it to the first frame composed after its effect is in place:

- ``/``: the filter input has the focus;
- each typed character: the input shows it;
- ``enter``: the event list shows the new filter's rows (the app re-filters the retained
  events newest first and installs the filter once the list's screen of newest matches
  is found; older matches are added afterwards, between keys and frames).

    python -m bench.consumers.keypaint --nats URL -s SUBJ --warmup N --cycles N
        [--capacity N] [--gap S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.consumers.common import exit_after, report, wait_until
from evmon.config import NatsSettings
from evmon.store import EventStore
from evmon.tui import EvmonApp, nats_spec
from evmon.tui.widgets.filter_bar import FilterInput

SIZE = (160, 48)
#: Filters typed in turn (consecutive ones differ, so each enter applies a new filter).
#: One of each kind: subject wildcards, payload text, a JSON field, a negated subject.
EXPRESSIONS = ("bench.eu.>", '"paid"', "bench.us.*", "json:kind=created", "!bench.eu.paid")
#: Textual key names of the characters typed (letters and digits are their own names).
KEY_NAMES = {
    ">": "greater_than_sign",
    "*": "asterisk",
    ".": "full_stop",
    ":": "colon",
    "=": "equals_sign",
    "!": "exclamation_mark",
    '"': "quotation_mark",
    " ": "space",
    "/": "slash",
}


def press(app: EvmonApp, key: str, character: str | None) -> None:
    """Deliver a key the way a terminal driver does (``post_message``), without Pilot's
    wait for the whole screen to go idle, which a flood keeps from happening for long.
    (Textual is imported by ``evmon.tui`` first, as in ``evmon connect``: it sets the frame
    cap before Textual reads it.)"""
    from textual import events

    app.post_message(events.Key(key, character))


class PaintClock:
    """Records the first frame reaching the driver that shows a waited-for state."""

    def __init__(self, app: EvmonApp) -> None:
        self._want: Callable[[], bool] | None = None
        self._painted = asyncio.Event()
        self.hit = 0.0
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            want = self._want
            if renderable is not None and want is not None and want():
                self.hit = time.perf_counter()
                self._want = None
                self._painted.set()

        app._display = display  # type: ignore[method-assign]

    async def latency(
        self, send: Callable[[], None], want: Callable[[], bool], limit: float = 10.0
    ) -> float:
        """Seconds from ``send()`` to the first frame painted with ``want()`` true."""
        self._painted.clear()
        self._want = want
        t0 = time.perf_counter()
        send()
        try:
            await asyncio.wait_for(self._painted.wait(), limit)
        except TimeoutError:
            raise TimeoutError("no frame showed the key's effect") from None
        finally:
            self._want = None
        return self.hit - t0


async def run(a: argparse.Namespace) -> None:
    store = EventStore(a.capacity)
    app = EvmonApp(store, [nats_spec(NatsSettings((a.nats,)), subjects=[a.subject])], blink=False)
    echo: list[float] = []
    apply: list[float] = []
    by_expr: dict[str, list[float]] = {}
    async with app.run_test(size=SIZE):
        clock = PaintClock(app)
        total = lambda: store.total  # noqa: E731
        await wait_until(lambda: total() >= a.warmup, total, a.deadline, a.deadline)
        total_at_start, t_start = store.total, time.perf_counter()
        for cycle in range(a.cycles):
            expr = EXPRESSIONS[cycle % len(EXPRESSIONS)]
            field = app.filter_bar.input
            echo.append(
                await clock.latency(
                    lambda: press(app, "slash", "/"), lambda: isinstance(app.focused, FilterInput)
                )
            )
            await clock.latency(lambda: press(app, "ctrl+u", None), lambda f=field: not f.value)
            typed = ""
            for ch in expr:
                await asyncio.sleep(a.gap)
                typed += ch
                key = KEY_NAMES.get(ch, ch)
                echo.append(
                    await clock.latency(
                        lambda k=key, c=ch: press(app, k, c), lambda t=typed, f=field: f.value == t
                    )
                )
            await asyncio.sleep(a.gap)
            apply.append(
                await clock.latency(
                    lambda: press(app, "enter", "\r"),
                    lambda e=expr: app.index.filter is not None and app.index.filter.expr == e,
                )
            )
            by_expr.setdefault(expr, []).append(apply[-1])
            await asyncio.sleep(a.gap)
        seconds = time.perf_counter() - t_start
        report(
            store.total,
            0.0,
            0.0,
            store.dropped,
            0,
            echo=echo,
            apply=apply,
            apply_by_expr=by_expr,
            ingest_rate=(store.total - total_at_start) / seconds,
            retained=len(store),
        )
        exit_after(15)
        await app.close_sources()
        app.exit(0)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.consumers.keypaint")
    p.add_argument("--nats", required=True)
    p.add_argument("-s", "--subject", default=">")
    p.add_argument("--warmup", type=int, default=100_000)
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--capacity", type=int, default=100_000)
    p.add_argument("--gap", type=float, default=0.03, help="seconds between keys")
    p.add_argument("--deadline", type=float, default=120.0)
    a = p.parse_args()
    asyncio.run(run(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
