"""Every private part of nats-py and aiokafka that evmon hooks, one broker-free test each.

evmon's speed and exactness rest on internals no version promises to keep (pyproject.toml
bounds both libraries for that reason). Each test is named after the hook and checks what
evmon relies on: the attribute exists, its signature takes the arguments evmon calls it with,
and, where cheap, the library's own code still makes the call evmon's override sits in (by
``inspect.getsource``) or the hook still behaves as evmon expects on hand-fed input. A new
library version that moves a hook fails here in milliseconds, by name, instead of as a 30 s
wait timeout in a broker test.

The hooks, by evmon module (the only modules that touch them):

- ``evmon/sources/nats/wire.py``: ``RawHeaderClient`` overrides ``Client._process_msg``
  (parser-side delivery, ``deliver_directly(sid_of(sub), ...)`` with ``Subscription._id``),
  ``_process_headers`` and ``_build_message`` (the raw header block, non-UTF-8 subjects),
  ``_process_op_err`` (why a connection was lost), reads ``_server_info`` and replaces
  ``_ps`` with a ``Parser`` subclass fed by ``_read_loop`` (slow-consumer cut-offs, see
  ``evmon/sources/nats/cutoffs.py``); ``publish_raw`` builds HPUB/PUB with
  ``nats.protocol.command`` and queues it with ``Client._send_command``, waking the flusher
  like ``Client.publish`` (``_flush_queue``, ``_flush_pending``).
- ``evmon/sources/kafka/records.py``: replaces ``PartitionRecords._unpack_records`` with a
  copy that yields runs of wire records, keyed on ``_value_deserializer`` (the records'
  end-to-end check against a broker is ``tests/test_kafka_records.py``).
- ``evmon/sources/kafka/protocol.py``: ``AIOKafkaConsumer._client`` (``consumer_client``:
  ``fetch_all_metadata``, ``send``); hand-built protocol requests sent with
  ``AIOKafkaClient.send`` (``Request.prepare``/``build``, the response layouts
  ``group_lag.py`` unpacks by position, the flexible-version types of ConsumerGroupDescribe
  v0).
- ``evmon/sources/kafka/client.py``: the per-host bootstrap errors aiokafka only logs.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest

# --------------------------------------------------------------------------- helpers


def params(func: Callable[..., Any]) -> list[str]:
    """The parameter names of ``func`` (``self`` included for plain functions)."""
    return list(inspect.signature(func).parameters)


def source(obj: Any) -> str:
    return inspect.getsource(obj)


def field_names(schema: Any) -> list[str]:
    return list(schema.names)


def array_item_names(schema: Any, name: str) -> list[str]:
    """Field names of the items of array field ``name`` of a protocol ``Schema``."""
    field = schema.fields[list(schema.names).index(name)]
    item = getattr(field, "array_of", field)
    return list(item.names)


# --------------------------------------------------------------------------- nats-py: reading


def test_nats_client_process_msg() -> None:
    """The parser hands every MSG/HMSG to ``Client._process_msg(sid, subject, reply, data,
    headers)``; RawHeaderClient intercepts it for direct subscriptions and counts
    ``stats["in_msgs"]``/``["in_bytes"]`` as nats-py does."""
    from nats.aio.client import Client
    from nats.protocol.parser import Parser

    from evmon.sources.nats.wire import RawHeaderClient

    assert params(Client._process_msg) == ["self", "sid", "subject", "reply", "data", "headers"]
    assert "_process_msg" in RawHeaderClient.__dict__
    assert "self.nc._process_msg(sid, subject, reply, payload, hdr)" in source(Parser.parse)
    body = source(Client._process_msg)
    assert 'self.stats["in_msgs"] += 1' in body and 'self.stats["in_bytes"]' in body
    assert "sub = self._subs.get(sid)" in body
    assert {"in_msgs", "in_bytes"} <= set(Client().stats)


async def test_nats_parser_side_delivery() -> None:
    """Bytes fed to the client's parser reach a ``deliver_directly`` handler as
    ``(subject, data, raw header block)``, with nothing queued through nats-py."""
    from evmon.sources.nats.wire import RawHeaderClient

    nc = RawHeaderClient()
    got: list[tuple[bytes, bytes, Any]] = []
    nc.deliver_directly(7, lambda s, d, h: got.append((s, d, h)))
    block = b"NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n"
    await nc._ps.parse(b"MSG a.b 7 5\r\nhello\r\n")
    hmsg = b"HMSG c.d 7 %d %d\r\n%sxy\r\n" % (len(block), len(block) + 2, block)
    await nc._ps.parse(hmsg)
    assert [(s, d, h or b"") for s, d, h in got] == [
        (b"a.b", b"hello", b""),
        (b"c.d", b"xy", block),
    ]
    assert nc.stats["in_msgs"] == 2 and nc.stats["in_bytes"] == 7
    nc.stop_direct(7)
    await nc._ps.parse(b"MSG a.b 7 1\r\nx\r\n")  # no subscription 7 in nats-py: dropped there
    assert len(got) == 2


def test_nats_subscription_id() -> None:
    """``deliver_directly(sid_of(sub), ...)``: the sid the parser passes is the ``_id`` of
    the ``Subscription`` ``Client.subscribe`` registered under it."""
    from nats.aio.client import Client
    from nats.aio.subscription import Subscription

    from evmon.sources.nats.wire import sid_of

    assert params(Subscription.__init__)[:3] == ["self", "conn", "id"]
    assert Subscription(Client(), 42, "x")._id == 42
    assert sid_of(Subscription(Client(), 42, "x")) == 42
    assert "self._subs[sid] = sub" in source(Client.subscribe)


async def test_nats_client_process_headers_and_build_message() -> None:
    """``_process_msg`` parses headers then builds the message, one right after the other
    (RawHeaderClient keeps the raw block in one slot between the two); ``msg_class`` takes
    the keywords evmon's non-UTF-8 fallback passes, and a ``Msg`` takes ``raw_headers``."""
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from evmon.sources.nats.wire import RawHeaderClient

    assert params(Client._process_headers) == ["self", "headers"]
    assert params(Client._build_message) == ["self", "sid", "subject", "reply", "data", "headers"]
    body = source(Client._process_msg)
    parse_at = body.index("hdr = await self._process_headers(headers)")
    build_at = body.index("msg = self._build_message(sid, subject, reply, data, hdr)")
    assert parse_at < build_at and "await" not in body[parse_at + 40 : build_at]
    assert Client.msg_class is Msg
    assert {"subject", "reply", "data", "headers", "_client", "_sid"} <= set(params(Msg))

    nc = RawHeaderClient()
    block = b"NATS/1.0\r\nX: 1\r\nX: 2\r\n\r\n"
    hdr = await nc._process_headers(block)
    msg = nc._build_message(3, b"a.b", b"", b"d", hdr)
    assert msg.raw_headers == block and msg.subject == "a.b" and msg.headers
    plain = nc._build_message(3, b"a.\xff", b"", b"d", await nc._process_headers(b""))
    assert plain.subject == "a.\udcff" and plain.raw_headers == b"" and plain.sid == 3


