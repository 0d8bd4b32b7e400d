"""The first-run hint: a small panel naming the keys worth trying on the demo.

A panel rather than a toast: it stays until the operator is done with it (``h`` hides and
shows it again), and it does not cover the newest events. ``evmon demo`` shows it on every
run; ``evmon connect`` never does, because its examples name the demo's streams and
consumers.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

__all__ = ["DEMO_TIPS", "KAFKA_TIPS", "HintPanel"]

#: (keys, what happens), in the order a newcomer would try them.
DEMO_TIPS: tuple[tuple[str, str], ...] = (
    ("/ payments.*.failed ⏎", "filter as you type (escape leaves the bar)"),
    ("enter", "detail of the highlighted event: headers, JSON payload"),
    ("l", "consumer lag: users-mailer is stuck on a poison message"),
    ("l, pick USERS users-mailer, s", "skip (terminate) the poison message"),
    ("/ dlq.> ⏎ then r", "re-publish a failed payment to payments.card.failed"),
    ("? · ctrl+p · q", "every key · command palette · quit"),
)

#: With Kafka connected (``evmon demo --kafka``), before the last line of ``DEMO_TIPS``.
KAFKA_TIPS: tuple[tuple[str, str], ...] = (
    ("l, pick fraud-check, s", "skip the Kafka payment fraud-check is stopped on"),
    ("/ shop.payments ⏎ then r", "replay a Kafka record to its topic"),
)


def tips_table(tips: tuple[tuple[str, str], ...] = DEMO_TIPS) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="ellipsis", no_wrap=True)
    for keys, what in tips:
        table.add_row(Text(keys, style="bold"), what)
    return table


class HintPanel(Static):
    """The tips in a bordered box; the app toggles ``display`` with ``h``."""

    DEFAULT_CSS = """
    HintPanel {
        height: auto;
        border: round $accent;
        border-title-color: $accent;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, *, id: str | None = None, kafka: bool = False) -> None:
        tips = (*DEMO_TIPS[:-1], *KAFKA_TIPS, DEMO_TIPS[-1]) if kafka else DEMO_TIPS
        super().__init__(tips_table(tips), id=id)
        self.border_title = "Try this on the demo"
        self.border_subtitle = "h hides this"
