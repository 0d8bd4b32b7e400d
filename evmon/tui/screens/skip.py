"""The skip (``s``) modal and flow: move a Kafka group or a JetStream consumer past a message.

Kafka: skipping the highlighted record (partition P, offset N) commits N+1 for the group the
operator names; ``inspect_kafka_skip`` checks first (the group must have no members) and its
``question()`` with the record at N (key, size, timestamp, payload) and the before/after
positions is what the operator confirms. JetStream: evmon finds the message the named pull
consumer is stuck on and holds it (``open_jetstream_skip``); the confirmation names it
(stream#seq, subject, delivery count, payload) and only that message is terminated; a
cancel hands it back. ``skip_stuck_message`` is that flow, shared with the lag screen. Core
NATS has nothing to skip: the caller says so before any modal. Refusals and failures are
one-line error notifications; all broker text is escaped and never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from textual.app import App, ComposeResult
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Static

from evmon.actions import (
    ActionContext,
    SkipResult,
    inspect_kafka_skip,
    open_jetstream_skip,
    skip_kafka,
)
from evmon.codec import safe_text
from evmon.errors import EvmonError
from evmon.model import Event
from evmon.tui import format as fmt
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.form import FormModal

__all__ = ["CORE_NATS_NOTE", "SkipModal", "run_skip", "skip_kind", "skip_stuck_message"]

CORE_NATS_NOTE = (
    "Core NATS messages are not stored: skip applies to Kafka consumer groups and "
    "JetStream consumers."
)

SkipKind = Literal["kafka", "jetstream"]


def skip_kind(ev: Event) -> SkipKind | None:
    """Which skip applies to the event: a Kafka record, a JetStream message, or none."""
    if ev.source == "kafka" and ev.partition is not None and ev.offset is not None:
        return "kafka"
    if ev.source == "nats" and ev.stream is not None:
        return "jetstream"
    return None


def _lines(text: str) -> str:
    return "\n".join(safe_text(line) for line in text.splitlines())


class SkipModal(FormModal[str | None]):
    """Asks for the Kafka group (or JetStream consumer) to move; returns its name."""

    DEFAULT_CSS = """
    SkipModal > #skip-box { width: 80%; max-width: 100; }
    SkipModal #skip-event { height: auto; text-style: bold; }
    """

    FORM = "skip"
    OK_LABEL = "Check…"
    OK_VARIANT = "warning"

    def __init__(self, event: Event, known: Sequence[str] = ()) -> None:
        super().__init__()
        kind = skip_kind(event)
        if kind is None:
            raise ValueError(CORE_NATS_NOTE)
        self.event = event
        self.kind: SkipKind = kind
        # Offered in the input and its suggestions, which show text raw: printable names only.
        self.known = [name for name in dict.fromkeys(known) if name.isprintable()]

    def box_title(self) -> str:
        return "Skip a Kafka message" if self.kind == "kafka" else "Skip a JetStream message"

    def fields(self) -> ComposeResult:
        ev = self.event
        # the event taken when s was pressed (broker text is not markup)
        yield Static(fmt.event_line(ev), id="skip-event", markup=False)
        if self.kind == "kafka":
            yield Label(
                safe_text(
                    f"{ev.subject} partition {ev.partition} offset {ev.offset}: "
                    f"the group will commit offset {(ev.offset or 0) + 1}"
                ),
                markup=False,
            )
            yield Label("Consumer group", classes="field-label")
            suggester = SuggestFromList(self.known) if self.known else None
            yield Input(
                self.known[0] if len(self.known) == 1 else "",
                placeholder="group id",
                suggester=suggester,
                id="skip-name",
            )
            if self.known:
                shown = ", ".join(self.known[:6]) + (" …" if len(self.known) > 6 else "")
                yield Label(
                    safe_text(f"known groups: {shown}"), classes="field-label", markup=False
                )
        else:
            yield Label(
                safe_text(
                    f"{ev.stream}#{ev.offset} ({ev.subject}): evmon finds the message the "
                    "consumer is stuck on (ack floor + 1), shows it, and terminates only "
                    "that one once you confirm"
                ),
                markup=False,
            )
            yield Label("Pull consumer (durable name)", classes="field-label")
            yield Input(placeholder="consumer name", id="skip-name")

    def on_mount(self) -> None:
        self.query_one("#skip-name", Input).focus()

    def action_submit(self) -> None:
        name = self.query_one("#skip-name", Input).value.strip()
        if not name:
            what = "group" if self.kind == "kafka" else "consumer"
            self.show_error(f"give the {what} name")
            return
        self.dismiss(name)

    def cancel_result(self) -> str | None:
        return None


async def run_skip(
    app: App[Any], ctx: ActionContext, event: Event, known: Sequence[str] = ()
) -> None:
    """Ask for the group/consumer, inspect, confirm with before/after, skip, report."""
    kind = skip_kind(event)
    if kind is None:
        app.notify(CORE_NATS_NOTE, title="Nothing to skip", severity="warning")
        return
    name = await app.push_screen_wait(SkipModal(event, known))
    if name is None:
        return
    try:
        if kind == "kafka":
            assert event.partition is not None and event.offset is not None
            kplan = await inspect_kafka_skip(
                ctx, name, event.subject, event.partition, offset=event.offset
            )
            question = kplan.question()
            body = (
                f"{kplan.preview()}\nbefore: {kplan.position}\nafter:  committed {kplan.new_offset}"
            )
            if not await app.push_screen_wait(
                ConfirmModal(safe_text(question), _lines(body), "Skip")
            ):
                app.notify("Nothing was moved.", title="Skip cancelled")
                return
            result = await skip_kafka(ctx, name, event.subject, event.partition, event.offset)
        else:
            assert event.stream is not None
            found = await skip_stuck_message(app, ctx, event.stream, name)
            if found is None:
                return
            result = found
    except EvmonError as err:
        app.notify(_lines(str(err)), title="Skip refused", severity="error", markup=False)
        return
    app.notify(_lines(result.summary()), title="Skipped", markup=False, timeout=10)
    if kind == "jetstream" and result.sequence != event.offset:
        app.notify(
            f"The consumer was stuck on stream sequence {result.sequence}, not on the "
            f"highlighted {event.offset}: that is the message terminated.",
            severity="warning",
            markup=False,
        )


async def skip_stuck_message(
    app: App[Any],
    ctx: ActionContext,
    stream: str,
    consumer: str,
    notify: Callable[..., None] | None = None,
) -> SkipResult | None:
    """Find and hold the message ``consumer`` is stuck on, ask naming it, terminate it.

    None when the operator cancels (the message is handed back for redelivery, and the
    notification, through ``notify``, default ``app.notify``, says so); EvmonError for
    refusals (not stuck, not reached in time).
    """
    notify = notify or app.notify
    notify(
        safe_text(f"Looking for the message consumer {consumer} is stuck on…"),
        title="Skip",
        timeout=3,
        markup=False,
    )
    async with open_jetstream_skip(ctx, stream, consumer) as held:
        plan = held.plan
        body = f"{held.preview()}\nbefore: {plan.position}"
        if not await app.push_screen_wait(ConfirmModal(held.question(), body, "Terminate")):
            notify(
                f"Nothing was terminated: {plan.where} was handed back for redelivery.",
                title="Skip cancelled",
                markup=False,
            )
            return None
        return await held.terminate()
