"""The drift lens's parts: the shape of a JSON payload, and each subject's habit.

    shape = shape_of(b'{"id": 7, "mail": "a@b"}')     # (("id", "number"), ("mail", "string"))
    habits = ShapeHabits()
    habits.judge(("nats", "users.created"), shape)      # "missing: email; added: mail" or None

Services change the events they publish (a field renamed, a number sent as a string) and
the consumers that were not changed with them break quietly. Per subject or topic, the
lens learns the shape of the JSON objects published there (top-level field names and the
JSON type of each value) and keeps the most common one, the habit; an event whose shape
differs from the habit drifts, and ``describe`` says how.

An event is judged against the habit learned from the events before it, and only once the
habit was seen ``MIN_HABIT`` times (the first events of a subject teach, they are not
judged). Only JSON objects have a shape: other payloads (not JSON, arrays, scalars, over
``MAX_BYTES``, over ``MAX_FIELDS`` fields) are neither learned nor judged.

Memory is bounded: each subject counts at most ``MAX_SHAPES`` shapes (a new shape past it
takes the place of the least counted one other than the habit, and starts from 1: payloads
with a new shape each time, such as ids as field names, never push out the habit), and at
most ``MAX_SUBJECTS`` subjects are learned; events of later subjects are not judged
(``untracked`` counts them).
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["MIN_HABIT", "Shape", "ShapeHabits", "could_be_object", "describe", "shape_of"]

Shape = tuple[tuple[str, str], ...]
SubjectKey = tuple[str, str]

MIN_HABIT = 3
MAX_BYTES = 1 << 20
MAX_FIELDS = 256
MAX_SHAPES = 8
MAX_SUBJECTS = 10_000

_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_SPACE = b" \t\r\n"
#: Shapes remembered by ``shape_of`` (raw names and types -> the sorted shape), of objects
#: with at most ``CACHE_FIELDS`` fields; cleared when full, so payloads with ever new field
#: names cannot grow it (a few MB at most).
CACHE_SIZE = 1024
CACHE_FIELDS = 32
_CACHE: dict[tuple[tuple[str, ...], tuple[type, ...]], Shape] = {}
#: One tuple per distinct shape (so the habit's check is ``shape is mode``), bounded too.
_CANON: dict[Shape, Shape] = {}


def could_be_object(payload: bytes | None) -> bool:
    """Whether ``payload`` can be a JSON object at all (its first non-space byte is ``{``
    and it is not too long): the check before any parse, a few tens of nanoseconds."""
    if not payload or len(payload) > MAX_BYTES:
        return False
    first = payload[:1]
    return first == b"{" or (first in _SPACE and payload.lstrip(_SPACE)[:1] == b"{")


def shape_of(payload: bytes | None) -> Shape | None:
    """The field names and JSON types of a JSON object payload, sorted by name; else None.

    Equal shapes come back as the same tuple (a bounded cache keyed by the field names in
    payload order and the value types), so the habit's check is mostly an identity test
    and the sort runs once per shape, not once per event."""
    if payload is None or not could_be_object(payload):
        return None
    try:
        doc: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or len(doc) > MAX_FIELDS:
        return None
    if len(doc) > CACHE_FIELDS:
        return tuple(sorted((name, _TYPES.get(type(v), "number")) for name, v in doc.items()))
    raw = (tuple(doc), tuple(map(type, doc.values())))
    shape = _CACHE.get(raw)
    if shape is None:
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.clear()
            _CANON.clear()
        names, types = raw
        made = tuple(sorted(zip(names, [_TYPES.get(t, "number") for t in types], strict=True)))
        shape = _CACHE[raw] = _CANON.setdefault(made, made)
    return shape


def describe(habit: Shape, shape: Shape) -> str:
    """How ``shape`` differs from ``habit``: ``missing: email; added: mail; type: amount
    number→string`` (only the parts that apply, names in sorted order)."""
    want, got = dict(habit), dict(shape)
    missing = [name for name in want if name not in got]
    added = [name for name in got if name not in want]
    changed = [f"{n} {want[n]}→{got[n]}" for n in want if n in got and got[n] != want[n]]
    parts = []
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if added:
        parts.append("added: " + ", ".join(added))
    if changed:
        parts.append("type: " + ", ".join(changed))
    return "; ".join(parts)


class _Habit:
    __slots__ = ("counts", "mode")

    def __init__(self) -> None:
        self.counts: dict[Shape, int] = {}
        self.mode: Shape | None = None


class ShapeHabits:
    """Each subject's shape counts and most common shape, within the module doc's bounds."""

    __slots__ = ("_habits", "max_shapes", "max_subjects", "min_habit", "untracked")

    def __init__(
        self,
        *,
        min_habit: int = MIN_HABIT,
        max_shapes: int = MAX_SHAPES,
        max_subjects: int = MAX_SUBJECTS,
    ) -> None:
        if max_shapes < 2:
            raise ValueError("max_shapes must be at least 2 (the habit and a newcomer)")
        self.min_habit = min_habit
        self.max_shapes = max_shapes
        self.max_subjects = max_subjects
        self._habits: dict[SubjectKey, _Habit] = {}
        #: Events not judged because their subject came past ``max_subjects``.
        self.untracked = 0

    def habit(self, key: SubjectKey) -> Shape | None:
        """The most common shape on ``key`` so far (None before any JSON object)."""
        habit = self._habits.get(key)
        return None if habit is None else habit.mode

    def shapes_counted(self, key: SubjectKey) -> int:
        """How many shapes ``key`` has counts for (``max_shapes`` at most)."""
        habit = self._habits.get(key)
        return 0 if habit is None else len(habit.counts)

    def judge(self, key: SubjectKey, shape: Shape) -> str | None:
        """How ``shape`` drifts from ``key``'s habit (None: it does not, or no habit yet);
        then count it, which may make it the habit."""
        habit = self._habits.get(key)
        if habit is None:
            if len(self._habits) >= self.max_subjects:
                self.untracked += 1
                return None
            habit = self._habits[key] = _Habit()
        counts, mode = habit.counts, habit.mode
        if shape is mode:  # the common case: the habit again (shape_of's tuples are shared)
            counts[shape] += 1
            return None
        drift = None
        if mode is not None and shape != mode and counts[mode] >= self.min_habit:
            drift = describe(mode, shape) or None
        if shape not in counts and len(counts) >= self.max_shapes:
            del counts[min((s for s in counts if s != mode), key=counts.__getitem__)]
        counts[shape] = n = counts.get(shape, 0) + 1
        if mode is None or (shape != mode and n > counts[mode]):
            habit.mode = shape
        elif shape == mode:
            habit.mode = shape  # the same shape, another tuple: the next check is ``is``
        return drift
