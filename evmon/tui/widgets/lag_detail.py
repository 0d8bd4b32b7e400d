"""The lines under the lag screen's Kafka table: the highlighted group's members and, for a
partition it never committed on, what NOCOMMIT means.

``kafka_detail`` is pure (tested without a screen): the rows of the last refresh and the key
of the highlighted row in, the text out. A consumer group's members (client id, host, the
partitions assigned) are what ``kafka-consumer-groups --describe --members`` shows; a
JetStream consumer has no members (it is one cursor the server keeps), so the JetStream
table has no such lines: its ``waiting`` column counts the pull requests waiting on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from evmon.codec import safe_text
from evmon.lag import KafkaLagRow, nocommit_note
from evmon.tui.widgets.lag_tables import KafkaLagTable

__all__ = ["MEMBERS_SHOWN", "KafkaDetail", "kafka_detail"]

#: Members listed at most; the rest are counted ("and 12 more: evmon lag --members").
MEMBERS_SHOWN = 4


def kafka_detail(rows: Sequence[KafkaLagRow], key: str | None) -> Text:
    """The members of the highlighted row's group, then (on a NOCOMMIT partition, or a group
    with such partitions) the note; empty when nothing is highlighted."""
    if key is None:
        return Text()
    group, topic, partition = KafkaLagTable.parse_key(key)
    mine = [r for r in rows if r.group == group]
    if not mine:
        return Text()
    first = mine[0]
    out = Text(no_wrap=True, overflow="ellipsis")
    name = safe_text(group)
    if first.members is None:
        out.append(f"{name}: members unknown ", style="bold")
        out.append("(the broker cannot describe this consumer-protocol group)", style="dim")
    elif not first.members:
        out.append(f"{name}: no active members", style="bold")
    elif not first.member_list:
        out.append(f"{name}: {first.members} members (not described)", style="bold")
    else:
        n = len(first.member_list)
        out.append(f"{name}: {n} member{'' if n == 1 else 's'}", style="bold")
        for member in first.member_list[:MEMBERS_SHOWN]:
            out.append("\n  ")
            out.append(safe_text(member.client_id or "-"), style="bold")
            out.append(f"  {safe_text(member.host)}  ")
            out.append(safe_text(member.assignment_text()))
            out.append(f"  {safe_text(member.member_id)}", style="dim")
        if n > MEMBERS_SHOWN:
            out.append(f"\n  and {n - MEMBERS_SHOWN} more: evmon lag --members", style="dim")
    never = [r for r in mine if r.status == "NOCOMMIT"]
    if topic is not None:
        never = [r for r in never if (r.topic, r.partition) == (topic, partition)]
        if never:
            out.append(f"\n{safe_text(topic)}/{partition}: ", style="bold cyan")
            out.append(nocommit_note(never[0]))
    elif never:
        total = sum(r.lag or 0 for r in never)
        count = f"{len(never)} partition{'' if len(never) == 1 else 's'} never committed"
        out.append(f"\n{count}: ", style="bold cyan")
        out.append(f"a client starting at newest skips {total}, at oldest reads {total}")
    return out


class KafkaDetail(Static):
    """The lines of ``kafka_detail`` under the Kafka table: shown while a NOCOMMIT row is
    highlighted (the status needs its explanation), and for every row once ``m`` asks for
    the members (80x24 keeps its table rows otherwise)."""

    DEFAULT_CSS = """
    KafkaDetail {
        height: auto;
        max-height: 7;
        padding: 0 1;
        color: $text-muted;
        border-top: solid $foreground 20%;
    }
    """

    #: True: shown on every row (``m``); False: only on NOCOMMIT rows.
    enabled = False

    def show(self, rows: Sequence[KafkaLagRow], key: str | None) -> None:
        text = kafka_detail(rows, key)
        self.update(text)
        self.display = bool(text.plain) and (self.enabled or _nocommit(rows, key))


def _nocommit(rows: Sequence[KafkaLagRow], key: str | None) -> bool:
    """Whether the highlighted row (a group: any of its partitions) is NOCOMMIT."""
    if key is None:
        return False
    group, topic, partition = KafkaLagTable.parse_key(key)
    return any(
        r.status == "NOCOMMIT"
        and r.group == group
        and (topic is None or (r.topic, r.partition) == (topic, partition))
        for r in rows
    )
