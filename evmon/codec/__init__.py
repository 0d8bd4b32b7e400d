"""What is in a payload: timestamps, the JSONL record, and showing broker data safely.

- ``timestamps``: RFC 3339 text of an event time, both ways (no orjson, no regex at import).
- ``record``: the JSONL event record (encode/decode, the batch fast path) and
  ``terminal_json``.
- ``display``: ``safe_text``, previews, the ``tail --format text`` line, the detail view.

The package root re-exports the public names but loads a submodule only when one of its
names is first used (PEP 562), so ``from evmon.codec import parse_timestamp`` does not load
orjson and the record code. Code on a hot or lean path (``evmon tail``, the stuck-consumer
report, the one-line error printer) imports from the submodule directly, which says what it
needs and skips this indirection.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evmon.codec.display import PayloadKind as PayloadKind
    from evmon.codec.display import classify as classify
    from evmon.codec.display import hexdump as hexdump
    from evmon.codec.display import pretty as pretty
    from evmon.codec.display import preview as preview
    from evmon.codec.display import safe_text as safe_text
    from evmon.codec.display import text_line as text_line
    from evmon.codec.record import RecordError as RecordError
    from evmon.codec.record import decode_record as decode_record
    from evmon.codec.record import encode_record as encode_record
    from evmon.codec.record import encode_records as encode_records
    from evmon.codec.record import terminal_json as terminal_json
    from evmon.codec.timestamps import format_timestamp as format_timestamp
    from evmon.codec.timestamps import parse_timestamp as parse_timestamp

#: Public name -> the submodule that defines it.
_HOME = {
    "PayloadKind": "display",
    "classify": "display",
    "hexdump": "display",
    "pretty": "display",
    "preview": "display",
    "safe_text": "display",
    "text_line": "display",
    "RecordError": "record",
    "decode_record": "record",
    "encode_record": "record",
    "encode_records": "record",
    "terminal_json": "record",
    "format_timestamp": "timestamps",
    "parse_timestamp": "timestamps",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
