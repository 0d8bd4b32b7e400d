"""The re-publish (``r``) modal and the flow behind it: ask, confirm, publish, report.

``RepublishModal`` collects the target, the number of copies, the provenance flag and, for a
single event, an edited payload and headers; it validates everything with
``evmon.actions.plan_event`` before it closes, so a bad target (``a..b``) is fixed in place.
``run_republish`` (run by the app in a worker) then asks ``ConfirmModal`` a question naming
the target and the number, publishes with ``evmon.actions.replay`` while ``ProgressModal``
counts acknowledgements, and notifies success only once ``replay`` returned. Failures are
one-line error notifications; the dashboard keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Checkbox,
    Input,
    Label,
    ProgressBar,
    RadioButton,
    RadioSet,
    Static,
    TextArea,
)

from evmon.actions import (
    ActionContext,
    MsgIdPolicy,
    PlannedPublish,
    check_replay,
    plan_event,
    replay,
)
from evmon.codec import safe_text
from evmon.errors import EvmonError, UsageError
from evmon.model import Event, Headers
from evmon.tui import format as fmt
from evmon.tui.screens.confirm import ConfirmModal
from evmon.tui.screens.form import FormModal

__all__ = [
    "ORIGINAL_SUBJECTS",
    "ProgressModal",
    "RepublishModal",
    "RepublishRequest",
    "headers_from_text",
    "headers_to_text",
    "payload_to_text",
    "run_republish",
]

#: Placeholder of the target field when the events came from several subjects/topics.
ORIGINAL_SUBJECTS = "(original subjects)"
#: Copies per event the modal accepts (a typo must not flood a topic).
MAX_COUNT = 1000


# --------------------------------------------------------------------------- editing


def payload_to_text(payload: bytes | None) -> str | None:
    """The payload as editable text: pretty JSON, else UTF-8 text; None if not editable
    (binary, or a Kafka tombstone)."""
    if payload is None:
        return None
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not _terminal_safe(text):
        return None
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return text
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return text


def headers_to_text(headers: Headers) -> str | None:
    """One ``Name: value`` per line; None when a value is not UTF-8 or holds a line break
    (such headers could not be edited back exactly)."""
    lines = []
    for name, value in headers:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if "\n" in text or "\r" in text or not _terminal_safe(f"{name}{text}"):
            return None
        lines.append(f"{name}: {text}")
    return "\n".join(lines)


def _terminal_safe(text: str) -> bool:
    """No character a terminal would act on (an editor shows its text raw: ESC, C1 or bidi
    controls from a publisher would reach the terminal): such text is sent unchanged."""
    return text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable()


def headers_from_text(text: str) -> Headers:
    """Parse ``Name: value`` lines (blank lines ignored, repeated names kept in order)."""
    headers: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise UsageError(f"header line {number}: write it as 'Name: value'")
        headers.append((name, value.removeprefix(" ").encode()))
    return tuple(headers)


@dataclass(frozen=True, slots=True)
class RepublishRequest:
    """What the operator asked for; ``plan`` is validated and ready for ``replay``.

    ``count`` is the number of copies of each event: the selection is sent ``count`` times
    over, in order (e1 e2, e1 e2, ...).
    """

    plan: tuple[PlannedPublish, ...]
    count: int
    events: int
    edited: bool
    #: what each copy does with Nats-Msg-Id (``new``: a fresh id per copy)
    msg_id: MsgIdPolicy = "keep"

    @property
    def total(self) -> int:
        return len(self.plan)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.target for p in self.plan))

    def question(self) -> str:
        """``Re-publish 3 events to payments.card.failed?`` (copies and edits named)."""
        noun = "event" if self.events == 1 else "events"
        what = f"{self.events} {'edited ' if self.edited else ''}{noun}"
        if self.count > 1:
            what += f", {self.count} copies of each ({self.total} messages),"
        targets = self.targets
        where = ", ".join(targets[:3]) + (
            f" and {len(targets) - 3} more" if len(targets) > 3 else ""
        )
        return f"Re-publish {what} to {where}?"

    def body(self) -> str:
        """The first lines of the dry run: what goes where, with which headers."""
        rounds = self.plan[: self.events]
        lines = [safe_text(p.describe()) for p in rounds[:8]]
        if len(rounds) > 8:
            lines.append(f"… and {len(rounds) - 8} more")
        if self.count > 1:
            lines.append(f"each sent {self.count} times")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the modal


class RepublishModal(FormModal[RepublishRequest | None]):
    """Target, copies, provenance and (single event) payload and headers editors."""

    DEFAULT_CSS = """
    RepublishModal > #republish-box { width: 90%; max-width: 120; height: 90%; }
    RepublishModal #republish-form { height: 1fr; }
    RepublishModal #republish-form > * { width: 1fr; }
    RepublishModal #republish-events { height: auto; margin-top: 1; }
    RepublishModal #republish-form > #republish-count { width: 16; }
    RepublishModal #republish-payload { height: 10; }
    RepublishModal #republish-headers { height: 5; }
    """

    FORM = "republish"
    OK_LABEL = "Re-publish…"
    OK_VARIANT = "warning"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "submit", "Re-publish…")]

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        if not events:
            raise ValueError("nothing to re-publish")
        self.events = events
        subjects = list(dict.fromkeys(ev.subject for ev in events))
        # Empty means "the original subject": a subject with control characters is not
        # put in the input (its text would reach the terminal raw).
        one = subjects[0] if len(subjects) == 1 else ""
        self.default_target = one if one.isprintable() else ""
        single = events[0] if len(events) == 1 else None
        self.payload_text = None if single is None else payload_to_text(single.payload)
        self.headers_text = None if single is None else headers_to_text(single.headers)

    def box_title(self) -> str:
        n = len(self.events)
        return f"Re-publish {n} event{'' if n == 1 else 's'}"

    def box_subtitle(self) -> str:
        return "ctrl+s continue · escape cancel"

    def on_mount(self) -> None:
        self.query_one("#republish-target", Input).focus()

    def fields(self) -> ComposeResult:
        events = self.events
        n = len(events)
        # the events taken when r was pressed, named exactly (broker text is not markup)
        yield Static(fmt.event_lines(events), id="republish-events", markup=False)
        with VerticalScroll(id="republish-form"):
            yield Label("Target subject / topic", classes="field-label")
            yield Input(
                self.default_target,
                placeholder=ORIGINAL_SUBJECTS,
                id="republish-target",
            )
            yield Label("Copies of each event", classes="field-label")
            yield Input("1", type="integer", id="republish-count")
            yield Checkbox(
                "Add the provenance header (evmon-replayed-from)",
                True,
                id="republish-provenance",
            )
            if any(ev.source == "nats" for ev in events):
                yield from self._msg_id_choice()
            if n == 1:
                yield from self._editors(events[0])
            else:
                yield Label(
                    f"{n} events, each sent as it was (editing is for a single event)",
                    classes="field-label",
                )

    def _msg_id_choice(self) -> ComposeResult:
        yield Label(
            "Nats-Msg-Id (a stream drops an id it holds within its duplicate window)",
            classes="field-label",
        )
        with RadioSet(id="republish-msg-id"):
            yield RadioButton("keep: byte exact", True, id="msg-id-keep")
            yield RadioButton("drop: send without it", id="msg-id-drop")
            yield RadioButton("new: <original>.evmon-<uuid> per copy", id="msg-id-new")

    def _msg_id(self) -> MsgIdPolicy:
        if not self.query("#republish-msg-id"):
            return "keep"
        pressed = self.query_one("#republish-msg-id", RadioSet).pressed_button
        choice = (pressed.id or "") if pressed is not None else ""
        return "drop" if choice == "msg-id-drop" else "new" if choice == "msg-id-new" else "keep"

    def _editors(self, ev: Event) -> ComposeResult:
        if self.payload_text is not None:
            yield Label("Payload (edit to send a changed copy)", classes="field-label")
            yield TextArea(self.payload_text, id="republish-payload", soft_wrap=True)
        elif ev.payload is None:
            yield Label("Payload: tombstone (no value), sent unchanged", classes="field-label")
        else:
            yield Label(
                f"Payload: binary ({ev.size} bytes), not editable: sent unchanged",
                classes="field-label",
            )
        if self.headers_text is not None:
            yield Label("Headers (one 'Name: value' per line)", classes="field-label")
            yield TextArea(self.headers_text, id="republish-headers")
        else:
            yield Label(
                "Headers: not all UTF-8 text, not editable: sent unchanged",
                classes="field-label",
            )

    def _edited_event(self) -> tuple[Event, bool]:
        """The single event with the editors' payload and headers (unchanged text keeps the
        original bytes exactly: pretty-printing is for display only)."""
        ev = self.events[0]
        changes: dict[str, Any] = {}
        if self.payload_text is not None:
            text = self.query_one("#republish-payload", TextArea).text
            if text != self.payload_text:
                changes["payload"] = text.encode()
        if self.headers_text is not None:
            text = self.query_one("#republish-headers", TextArea).text
            if text != self.headers_text:
                changes["headers"] = headers_from_text(text)
        return (dataclasses.replace(ev, **changes), True) if changes else (ev, False)

    def request(self) -> RepublishRequest:
        """The validated request; UsageError saying what to fix."""
        target = self.query_one("#republish-target", Input).value.strip() or None
        raw = self.query_one("#republish-count", Input).value.strip()
        try:
            count = int(raw)
        except ValueError:
            raise UsageError("copies: a whole number from 1") from None
        if not 1 <= count <= MAX_COUNT:
            raise UsageError(f"copies: from 1 to {MAX_COUNT}")
        provenance = self.query_one("#republish-provenance", Checkbox).value
        events, edited = self.events, False
        if len(events) == 1:
            single, edited = self._edited_event()
            events = [single]
        msg_id = self._msg_id()
        # one plan per copy: with msg_id "new" every copy gets its own id
        plan = [plan_event(ev, target, provenance, msg_id) for _ in range(count) for ev in events]
        return RepublishRequest(tuple(plan), count, len(events), edited, msg_id)

    def action_submit(self) -> None:
        try:
            request = self.request()
        except EvmonError as err:
            self.show_error(str(err))
            return
        self.dismiss(request)

    def cancel_result(self) -> RepublishRequest | None:
        return None


class ProgressModal(ModalScreen[None]):
    """Acknowledgements so far; escape cancels what has not been sent yet."""

    DEFAULT_CSS = """
    ProgressModal { align: center middle; }
    ProgressModal > #progress-box {
        width: 64; height: auto; border: round $primary; background: $surface; padding: 1 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "stop", "Stop")]

    def __init__(self, title: str, total: int, on_stop: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.total = total
        self.on_stop = on_stop

    def compose(self) -> ComposeResult:
        with Vertical(id="progress-box") as box:
            box.border_title = self.title_text
            box.border_subtitle = "escape stops"
            yield ProgressBar(total=self.total, show_eta=False, id="progress-bar")
            yield Label(f"0 of {self.total} acknowledged", id="progress-label")

    def advance(self, done: int, total: int) -> None:
        if not self.is_mounted:
            return
        self.query_one(ProgressBar).update(progress=done, total=total)
        self.query_one("#progress-label", Label).update(f"{done} of {total} acknowledged")

    def action_stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()


# --------------------------------------------------------------------------- the flow


async def run_republish(app: App[Any], ctx: ActionContext, events: list[Event]) -> None:
    """Ask, confirm, publish, report (run in a worker: it waits on modals)."""
    request = await app.push_screen_wait(RepublishModal(events))
    if request is None:
        return
    try:  # what the server says about the targets (duplicate windows, interest) goes first
        checks = await check_replay(ctx, request.plan)
    except EvmonError as err:
        app.notify(safe_text(str(err)), title="Re-publish failed", severity="error", markup=False)
        return
    warnings = checks.warnings(request.plan)
    body = "\n".join([*(f"warning: {w}" for w in warnings), request.body()])
    question = request.question()
    if checks.no_interest():
        question = question.removesuffix("?") + ", where nobody subscribes?"
    confirmed = await app.push_screen_wait(ConfirmModal(question, body, "Re-publish"))
    if not confirmed:
        app.notify("Nothing was sent.", title="Re-publish cancelled")
        return
    task = asyncio.current_task()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if task is not None and not stopped:
            stopped = True
            task.cancel()

    total = request.total
    progress = ProgressModal(
        f"Re-publishing {total} message{'' if total == 1 else 's'}", total, stop
    )
    await app.push_screen(progress)
    acked = 0

    def advance(done: int, total: int) -> None:
        nonlocal acked
        acked = done
        progress.advance(done, total)

    try:
        result = await replay(
            ctx,
            request.plan,
            on_progress=advance,
            checks=checks,
            edited=request.edited,
            copies=request.count,
            msg_id=request.msg_id,
        )
    except EvmonError as err:
        app.notify(safe_text(str(err)), title="Re-publish failed", severity="error", markup=False)
        return
    except asyncio.CancelledError:
        if not stopped or task is None:
            raise  # the app is closing
        task.uncancel()
        app.notify(
            f"{acked} of {total} acknowledged; the rest were not sent.",
            title="Re-publish stopped",
            severity="warning",
            markup=False,
        )
        return
    finally:
        if app.screen is progress:
            with contextlib.suppress(Exception):
                await app.pop_screen()
    if result.ok:
        app.notify(safe_text(result.summary()), title="Re-published", markup=False)
    else:  # duplicates, or nobody listening: acknowledged is not stored
        app.notify(
            safe_text(result.summary()),
            title="Re-published, not all stored",
            severity="warning",
            markup=False,
        )
