"""The subject tree: NATS subjects and Kafka topics/partitions seen so far, by ``.`` tokens.

Nodes are created as subjects appear and relabelled in place on the UI timer (never
rebuilt), so the cursor and what is expanded survive updates. Each node shows the events
counted under it and their current rate. Selecting a node posts ``SubjectChosen`` with the
filter that shows exactly its events.

Subjects that carry ids (``orders.<uuid>``) could grow the tree without bound: past
``max_nodes`` new subjects are counted in their deepest existing ancestor instead. Nor does
the work grow with them: each update applies the store's ``changes()`` (the subjects whose
count or events in the rate window moved) to the nodes above them, recomputes the rate of
the nodes that have one, and repaints only the lines that are displayed (a collapsed
node's label is drawn from its data when it is shown). An idle tree costs nothing however
many subjects it saw; a flood of new subjects costs what they add, never a walk of all.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from evmon.codec import safe_text
from evmon.filter import subject_term
from evmon.store import Changes, SubjectKey
from evmon.tui import format as fmt
from evmon.tui.messages import SubjectChosen
from evmon.tui.widgets.content_size import ContentSized

__all__ = ["SubjectInfo", "SubjectTree"]

SOURCE_LABELS = {"nats": "NATS", "kafka": "Kafka"}


@dataclass(slots=True)
class SubjectInfo:
    """What a tree node stands for."""

    source: str
    #: The subject or topic prefix ("" for a source's root).
    path: str = ""
    #: A Kafka partition node's partition.
    partition: int | None = None
    #: Events were seen on exactly this subject/topic (not only below it).
    exact: bool = False
    name: str = ""
    #: Sorted sort keys of the children, for ordered insertion.
    child_keys: list[tuple[int, str]] = field(default_factory=list)
    #: Events counted at and below this node, those of them in the store's rate window,
    #: and the (count, rate) its label shows.
    count: int = 0
    window: int = 0
    shown: tuple[int, str] = (-1, "")
    #: The lenses' counts on exactly this subject: "2 dup 1 drift" (``update_lens``).
    lens: str = ""
    #: Traffic and no listener in the interest screen's last window (``mark_unheard``).
    unheard: bool = False

    @property
    def sort_key(self) -> tuple[int, str]:
        if self.partition is not None:
            return (self.partition, "")
        if not self.path:  # source roots: NATS first
            return (0 if self.source == "nats" else 1, "")
        return (0, self.name)

    def filter_expr(self, has_children: bool) -> str:
        """The filter that selects this node's events (``has_children``: subjects below).

        The subject is written by ``subject_term``: quoted when it would otherwise read as
        a negation, a regex or a wildcard (``!neg.x`` is a subject, not "everything else").
        """
        source = f"source:{self.source}"
        if not self.path:
            return source
        exact, below = subject_term(self.path), subject_term(self.path, below=True)
        if self.partition is not None:
            return f"{source} {exact} partition:{self.partition}"
        if not has_children:
            return f"{source} {exact}"
        if self.exact:
            return f"{source} {exact} {below}"
        return f"{source} {below}"


@dataclass(slots=True)
class _Applied:
    """What the tree last applied of one store key, and the nodes it counts in."""

    chain: list[tuple[TreeNode[SubjectInfo], SubjectInfo]]
    count: int = 0
    window: int = 0


class SubjectTree(ContentSized, Tree[SubjectInfo]):
    """Counts and rates per subject, as a hierarchy under one root per source."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Filter to subject", show=False),
    ]
    #: What one ``apply(limit)`` slice may do besides ``limit`` keys (about a microsecond a
    #: token each): make this many new nodes (some 60 µs each, Textual relayouts the tree).
    NODES_PER_SLICE: ClassVar[int] = 100
    #: Keys a slice applies: the dashboard's tick gives this as ``limit``.
    KEYS_PER_SLICE: ClassVar[int] = 2_000

    def __init__(
        self,
        *,
        max_nodes: int = 2_000,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__("subjects", SubjectInfo(""), name=name, id=id, classes=classes)
        self.show_root = False
        self.auto_expand = False
        self.guide_depth = 2
        self.max_nodes = max_nodes
        self._subject_nodes: dict[tuple[str, str, int | None], TreeNode[SubjectInfo]] = {}
        #: Per store key: the count and window last applied, and its nodes, root first
        #: (bounded like the store's keys, see ``evmon.store.SUBJECT_LIMIT``).
        self._keys: dict[SubjectKey, _Applied] = {}
        #: Nodes with events in the rate window: their rate moves with time alone.
        self._rated: dict[int, TreeNode[SubjectInfo]] = {}
        #: Changes taken and not applied yet, each list from its index on (``take``), the
        #: window's span they came with, the nodes to relabel and whether a round is open.
        self._todo: tuple[list[tuple[SubjectKey, int]], list[tuple[SubjectKey, int]]] = ([], [])
        self._done = [0, 0]
        self._elapsed = 0.0
        self._looked: dict[int, TreeNode[SubjectInfo]] = {}
        self._open = False

    # New nodes are no layout of the screen (see content_size).
    def _invalidate(self) -> None:
        with self.content_changing():
            super()._invalidate()

    def _build(self) -> None:
        with self.content_changing():
            super()._build()

    @property
    def node_count(self) -> int:
        return len(self._subject_nodes)

    def node_for(
        self, source: str, path: str = "", partition: int | None = None
    ) -> TreeNode[SubjectInfo] | None:
        """The node of a source root, subject/topic prefix or Kafka partition."""
        return self._subject_nodes.get((source, path, partition))

    # ----------------------------------------------------------------- building

    def _child(
        self, parent: TreeNode[SubjectInfo], info: SubjectInfo, expand: bool
    ) -> TreeNode[SubjectInfo] | None:
        key = (info.source, info.path, info.partition)
        node = self._subject_nodes.get(key)
        if node is not None:
            return node
        if len(self._subject_nodes) >= self.max_nodes and info.path:
            return None
        assert parent.data is not None
        keys = parent.data.child_keys
        at = bisect.bisect(keys, info.sort_key)
        keys.insert(at, info.sort_key)
        # Text, never str: Tree parses a str label as markup, and names come from publishers.
        label = Text(info.name)
        node = parent.add(label, info, before=at, expand=expand, allow_expand=False)
        if parent is not self.root and not parent.allow_expand:
            parent.allow_expand = True  # a leaf no more
        self._subject_nodes[key] = node
        return node

    def _walk(self, key: SubjectKey) -> list[TreeNode[SubjectInfo]]:
        """The nodes from the source root down to the key's node (created as needed)."""
        source, subject, partition = key
        nodes = self._subject_nodes
        root = nodes.get((source, "", None))
        if root is None:
            root = self._child(self.root, SubjectInfo(source, name=SOURCE_LABELS[source]), True)
            assert root is not None
        chain = [root]
        if not subject:  # the store's key for subjects past its limit: the source itself
            return chain
        path = ""
        for depth, token in enumerate(subject.split(".")):
            path = f"{path}.{token}" if depth else token
            node = nodes.get((source, path, None))  # most keys: every node exists already
            if node is None:
                info = SubjectInfo(source, path, name=safe_text(token) or "(empty)")
                node = self._child(chain[-1], info, expand=depth == 0 and len(nodes) < 200)
                if node is None:
                    return chain
            chain.append(node)
        assert chain[-1].data is not None
        chain[-1].data.exact = True
        if partition is not None:
            info = SubjectInfo(source, subject, partition, name=f"partition {partition}")
            node = self._child(chain[-1], info, expand=False)
            if node is not None:
                chain.append(node)
        return chain

    def process_label(self, label: str | Text) -> Text:
        """Our labels are one line of ``safe_text`` already: skip Tree's copy and split of
        every label (a third of adding a node)."""
        return label if isinstance(label, Text) else super().process_label(label)

    @property
    def key_count(self) -> int:
        """Store keys the tree has applied (bounded by the store's key limit)."""
        return len(self._keys)

    def _applied(self, key: SubjectKey) -> _Applied:
        chain = [(node, node.data) for node in self._walk(key) if node.data is not None]
        return _Applied(chain)

    def update_counts(self, changes: Changes) -> int:
        """Apply ``EventStore.changes()`` at once (``take`` and ``apply``); returns how many
        nodes were looked at: those above the keys given and those with a rate."""
        self.take(changes)
        looked = self.apply()
        assert looked is not None
        return looked

    def take(self, changes: Changes) -> None:
        """Queue the store's changes for ``apply``. Its values are totals, so a key still
        queued takes the newer one; a round still open is relabelled first, so labels
        move on every round even when a slice per tick cannot keep up."""
        counts, window = self._todo
        at_counts, at_window = self._done
        if self._open and (at_counts < len(counts) or at_window < len(window)):
            self._relabel()
        merged = dict(counts[at_counts:]), dict(window[at_window:])
        merged[0].update(changes.counts)
        merged[1].update(changes.window)
        self._todo = list(merged[0].items()), list(merged[1].items())
        self._done = [0, 0]
        self._elapsed = changes.elapsed
        self._looked.update(self._rated)
        self._open = True

    def apply(self, limit: int | None = None) -> int | None:
        """Apply what ``take`` queued: new subjects get their nodes, each node's count and
        window move by what changed. With ``limit``, at most that many keys and
        ``NODES_PER_SLICE`` new nodes, so a tick's share stays small however many
        subjects arrived. Once all is applied, relabel the nodes whose count or rate
        changed and return how many were looked at; None while some are still queued."""
        if not self._open:
            return None
        budget = limit
        for which in (0, 1):
            budget = self._apply(which, budget)
            if budget is not None and budget <= 0 and self._done[which] < len(self._todo[which]):
                return None
        return self._relabel()

    def _apply(self, which: int, budget: int | None) -> int | None:
        """Apply queued totals (``which`` 0) or windows (1); the budget left."""
        todo, at = self._todo[which], self._done[which]
        end = len(todo) if budget is None else min(len(todo), at + budget)
        keys, nodes, looked = self._keys, self._subject_nodes, self._looked
        max_nodes = len(nodes) + self.NODES_PER_SLICE
        start = at
        while at < end:
            key, n = todo[at]
            applied = keys.get(key)
            if applied is None:
                if budget is not None and len(nodes) >= max_nodes:
                    end = at  # the rest in the next slice
                    break
                applied = keys[key] = self._applied(key)
            at += 1
            delta = n - (applied.window if which else applied.count)
            if not delta:
                continue
            if which:
                applied.window = n
                for node, info in applied.chain:
                    info.window += delta
                    looked[node.id] = node
            else:
                applied.count = n
                for node, info in applied.chain:
                    info.count += delta
                    looked[node.id] = node
        self._done[which] = at
        if budget is None:
            return None
        return 0 if at < len(todo) else budget - (at - start)

    def _relabel(self) -> int:
        """Labels of the nodes looked at this round; repaints the lines displayed."""
        elapsed, looked = self._elapsed, self._looked
        rated: dict[int, TreeNode[SubjectInfo]] = {}
        for node_id, node in looked.items():
            data = node.data
            assert data is not None
            if data.window:
                rated[node_id] = node
            shown = (data.count, fmt.rate(data.window / elapsed if elapsed > 0 else 0.0))
            if shown != data.shown:
                data.shown = shown
                if node.line >= 0:  # displayed: repaint its line (off screen: re-render)
                    node.refresh()
        self._rated, self._looked, self._open = rated, {}, False
        return len(looked)

    def update_lens(self, changed: Mapping[tuple[str, str], tuple[int, int]]) -> None:
        """Apply ``Lens.changed_counts()``: each subject's duplicates and drifted events."""
        for (source, subject), (dups, drifts) in changed.items():
            node = self._walk((source, subject, None))[-1]
            info = node.data
            if info is None or info.path != subject or not subject:
                continue  # a subject past the node limit: counted in the status line only
            counts = ((dups, "dup"), (drifts, "drift"))
            info.lens = " ".join(f"{fmt.short_count(n)} {what}" for n, what in counts if n)
            node.refresh()

    def mark_unheard(self, subjects: set[str]) -> None:
        """Mark the NATS subjects that had traffic and no listener (the interest screen)."""
        for node in self._subject_nodes.values():
            info = node.data
            if info is None:
                continue
            now = info.source == "nats" and info.exact and info.path in subjects
            if now != info.unheard:
                info.unheard = now
                node.refresh()

    def render_label(self, node: TreeNode[SubjectInfo], base_style: Style, style: Style) -> Text:
        """The name on the left, count and rate right-aligned to the tree's width."""
        text = super().render_label(node, base_style, style)
        info = node.data
        if info is None or info.shown[0] < 0:
            return text
        if not info.path:
            text.stylize("bold")
        n, rate = info.shown
        stats = Text(f"{info.lens} " if info.lens else "", style="bold red")
        if info.unheard:
            stats.append("no listener ", style="bold red")
        stats.append(fmt.short_count(n), style="bold" if not info.path else "")
        stats.append(f" {rate:>7}" if rate != "0/s" else " " * 8, style="dim")
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        room = self.scrollable_content_region.width - depth * self.guide_depth
        gap = room - text.cell_len - stats.cell_len
        if gap < 1:
            text.truncate(max(room - stats.cell_len - 1, 1), overflow="ellipsis")
            gap = 1
        text.append(" " * gap)
        text.append_text(stats)
        return text

    # ----------------------------------------------------------------- selecting

    def on_tree_node_selected(self, event: Tree.NodeSelected[SubjectInfo]) -> None:
        event.stop()
        node = event.node
        if node.data is None or not node.data.source:
            return
        below = any(c.data is not None and c.data.partition is None for c in node.children)
        self.post_message(SubjectChosen(node.data.filter_expr(below)))
