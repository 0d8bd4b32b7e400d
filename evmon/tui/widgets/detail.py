"""The detail pane: everything about the highlighted event.

Metadata, headers (in wire order, repeats kept), the key, and the payload: JSON
pretty-printed and highlighted, text as text, anything else as a hex dump. The render is
bounded (``DETAIL_BYTES`` of payload, ``DETAIL_LINES`` lines) so a 1 MiB payload costs what
a small one does; the full payload opens in ``PayloadScreen`` (``f``).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, ClassVar

from rich.console import Console, Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.rule import Rule
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from evmon.codec import PayloadKind, classify, hexdump, pretty, safe_text
from evmon.model import Event
from evmon.tui import format as fmt

if TYPE_CHECKING:
    from evmon.lenses import Lens

__all__ = ["DETAIL_BYTES", "DETAIL_LINES", "DetailPane", "payload_text", "render_payload"]

#: Bytes of payload the pane formats, and lines of it shown.
DETAIL_BYTES = 64 * 1024
DETAIL_LINES = 400

_JSON = JSONHighlighter()

KIND_LABELS = {
    PayloadKind.JSON: "JSON",
    PayloadKind.TEXT: "text",
    PayloadKind.BINARY: "binary",
    PayloadKind.EMPTY: "empty",
    PayloadKind.TOMBSTONE: "tombstone (null value)",
}


def payload_text(
    payload: bytes | None, limit: int, kind: PayloadKind | None = None
) -> tuple[str, bool]:
    """The payload formatted for display: pretty JSON, text, or a hex dump; and whether
    only the first ``limit`` bytes are shown."""
    if kind is None:
        kind = classify(payload)
    if kind is PayloadKind.BINARY and payload is not None:
        return hexdump(payload, limit), len(payload) > limit
    return pretty(payload, limit)


def render_payload(text: str, kind: PayloadKind) -> Text:
    """Highlight JSON (even a truncated head of it); other kinds are plain."""
    out = Text(text, no_wrap=kind is PayloadKind.BINARY)
    if kind is PayloadKind.JSON or (kind is PayloadKind.TEXT and text[:1] in "{["):
        _JSON.highlight(out)
    elif kind in (PayloadKind.EMPTY, PayloadKind.TOMBSTONE):
        out.stylize("dim italic")
    return out


def _bytes_text(value: bytes) -> Text:
    try:
        return Text(safe_text(value.decode()))
    except UnicodeDecodeError:
        return Text("0x" + value.hex(), style="italic")


class DetailPane(VerticalScroll, can_focus=True):
    """The highlighted event, formatted; ``show(None)`` when there is none."""

    #: Under 100 columns the open pane takes the list's place (and the focus): ``escape``
    #: closes it there as it closes every other full-screen view (``enter`` does too).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.toggle_detail", "Close the detail", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event: Event | None = None
        self.seq: int | None = None
        #: The payload render was cut (the full view has more).
        self.truncated = False
        self.renderable: RenderableType = ""
        #: The dashboard's lens: a duplicate, a replay or a drift gets its own row.
        self.lens: Lens | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")

    @property
    def body(self) -> Static:
        return self.query_one("#detail-body", Static)

    def show(self, seq: int | None, event: Event | None) -> None:
        if seq == self.seq and event is self.event:
            return
        self.seq, self.event = seq, event
        self.renderable = self._render_event(event)
        self.body.update(self.renderable)
        self.scroll_home(animate=False)

    def _render_event(self, ev: Event | None) -> RenderableType:
        if ev is None:
            self.truncated = False
            self.border_subtitle = ""
            if self.seq is not None:
                return Text("This event was evicted from the buffer.", style="dim italic")
            return Text("No event highlighted.", style="dim italic")
        meta = Table.grid(padding=(0, 2))
        meta.add_column(style="bold", no_wrap=True)
        meta.add_column()
        meta.add_row("subject", Text(safe_text(ev.subject), style=f"bold {self._colour(ev)}"))
        where = Text(ev.source)
        if ev.stream is not None:
            where.append(f"  stream {ev.stream} seq {ev.offset}")
        elif ev.partition is not None:
            where.append(f"  partition {ev.partition} offset {ev.offset}")
        meta.add_row("source", where)
        meta.add_row("time", fmt.stamp(ev.timestamp))
        if ev.source == "kafka" or ev.key is not None:
            meta.add_row(
                "key", _bytes_text(ev.key) if ev.key is not None else Text("(none)", "dim")
            )
        kind = classify(ev.payload)
        meta.add_row("payload", f"{fmt.count(ev.size)} bytes · {KIND_LABELS[kind]}")
        if ev.headers:
            headers = Text()
            for i, (name, value) in enumerate(ev.headers):
                if i:
                    headers.append("\n")
                headers.append(safe_text(name), style="bold")
                headers.append(": ")
                headers.append_text(_bytes_text(value))
            meta.add_row("headers", headers)
        else:
            meta.add_row("headers", Text("(none)", style="dim"))
        lens = self.lens
        verdict = None if lens is None else lens.verdict(ev)
        if lens is not None and verdict is not None and verdict.dup is not None:
            said = "re-published by evmon" if verdict.dup == "replay" else "identity seen before"
            meta.add_row(verdict.dup, Text(f"{said} ({lens.identity.describe()})"))
        if verdict is not None and verdict.drift is not None:
            meta.add_row("drift", Text(safe_text(verdict.drift), style="bold"))

        text, cut = payload_text(ev.payload, DETAIL_BYTES, kind)
        lines = text.count("\n") + 1
        if lines > DETAIL_LINES:
            end = -1
            for _ in range(DETAIL_LINES):
                end = text.index("\n", end + 1)
            text = text[:end]
            cut = True
        self.truncated = cut
        parts: list[RenderableType] = [meta, Rule(style="dim"), render_payload(text, kind)]
        if cut:
            shown = DETAIL_LINES if lines > DETAIL_LINES else lines
            parts.append(
                Text(
                    f"\n… truncated: showing {fmt.count(shown)} lines of a "
                    f"{fmt.count(ev.size)}-byte payload. Press f for the full payload.",
                    style="bold italic",
                )
            )
            self.border_subtitle = "f full payload"
        else:
            self.border_subtitle = ""
        return Group(*parts)

    def text(self) -> str:
        """The pane's content as plain text (for tests)."""
        out = io.StringIO()
        console = Console(file=out, width=max(self.size.width, 40), color_system=None)
        console.print(self.renderable)
        return out.getvalue()

    def _colour(self, ev: Event) -> str:
        variables = self.app.theme_variables
        return variables.get("success" if ev.source == "nats" else "warning", "")