def test_nats_client_process_op_err() -> None:
    """nats-py calls ``_process_op_err`` for a stale connection (and never tells
    ``disconnected_cb`` why); RawHeaderClient overrides it to say so."""
    from nats.aio.client import Client

    from evmon.sources.nats.wire import RawHeaderClient

    assert callable(getattr(Client, "_process_op_err", None))
    assert params(Client._process_op_err) == ["self", "e"]
    assert "_process_op_err" in RawHeaderClient.__dict__
    assert "_process_op_err(ErrStaleConnection())" in source(Client._ping_interval)
    assert "_process_op_err(err)" in source(Client._read_loop)  # the EOF path


def test_nats_client_read_loop_and_parser() -> None:
    """The slow-consumer detection: ``_read_loop`` reads ``DEFAULT_BUFFER_SIZE`` and feeds
    ``self._ps.parse``; ``_ps`` is made once, in ``__init__``, from ``Parser(self)``, so
    RawHeaderClient's replacement stays for the client's life (reconnects only reset it)."""
    import nats.aio.client
    from nats.aio.client import DEFAULT_BUFFER_SIZE, Client
    from nats.protocol.parser import Parser

    from evmon.sources.nats.wire import RawHeaderClient, _CountingParser

    assert isinstance(DEFAULT_BUFFER_SIZE, int) and DEFAULT_BUFFER_SIZE > 0
    loop_source = source(Client._read_loop)
    assert "read(DEFAULT_BUFFER_SIZE)" in loop_source and "self._ps.parse(" in loop_source
    assert "UnexpectedEOF" in loop_source and "_error_cb" in loop_source
    assert source(nats.aio.client).count("Parser(") == 1
    assert "self._ps: Parser = Parser(self)" in source(Client.__init__)
    assert params(Parser.__init__) == ["self", "nc"] and params(Parser.parse) == ["self", "data"]
    assert callable(Parser.reset)
    assert isinstance(RawHeaderClient()._ps, _CountingParser)


