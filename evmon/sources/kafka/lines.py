"""JSONL records written straight from Kafka wire records, without an ``Event`` each.

``evmon tail --format jsonl`` with nothing to judge (no filter, no lens) is the one reader
that needs no ``Event``: it writes a line per record and forgets it. ``encode_run`` writes
the common record (a one-line JSON value, no headers, a UTF-8 or absent key, a broker time)
from the wire record's own fields, byte for byte what ``codec.encode_records`` writes for the
record's ``Event`` (``tests/test_kafka_lines.py`` checks it on a fuzzed corpus); every other
record becomes its ``Event`` (``records.wire_event``) and goes to the caller's encoder. The
timestamp is Kafka's integer milliseconds, so its text needs no float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from evmon.codec.record import _MILLIS_B, head_of
from evmon.codec.timestamps import _second_text
from evmon.model import Event
from evmon.sources.kafka.records import wire_event

__all__ = ["encode_run"]

#: The latest millisecond RFC 3339 can write (codec.timestamps._MAX_TS, as an int).
_MAX_MS = 253_402_300_799_999
_JSON_OPEN = frozenset(b"{[")
_CACHE_MAX = 4096
#: The part of a record from ``headers`` to ``data`` by payload size (bounded).
_sizes: dict[int, bytes] = {}


def encode_run(
    topic: str,
    partition: int,
    run: Sequence[Any],
    append: Callable[[bytes], None],
    general: Callable[[Event], None],
) -> int:
    """Append the JSONL record (no newline) of each wire record in ``run`` to ``append``, in
    order; a record off the common path goes to ``general`` as its ``Event`` instead (which
    appends its line, or says why it cannot). Returns how many items of ``run`` were no
    record at all (left out)."""
    loads, dumps, bad_json = orjson.loads, orjson.dumps, orjson.JSONDecodeError
    join, json_open, millis, sizes, max_ms = b"".join, _JSON_OPEN, _MILLIS_B, _sizes, _MAX_MS
    head = head_of("kafka", topic, None, partition)
    failed = 0
    last_ms: int | None = None  # not -1: that is Kafka's "no timestamp"
    last_sec = -1
    last_text = stamp = stamp_null = b""
    for r in run:
        try:
            value = r.value
            # 10 and 13, not b"\n": int membership is a memchr, 10x faster.
            if not value or value[0] not in json_open or 10 in value or 13 in value or r.headers:
                general(wire_event(topic, partition, r))
                continue
            ms = r.timestamp
            if ms != last_ms:  # the records of a batch often share their millisecond
                if not 0 <= ms <= max_ms:  # no broker time, or past what RFC 3339 writes
                    general(wire_event(topic, partition, r))
                    continue
                sec = ms // 1000
                if sec != last_sec:
                    last_sec, last_text = sec, _second_text(sec).encode()
                last_ms = ms
                stamp = join((b',"timestamp":"', last_text, millis[ms - sec * 1000], b'","key":'))
                stamp_null = stamp + b"null"
            loads(value)
            key = r.key
            offset = r.offset
            n = len(value)
            size = sizes.get(n)
            if size is None:
                if len(sizes) >= _CACHE_MAX:
                    sizes.clear()
                size = sizes[n] = b',"headers":[],"size":%d,"data":' % n
            data = dumps(value.decode())
            if key is None:
                append(
                    join((head, b"%d" % offset, stamp_null, size, data, b',"json":', value, b"}"))
                )
            else:
                key_json = dumps(key.decode())
                append(
                    join(
                        (
                            head,
                            b"%d" % offset,
                            stamp,
                            key_json,
                            size,
                            data,
                            b',"json":',
                            value,
                            b"}",
                        )
                    )
                )
        except (bad_json, UnicodeDecodeError):  # not JSON, or a key_b64: the general path
            general(wire_event(topic, partition, r))
        except Exception:  # not a record at all: nothing to show
            failed += 1
    return failed
