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

from typing import TYPE_CHECKING

from evmon.lazy import lazy_exports

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

#: The submodule that defines each public name.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    globals(),
    {
        "display": [
            "PayloadKind",
            "classify",
            "hexdump",
            "pretty",
            "preview",
            "safe_text",
            "text_line",
        ],
        "record": [
            "RecordError",
            "decode_record",
            "encode_record",
            "encode_records",
            "terminal_json",
        ],
        "timestamps": ["format_timestamp", "parse_timestamp"],
    },
)
