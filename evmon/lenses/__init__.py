"""Lenses: what the stream says about its producers, judged as events arrive.

- the duplicate lens (``dedupe``): an event whose identity (``--dedupe-key``) was already
  seen on its subject or topic is a duplicate; a copy re-published by evmon is a replay;
- the drift lens (``drift``): an event whose JSON shape differs from its subject's most
  common one drifts, and the lens says how.

``Lens`` (``lens.py``) holds both and the verdicts the filter terms ``dup`` and ``drift``,
the event list and the detail pane read; on a flood the dashboard judges drift on a
spread sample as events arrive and on the rest when they are first asked about (painted,
in the detail, tested by ``drift``), see ``lens.py``. Headless: no Textual, no broker client.
"""

from __future__ import annotations

from evmon.lenses.dedupe import (
    PROVENANCE_HEADER,
    DedupeKeyError,
    Identity,
    SeenIdentities,
    parse_dedupe_key,
)
from evmon.lenses.drift import ShapeHabits, describe, shape_of
from evmon.lenses.lens import LENS_TERMS, Lens, Verdict

__all__ = [
    "LENS_TERMS",
    "PROVENANCE_HEADER",
    "DedupeKeyError",
    "Identity",
    "Lens",
    "SeenIdentities",
    "ShapeHabits",
    "Verdict",
    "describe",
    "parse_dedupe_key",
    "shape_of",
]