def test_nats_parser_buffer_and_state() -> None:
    """``_CountingParser.parse`` reads whole MSG/HMSG messages off nats-py's ``Parser.buf``
    (a bytearray) itself and hands every other line to nats-py's ``parse``, only while
    ``state`` is ``AWAITING_CONTROL_LINE``; nats-py's own code changes state only after it
    consumed a MSG/HMSG line, and ``reset`` replaces the buffer."""
    from nats.protocol import parser

    assert (parser.AWAITING_CONTROL_LINE, parser.AWAITING_MSG_PAYLOAD) == (1, 2)
    assert parser.CRLF_SIZE == 2
    p = parser.Parser()
    assert isinstance(p.buf, bytearray) and p.state == parser.AWAITING_CONTROL_LINE
    body = source(parser.Parser.parse)
    assert "self.buf.extend(data)" in body and "while self.buf:" in body
    assert body.count("self.state = AWAITING_MSG_PAYLOAD") == 2
    assert "self.buf = bytearray()" in source(parser.Parser.reset)


async def test_nats_parser_counts_full_reads() -> None:
    """Moved from test_slow_consumer.py: full buffers fed to the parser make the client
    ``was_behind``; one run too short does not."""
    from nats.aio.client import DEFAULT_BUFFER_SIZE

    from evmon.sources.nats.wire import BEHIND_READS, RawHeaderClient

    nc = RawHeaderClient()
    assert nc.server_id == "" and not nc.was_behind()
    full = b"+OK\r\n" * (DEFAULT_BUFFER_SIZE // 5 + 1)  # protocol lines that need no reply
    for _ in range(BEHIND_READS):
        await nc._ps.parse(full)
    await nc._ps.parse(b"+OK\r\n")  # a backlog ends with a short read
    assert nc.was_behind()
    fresh = RawHeaderClient()
    for _ in range(BEHIND_READS - 1):
        await fresh._ps.parse(full)
    await fresh._ps.parse(b"+OK\r\n")
    assert not fresh.was_behind()


def test_nats_client_server_info() -> None:
    """``RawHeaderClient.server_id`` reads the INFO dict nats-py stores on ``_server_info``."""
    from nats.aio.client import Client

    from evmon.sources.nats.wire import RawHeaderClient

    assert Client()._server_info == {}
    assert "self._server_info = srv_info" in source(Client._process_connect_init)
    nc = RawHeaderClient()
    nc._server_info = {"server_id": "NABC"}
    assert nc.server_id == "NABC"


def test_nats_unexpected_eof_is_a_stale_connection() -> None:
    """``describe_nats_error`` tests ``UnexpectedEOF`` before ``StaleConnectionError``
    because the first subclasses the second."""
    import nats.errors

    assert issubclass(nats.errors.UnexpectedEOF, nats.errors.StaleConnectionError)


async def test_nats_parser_side_jetstream_delivery() -> None:
    """``deliver_js_directly``: the parser hands a push subscription's data, flow-control and
    heartbeat messages to the handler with the reply subject; a handler that raises leaves
    direct delivery (``on_fault`` once) and the read loop goes on."""
    from evmon.sources.nats.wire import RawHeaderClient

    nc = RawHeaderClient()
    got: list[tuple[bytes, bytes, bytes, bytes]] = []
    faults: list[BaseException] = []
    nc.deliver_js_directly(9, lambda s, r, d, h: got.append((s, r, d, h)), faults.append)
    ack = b"$JS.ACK.S.C.1.5.1.1700000000000000000.0"
    await nc._ps.parse(b"MSG a.b 9 %s 2\r\nhi\r\n" % ack)
    fc = b"NATS/1.0 100 FlowControl Request\r\n\r\n"
    await nc._ps.parse(b"HMSG _INBOX.x 9 $JS.FC.S.x.1 %d %d\r\n%s\r\n" % (len(fc), len(fc), fc))
    assert got == [(b"a.b", ack, b"hi", b""), (b"_INBOX.x", b"$JS.FC.S.x.1", b"", fc)]
    nc.deliver_js_directly(9, lambda s, r, d, h: 1 // 0, faults.append)
    await nc._ps.parse(b"MSG a.b 9 %s 2\r\nhi\r\n" % ack)
    assert len(faults) == 1 and nc.direct_faults == 1
    await nc._ps.parse(b"MSG a.b 9 %s 2\r\nhi\r\n" % ack)  # no longer direct: dropped
    assert len(faults) == 1


def test_nats_ordered_consumer_config_and_error_cb() -> None:
    """``OrderedRead`` creates the consumer nats-py's ``js.subscribe(ordered_consumer=True)``
    creates (the settings below are nats-py's own lines), re-creates it the way its
    ``_JSI.reset_ordered_consumer`` does, and reports a failed re-creation through
    ``Client._error_cb`` (``report_error``) as ``_JSI.recreate_consumer`` does. The ack
    subject layout it parses is the one ``Msg.Metadata`` reads."""
    import nats.js.api
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from evmon.sources.nats.ordered import HEARTBEAT, ordered_config
    from evmon.sources.nats.wire import report_error

    body = source(JetStreamContext.subscribe)
    for line in (
        "config.flow_control = True",
        "config.ack_policy = api.AckPolicy.NONE",
        "config.max_deliver = 1",
        "config.ack_wait = 22 * 3600  # 22 hours",
        "config.num_replicas = 1",
        "config.mem_storage = True",
        "idle_heartbeat = config.idle_heartbeat or 5",
    ):
        assert line in body, line
    assert HEARTBEAT == 5
    reset = source(JetStreamContext._JSI.reset_ordered_consumer)
    assert "config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE" in reset
    assert "config.opt_start_seq = sseq" in reset
    assert "await self._conn._error_cb(err)" in source(JetStreamContext._JSI.recreate_consumer)
    config = ordered_config(nats.js.api.ConsumerConfig(filter_subject="a.>"))
    assert (config.ack_policy, config.max_deliver, config.flow_control) == (
        nats.js.api.AckPolicy.NONE, 1, True,
    )  # fmt: skip
    assert config.idle_heartbeat == 5 and config.mem_storage and config.num_replicas == 1
    assert "self._error_cb = error_cb or _default_error_callback" in source(Client.connect)
    assert params(report_error) == ["nc", "err"]
    meta = Msg.Metadata._from_reply("$JS.ACK.S.C.1.5.7.1700000000000000000.3")
    assert (meta.sequence.stream, meta.sequence.consumer, meta.num_pending) == (5, 7, 3)


# --------------------------------------------------------------------------- nats-py: publishing


def test_nats_protocol_pub_and_hpub_commands() -> None:
    """``publish_raw`` builds its commands with nats-py's own protocol helpers."""
    from nats.protocol import command

    assert params(command.pub_cmd) == ["subject", "reply", "payload"]
    assert params(command.hpub_cmd) == ["subject", "reply", "hdr", "payload"]
    block = b"NATS/1.0\r\nH: 1\r\n\r\n"
    assert command.hpub_cmd("a", "", block, b"xy") == b"HPUB a  %d %d\r\n%sxy\r\n" % (
        len(block),
        len(block) + 2,
        block,
    )


def test_nats_client_send_command_and_flush_pending() -> None:
    """``publish_raw`` takes the two steps ``Client.publish`` takes after encoding:
    ``_send_command(cmd)``, then wakes the flusher when nothing else is queued."""
    from nats.aio.client import Client

    assert params(Client._send_command)[:2] == ["self", "cmd"]
    assert params(Client._flush_pending) == ["self", "force_flush"]
    body = source(Client._send_publish)
    assert "await self._send_command(pub_cmd)" in body
    assert "if self._flush_queue is not None and self._flush_queue.empty():" in body
    assert "await self._flush_pending()" in body
    assert Client()._flush_queue is None  # publish_raw's "not connected yet" case


async def test_nats_publish_raw_queues_the_exact_command() -> None:
    """``publish_raw`` on a client that has not connected: the exact HPUB sits in nats-py's
    pending buffer (repeated header names, raw bytes), nothing else."""
    from nats.aio.client import Client

    from evmon.sources.nats.wire import nats_header_block, publish_raw

    nc = Client()
    headers = (("H", b"1"), ("H", b"\xff"))
    await publish_raw(nc, "a.b", b"payload", headers)
    block = nats_header_block(headers)
    assert nc._pending == [
        b"HPUB a.b  %d %d\r\n%spayload\r\n" % (len(block), len(block) + 7, block)
    ]


# --------------------------------------------------------------------------- aiokafka: records


#: sha256 of aiokafka's ``PartitionRecords._unpack_records`` source that ``records._runs``
#: copies (aiokafka 0.14.0). A new aiokafka that changes it fails here: compare the two,
#: carry the change over to ``_runs``, then update the digest.
UNPACK_RECORDS_SHA256 = "b803e6d46480732c7a7faa8e784b338bcdd4e707ea67fba96c013654b04b8a08"


def test_aiokafka_partition_records_unpack_records() -> None:
    """The generator aiokafka builds every ``PartitionRecords``' iterator from (in its
    ``__init__``): evmon's ``_runs_or_records`` replaces it, keyed on the consumer's
    ``_value_deserializer``, which the Fetcher passes to every ``PartitionRecords``; for
    evmon's consumers it runs ``_runs``, a copy of the original's loop over the batches."""
    import hashlib

    from aiokafka.consumer import fetcher

    from evmon.sources.kafka import records as kafka_records

    assert fetcher.PartitionRecords._unpack_records is kafka_records._runs_or_records
    original = kafka_records._unpack_records
    assert params(original) == ["self"]
    text = source(original)
    assert hashlib.sha256(text.encode()).hexdigest() == UNPACK_RECORDS_SHA256, text
    init = source(fetcher.PartitionRecords.__init__)
    assert "self._records_iterator = self._unpack_records()" in init
    assert "self._value_deserializer = value_deserializer" in init
    assert "self._value_deserializer," in source(fetcher.Fetcher)
    for name in ("_consume_aborted_up_to", "_contains_abort_marker", "__next__"):
        assert callable(getattr(fetcher.PartitionRecords, name))
    assert fetcher.READ_COMMITTED == 1
    getall = source(fetcher.FetchResult.getall)
    assert "for msg in self._partition_records:" in getall  # max_records counts runs
    assert "len(ret_list) >= max_records" in getall


def _batch(records: list[tuple[int, int, bytes | None, bytes | None, list[Any]]]) -> bytes:
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 22)
    for offset, ms, key, value, headers in records:
        builder.append(offset, ms, key, value, headers)
    return bytes(builder.build())


def _with_base_offset(raw: bytes, base: int) -> bytes:
    import struct

    return struct.pack(">q", base) + raw[8:]


def _partition_records(raw: bytes, deserializer: Any, fetch_offset: int = 0) -> Any:
    from aiokafka.consumer import fetcher
    from aiokafka.record.memory_records import MemoryRecords
    from aiokafka.structs import TopicPartition

    return fetcher.PartitionRecords(
        TopicPartition("t", 3),
        MemoryRecords(raw),
        [],
        fetch_offset,
        None,
        deserializer,
        True,
        fetcher.READ_UNCOMMITTED,
    )


def test_aiokafka_partition_records_yield_runs() -> None:
    """Real record batches through the unpacking: ``AS_RUNS`` gives ``RecordRun``s of wire
    records (the same offsets, keys, values and headers), any other deserializer
    aiokafka's own ``ConsumerRecord``s."""
    from aiokafka.structs import ConsumerRecord

    from evmon.model import Event
    from evmon.sources.kafka.records import AS_RUNS, RecordRun, run_events

    raw = _batch(
        [
            (0, 1_700_000_000_123, b"k", b"v", [("h", b"1"), ("h", b"2")]),
            (1, 1_700_000_000_124, None, None, []),
        ]
    )
    runs = list(_partition_records(raw, AS_RUNS))
    assert [type(r) for r in runs] == [RecordRun]
    assert [(r.offset, r.key, r.value, r.headers) for r in runs[0]] == [
        (0, b"k", b"v", [("h", b"1"), ("h", b"2")]),
        (1, None, None, []),
    ]
    assert run_events("t", 3, runs[0]) == (
        [
            Event(
                "kafka", "t", b"v", 1_700_000_000.123, (("h", b"1"), ("h", b"2")), b"k", None, 3, 0
            ),
            Event("kafka", "t", None, 1_700_000_000.124, (), None, None, 3, 1),
        ],
        0,
    )
    plain = list(_partition_records(raw, None))
    assert all(type(r) is ConsumerRecord for r in plain)
    assert [(r.offset, r.key, r.value, r.headers) for r in plain] == [
        (0, b"k", b"v", (("h", b"1"), ("h", b"2"))),
        (1, None, None, ()),
    ]


def test_aiokafka_runs_keep_the_fetch_position() -> None:
    """Runs of at most ``RUN_RECORDS``, records below the fetch offset left out, and the
    position after each run where aiokafka's own unpacking keeps it (``FetchResult`` reads
    it when ``max_records`` stops a ``getall`` between runs)."""
    from evmon.sources.kafka.records import AS_RUNS, RUN_RECORDS

    n = 2 * RUN_RECORDS + 5
    first = _batch([(i, 1_700_000_000_000 + i, None, b"%d" % i, []) for i in range(n)])
    second = _with_base_offset(_batch([(0, 1_700_000_001_000, None, b"next", [])]), n + 10)
    records = _partition_records(first + second, AS_RUNS, fetch_offset=3)
    positions = []
    sizes = []
    for run in records:
        sizes.append(len(run))
        positions.append(records.next_fetch_offset)
    assert sizes == [RUN_RECORDS - 3, RUN_RECORDS, 5, 1]
    assert positions == [RUN_RECORDS, 2 * RUN_RECORDS, n, n + 11]
    plain = _partition_records(first + second, None, fetch_offset=3)
    assert [r.offset for r in plain][:2] == [3, 4]
    assert plain.next_fetch_offset == n + 11


async def test_aiokafka_consumer_fetcher_value_deserializer() -> None:
    """``records.stop_runs`` turns the patch off for one consumer by clearing the
    deserializer its ``Fetcher`` hands to each ``PartitionRecords`` it builds next."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer import fetcher

    assert "self._fetcher = Fetcher(" in source(AIOKafkaConsumer.start)
    assert "value_deserializer=self._value_deserializer," in source(AIOKafkaConsumer.start)
    assert "self._value_deserializer = value_deserializer" in source(fetcher.Fetcher.__init__)
    assert AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")._fetcher is None
    assert "del self._records[tp]" in source(fetcher.Fetcher.seek_to)  # seek drops a batch


# --------------------------------------------------------------------------- aiokafka: clients


async def test_aiokafka_consumer_client() -> None:
    """``consumer._client.fetch_all_metadata()`` (``protocol.consumer_client``): one
    metadata request over the consumer's own client."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.client import AIOKafkaClient

    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", group_id=None)
    assert isinstance(consumer._client, AIOKafkaClient)
    assert inspect.iscoroutinefunction(AIOKafkaClient.fetch_all_metadata)
    assert params(AIOKafkaClient.fetch_all_metadata) == ["self"]
    assert "self._client = AIOKafkaClient(" in source(AIOKafkaConsumer.__init__)
    await asyncio.sleep(0)  # nothing to stop: the consumer never started


def test_aiokafka_client_send_and_bootstrap_errors() -> None:
    """group_lag.py's client calls, and the per-host bootstrap errors ``bootstrap_errors``
    collects from the ``aiokafka`` logger (the exception is a log argument)."""
    from aiokafka.client import AIOKafkaClient
    from aiokafka.conn import AIOKafkaConnection

    assert params(AIOKafkaClient.send)[:3] == ["self", "node_id", "request"]
    assert params(AIOKafkaClient.get_random_node) == ["self"]
    assert params(AIOKafkaClient.bootstrap) == ["self"]
    assert "metadata_max_age_ms" in params(AIOKafkaClient.__init__)
    assert "request_struct = request.prepare(self._versions)" in source(AIOKafkaConnection.send)
    assert "log.error('Unable connect to \"%s:%s\": %s', host, port, err)" in source(
        AIOKafkaClient.bootstrap
    )


# --------------------------------------------------------------------------- aiokafka: protocol


def test_aiokafka_protocol_request_api() -> None:
    """evmon's own requests subclass ``Request`` (``API_KEY``, ``build``) and
    ``RequestStruct`` (``FLEXIBLE_VERSION``, ``RESPONSE_TYPE``, ``SCHEMA``); ``prepare``
    picks the struct from the broker's versions, as the connection does."""
    from aiokafka.protocol.api import Request

    from evmon.sources.kafka.protocol import ConsumerGroupDescribe, DescribeGroups

    assert params(Request.prepare) == ["self", "versions"]
    assert params(Request.build) == ["self", "request_struct_class"]
    described = DescribeGroups(["g"]).prepare({15: (0, 5)})
    assert described.API_VERSION == 3 and described.groups == ["g"]
    assert described.build_request_header(1, "evmon").encode()
    assert described.encode() == b"\x00\x00\x00\x01\x00\x01g\x00"
    cgd = ConsumerGroupDescribe(["g"]).prepare({69: (0, 1)})
    assert cgd.API_VERSION == 0 and cgd.FLEXIBLE_VERSION
    assert cgd.encode() == b"\x02\x02g\x00\x00"  # compact array/string, bool, tagged fields
    from aiokafka.errors import IncompatibleBrokerVersion

    with pytest.raises(IncompatibleBrokerVersion):  # a broker without ConsumerGroupDescribe
        ConsumerGroupDescribe(["g"]).prepare({15: (0, 5)})


def test_aiokafka_protocol_consumer_group_describe_types() -> None:
    """The flexible-version types the ConsumerGroupDescribe v0 response is decoded with
    round-trip, and the positions ``_describe_848`` unpacks hold what it expects."""
    from evmon.sources.kafka.protocol import ConsumerGroupDescribeResponseV0

    topic_id = bytes(range(16))
    member = (
        "m1", None, None, 5, "client", "/127.0.0.1", ["t"], None,
        ([(topic_id, "t", [0, 2], {})], {}),
        ([(topic_id, "t", [0, 2], {})], {}),
        {},
    )  # fmt: skip
    group = (0, None, "g", "Stable", 3, 3, "uniform", [member], -2147483648, {})
    resp = ConsumerGroupDescribeResponseV0(0, [group], {})
    back = ConsumerGroupDescribeResponseV0.decode(BytesIO(resp.encode()))
    (code, message, name, state, *_rest, members, _ops, _tags) = back.groups[0]
    assert (code, message, name, state, len(members)) == (0, None, "g", "Stable", 1)
    assert [(t, parts) for _tid, t, parts, _t in members[0][8][0]] == [("t", [0, 2])]


def test_aiokafka_protocol_response_layouts() -> None:
    """The responses group_lag.py unpacks by position, at every version a Kafka 4 broker
    may answer with (it dropped ListOffsets and OffsetFetch v0)."""
    from aiokafka.protocol.admin import (
        DescribeGroupsRequest_v3,
        DescribeGroupsResponse_v3,
        ListGroupsRequest,
    )
    from aiokafka.protocol.commit import OffsetFetchRequest
    from aiokafka.protocol.coordination import FindCoordinatorRequest
    from aiokafka.protocol.offset import OffsetRequest

    assert field_names(DescribeGroupsRequest_v3.SCHEMA) == [
        "groups",
        "include_authorized_operations",
    ]
    schema = DescribeGroupsResponse_v3.SCHEMA
    assert array_item_names(schema, "groups") == [
        "error_code", "group", "state", "protocol_type", "protocol", "members",
        "authorized_operations",
    ]  # fmt: skip
    groups = schema.fields[1].array_of
    assert array_item_names(groups, "members")[4] == "member_assignment"

    for struct in ListGroupsRequest._CLASSES:
        resp = struct.RESPONSE_TYPE.SCHEMA
        assert "error_code" in field_names(resp)
        assert array_item_names(resp, "groups") == ["group", "protocol_type"]
    assert params(FindCoordinatorRequest.__init__) == [
        "self",
        "coordinator_key",
        "coordinator_type",
    ]
    for struct in FindCoordinatorRequest._CLASSES:
        names = field_names(struct.RESPONSE_TYPE.SCHEMA)
        assert "error_code" in names and "coordinator_id" in names
    assert params(OffsetFetchRequest.__init__) == ["self", "consumer_group", "partitions"]
    for struct in OffsetFetchRequest._CLASSES:
        topics = struct.RESPONSE_TYPE.SCHEMA.fields[
            field_names(struct.RESPONSE_TYPE.SCHEMA).index("topics")
        ].array_of
        assert array_item_names(topics, "partitions") == [
            "partition",
            "offset",
            "metadata",
            "error_code",
        ]
    assert params(OffsetRequest.__init__) == ["self", "replica_id", "isolation_level", "topics"]
    for struct in OffsetRequest._CLASSES:
        if struct.API_VERSION == 0:
            continue  # Kafka 4 answers v1+
        resp = struct.RESPONSE_TYPE.SCHEMA
        topics = resp.fields[field_names(resp).index("topics")].array_of
        assert array_item_names(topics, "partitions")[:4] == [
            "partition",
            "error_code",
            "timestamp",
            "offset",
        ]


def test_aiokafka_consumer_protocol_member_assignment() -> None:
    """``decode_assignment`` decodes a classic member's assignment with aiokafka's
    ``ConsumerProtocolMemberAssignment``."""
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    from evmon.sources.kafka.protocol import decode_assignment

    raw = ConsumerProtocolMemberAssignment(0, [("t", [0, 2])], b"").encode()
    assert decode_assignment(raw) == [("t", 0), ("t", 2)]
    assert decode_assignment(b"\x00garbage") == []
