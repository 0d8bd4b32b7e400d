"""Every private part of nats-py evmon touches, and the NATS header block both ways.

Nothing else in evmon reaches into nats-py's internals; ``tests/test_third_party_internals.py``
names each hook below and fails in milliseconds when a nats-py release moves one:

- ``RawHeaderClient`` (a ``Client`` subclass) overrides ``_process_msg`` for parser-side
  delivery (``deliver_directly`` for core subscriptions, ``deliver_js_directly`` for the
  ordered consumer's push subscription, both keyed by ``sid_of(sub)``, i.e.
  ``Subscription._id``), and ``report_error`` calls ``Client._error_cb``;
  ``_process_headers`` and ``_build_message`` (the raw header block, subjects that are not
  UTF-8), ``_process_op_err`` (why a connection was lost), reads ``_server_info`` and
  replaces ``_ps`` with ``_CountingParser``, which reads whole MSG/HMSG messages off the
  parser's ``buf`` itself (``state``: only between messages) and runs nats-py's own parser
  code, with exact MSG/HMSG separators, on every other line; it also notes when evmon reads
  a backlog (slow-consumer cut-offs).
- ``publish_raw`` builds HPUB/PUB with ``nats.protocol.command`` and queues it with
  ``Client._send_command``, waking the flusher as ``Client.publish`` does.

Why a raw publish: nats-py's ``publish`` and ``request`` take headers as a dict, which
collapses repeated names and re-encodes values as text. ``publish_raw`` builds the ``HPUB``
command with nats-py's own protocol helper from a header block written here
(``nats_header_block``; ``parse_header_block`` reads one back to the same pairs), and queues
it with the client's ``_send_command``: the same two steps ``Client.publish`` takes after
turning its dict into a block.
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable
from typing import Any
from urllib.parse import ParseResult

from nats.aio.client import DEFAULT_BUFFER_SIZE, Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ProtocolError
from nats.protocol import command as protocol
from nats.protocol import parser as nats_parser
from nats.protocol.parser import (
    AWAITING_CONTROL_LINE,
    CRLF_SIZE,
    Parser,
)

from evmon.model import Headers
from evmon.sources.ack import PublishError

#: Full reads in a row (of nats-py's 32 KiB) that mean evmon is behind the server, and how
#: long after such a run an EOF still counts as "while behind".
BEHIND_READS = 8
BEHIND_GRACE = 0.5


#: nats-py's MSG and HMSG control lines with only space and tab as separators, as
#: nats-server writes them. nats-py's own use ``\s``, which also takes \x0b and \x0c: a
#: subject holding one (nats-server accepts them in PUB) is then split apart, the line is
#: malformed, and the parser either drops the connection or, past 4 KiB of buffer, waits for
#: more bytes forever (the stale-ping check ends that minutes later). Anyone who can
#: publish could do that to evmon.
_CRLF = b"\r\n"
_ARG = rb"[^ \t\r\n]+"
_SEP = rb"[ \t]+"
_MSG_RE = re.compile(
    rb"\AMSG" + _SEP + b"(" + _ARG + b")" + _SEP + b"(" + _ARG + b")" + _SEP
    + b"((" + _ARG + b")" + _SEP + rb")?(\d+)\r\n"
)  # fmt: skip
_HMSG_RE = re.compile(
    rb"\AHMSG" + _SEP + b"(" + _ARG + b")" + _SEP + b"(" + _ARG + b")" + _SEP
    + b"((" + _ARG + b")" + _SEP + rb")?(\d+)" + _SEP + rb"(\d+)\r\n"
)  # fmt: skip


def _parse_with_exact_separators() -> Any:
    """nats-py's ``Parser.parse`` itself, reading ``MSG_RE`` / ``HMSG_RE`` from a namespace
    of its own that holds the patterns above (nats-py's module is left as it is)."""
    parse = Parser.parse
    names = {**vars(nats_parser), "MSG_RE": _MSG_RE, "HMSG_RE": _HMSG_RE}
    return types.FunctionType(
        parse.__code__, names, parse.__name__, parse.__defaults__, parse.__closure__
    )


class _CountingParser(Parser):
    """nats-py's protocol parser, with evmon's loop for messages, noting when evmon was
    reading a backlog.

    MSG and HMSG are read here, a whole message at a time, and handed to a direct
    subscription's handler without a coroutine (``RawHeaderClient._deliver_now``) or else to
    ``Client._process_msg``: nats-py's state machine costs more per message than the reader
    that does nothing with it. The server separates a control line's fields by one space, so
    a ``split`` reads them; any other line (tabs, runs of blanks) goes through the exact
    separator patterns, and a malformed one through nats-py's parser, which says so.
    A message not yet complete stays in the buffer, control line and all, so nats-py's code
    never holds half of one; PING, INFO, -ERR and the rest are nats-py's, one line at a time.
    Messages are sliced from one bytes copy of the buffer per read, and while a large one
    is still arriving (``_want``) a read only adds to the buffer.

    ``Client._read_loop`` reads at most ``DEFAULT_BUFFER_SIZE`` bytes and passes them to
    ``Client._ps.parse``: a loop that keeps getting full buffers has a backlog in the socket,
    which is what a slow consumer looks like from the client's side. The backlog's last read
    is short, so a run of full reads counts for ``BEHIND_GRACE`` seconds after it ends.
    """

    full_reads = 0
    _run_ended = -1e9
    #: Bytes the buffer must hold before the message at its start is whole (0: unknown).
    _want = 0
    _parse = _parse_with_exact_separators()

    async def parse(self, data: bytes = b"") -> None:
        n = len(data)
        if n >= DEFAULT_BUFFER_SIZE:
            self.full_reads += 1
        elif n:
            if self.full_reads >= BEHIND_READS:
                self._run_ended = time.monotonic()
            self.full_reads = 0
        buf = self.buf
        buf.extend(data)
        if len(buf) < self._want:
            return  # a message still arriving: not worth a copy of the buffer yet
        self._want = 0
        if self.state != AWAITING_CONTROL_LINE:  # nats-py's own code stopped in a payload
            await self._parse()
            if self.state != AWAITING_CONTROL_LINE:
                return
        nc = self.nc
        deliver = getattr(nc, "_deliver_now", None)
        msg_re, hmsg_re = _MSG_RE, _HMSG_RE
        # The messages are read from a bytes copy of the buffer (one per read), by position:
        # one copy per payload and one ``del`` per read instead of per message.
        view = bytes(buf)
        total = len(view)
        pos = 0
        try:
            while pos < total:
                # MSG and HMSG here, whole messages only: a message whose payload has not
                # all arrived stays in the buffer, its control line too, so nats-py's parser
                # never holds half of one. Everything else, one line at a time, is nats-py's.
                if view.startswith(b"MSG", pos):
                    has_hdr, off = False, 4
                elif view.startswith(b"HMSG", pos):
                    has_hdr, off = True, 5
                else:
                    del buf[:pos]
                    pos = 0
                    more = await self._one_line()
                    view = bytes(buf)
                    total = len(view)
                    if not more:
                        return  # a line still arriving
                    continue
                eol = view.find(_CRLF, pos)
                if eol < 0:
                    return  # the control line is still arriving (nats-py waits too)
                # The server separates by one space: split on it. Anything else (tabs, runs
                # of blanks, a size that is not digits) goes through the exact patterns.
                line = view[pos + off : eol]
                parts = line.split(b" ")
                n = len(parts)
                reply = b""
                hsize = b"0"
                if view[pos + off - 1] != 32 or b"\t" in line or b"" in parts:
                    n = 0
                elif has_hdr:
                    if n == 5:
                        subject, sid, reply, hsize, size = parts
                    elif n == 4:
                        subject, sid, hsize, size = parts
                    else:
                        n = 0
                elif n == 4:
                    subject, sid, reply, size = parts
                elif n == 3:
                    subject, sid, size = parts
                else:
                    n = 0
                if n == 0 or not size.isdigit() or not hsize.isdigit():
                    m = (hmsg_re if has_hdr else msg_re).match(view[pos : eol + CRLF_SIZE])
                    if m is None:  # malformed: nats-py decides (a protocol error)
                        del buf[:pos]
                        pos = 0
                        await self._parse()
                        return
                    if has_hdr:
                        subject, sid, _, reply, hsize, size = m.groups()
                    else:
                        subject, sid, _, reply, size = m.groups()
                    reply = reply or b""
                start = eol + CRLF_SIZE
                end = start + int(size)
                if total < end + CRLF_SIZE:
                    self._want = end + CRLF_SIZE - pos  # what the buffer must hold first
                    return  # the rest of the payload is still to come
                hdr: bytes | None = None
                if has_hdr:
                    hend = start + int(hsize)
                    hdr = view[start:hend]
                    payload = view[hend:end]
                else:
                    payload = view[start:end]
                pos = end + CRLF_SIZE
                try:
                    sid_n = int(sid)
                except ValueError:
                    raise ProtocolError("nats: malformed MSG") from None
                if deliver is None or not deliver(sid_n, subject, reply, payload, hdr):
                    await nc._process_msg(sid_n, subject, reply, payload, hdr)
        finally:
            if pos:
                del buf[:pos]

    def reset(self) -> None:
        super().reset()
        self._want = 0

    async def _one_line(self) -> bool:
        """The first line of the buffer (PING, PONG, INFO, +OK, -ERR) through nats-py's own
        parser, without what follows it (which is parsed here). False when it waits for
        the rest of the line."""
        buf = self.buf
        i = buf.find(_CRLF)
        if i < 0:
            await self._parse()  # waits for the rest (nats-py's rule for a long line too)
            return False
        rest = bytes(buf[i + CRLF_SIZE :])
        del buf[i + CRLF_SIZE :]
        try:
            await self._parse()
        finally:
            left = len(buf)
            buf.extend(rest)
        return left == 0 and self.state == AWAITING_CONTROL_LINE

    def behind(self) -> bool:
        return self.full_reads >= BEHIND_READS or time.monotonic() - self._run_ended < BEHIND_GRACE


class RawHeaderClient(Client):
    """A nats-py client that keeps the raw header block of every message.

    nats-py parses headers into a dict, which collapses repeated names. The raw block is
    kept on ``msg.raw_headers`` so evmon can show and replay the headers exactly as sent.
    ``_process_msg`` parses headers and builds the message synchronously one after the other,
    so one slot is enough.
    """

    _raw_hdr: bytes = b""

    def __init__(self) -> None:
        super().__init__()
        self._ps = _CountingParser(self)

    def was_behind(self) -> bool:
        """The read loop was just handed a run of full buffers (256 KiB or more): the server
        had more for evmon than evmon was reading."""
        ps = self._ps
        return isinstance(ps, _CountingParser) and ps.behind()

    @property
    def server_id(self) -> str:
        """The id the connected server sent in its INFO (a new one at every server start)."""
        return str(self._server_info.get("server_id", ""))

    #: Core subscriptions evmon reads itself (sid -> handler), straight from the protocol
    #: parser: no ``Msg``, no asyncio queue, no task switch and coroutine per message. That
    #: dispatch is about half of what a raw nats-py callback subscriber spends per message.
    _direct: dict[int, Callable[[bytes, bytes, bytes], None]] | None = None
    #: sid -> what to call (once) when that subscription's handler raised.
    _on_fault: dict[int, Callable[[BaseException], None]] | None = None
    #: Direct subscriptions that fell back to nats-py's own delivery after a fault.
    direct_faults = 0

    #: JetStream push subscriptions evmon reads itself (sid -> handler(subject, reply, data,
    #: headers)): the ordered consumer of ``evmon.sources.nats.ordered``, which also needs
    #: the ``$JS.ACK`` reply subject (sequences) and sees the control messages.
    _direct_js: dict[int, Callable[[bytes, bytes, bytes, bytes], None]] | None = None

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any
    ) -> None:
        if not self._deliver_now(sid, subject, reply, data, headers):
            await super()._process_msg(sid, subject, reply, data, headers)

    def _deliver_now(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any
    ) -> bool:
        """Deliver a message of a direct subscription here and now; False for nats-py's
        own path (not a direct subscription, or its handler just failed on it)."""
        direct = self._direct
        handler = direct.get(sid) if direct else None
        if handler is None:
            direct_js = self._direct_js
            js_handler = direct_js.get(sid) if direct_js else None
            if js_handler is None:
                return False
            stats = self.stats
            stats["in_msgs"] += 1
            stats["in_bytes"] += len(data)
            try:
                js_handler(subject, reply, data, headers or b"")
            except Exception as err:
                self._js_fault(sid, err)
            return True
        stats = self.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        if reply and self._on_request:  # a request (most messages have no reply subject)
            self._request_seen(sid, subject, reply)
        try:
            handler(subject, data, headers)
        except Exception as err:
            # An exception here would end nats-py's read loop: every later message lost,
            # nothing counted, the status still "connected". Contain it instead: this
            # subscription goes back to nats-py's own path (its callback), starting with
            # the message that failed, and the source says it is degraded.
            stats["in_msgs"] -= 1
            stats["in_bytes"] -= len(data)
            self._fall_back(sid, err)
            return False
        return True

    #: sid -> what to tell about a message with a reply subject on that direct subscription
    #: (a wildcard subscription is interest for requests: ``NatsSource`` says so once).
    _on_request: dict[int, Callable[[bytes, bytes], None]] | None = None

    def watch_requests(self, sid: int, seen: Callable[[bytes, bytes], None] | None) -> None:
        """Call ``seen(subject, reply)`` for each message with a reply subject delivered
        directly on ``sid`` (``None``: stop). A ``seen`` that raises is dropped."""
        if seen is None:
            if self._on_request:
                self._on_request.pop(sid, None)
            return
        if self._on_request is None:
            self._on_request = {}
        self._on_request[sid] = seen

    def _request_seen(self, sid: int, subject: bytes, reply: bytes) -> None:
        seen = self._on_request.get(sid) if self._on_request else None
        if seen is None:
            return
        try:
            seen(subject, reply)
        except Exception:  # a remark must never cost a message
            self.watch_requests(sid, None)

    def _js_fault(self, sid: int, err: BaseException) -> None:
        # As for core subscriptions, never end the read loop. The message that failed is
        # not taken: the reader's owner resumes at it (``on_fault``).
        self.direct_faults += 1
        on_fault = self._on_fault.pop(sid, None) if self._on_fault else None
        self.stop_direct(sid)
        if on_fault is not None:
            on_fault(err)

    def _fall_back(self, sid: int, err: BaseException) -> None:
        self.direct_faults += 1
        on_fault = self._on_fault.pop(sid, None) if self._on_fault else None
        self.stop_direct(sid)
        if on_fault is not None:
            on_fault(err)

    #: Why the connection was last lost, when nats-py knows: it calls ``disconnected_cb``
    #: without a reason, and a stale connection (the server stopped answering pings: frozen,
    #: or a silent partition) is worth saying as such.
    lost_because: BaseException | None = None
    #: The URL of the server that connection was to.
    lost_url: ParseResult | None = None
    #: The server's id for the lost connection (``/connz?cid=``), kept with ``lost_because``.
    lost_cid: int | None = None

    async def _process_op_err(self, e: Exception) -> None:
        if self.is_connected:
            self.lost_because, self.lost_url = e, self.connected_url
            self.lost_cid = self.client_id
        await super()._process_op_err(e)

    def deliver_directly(
        self,
        sid: int,
        handler: Callable[[bytes, bytes, bytes], None],
        on_fault: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Hand every message of subscription ``sid`` to ``handler(subject, data, headers)``
        from the parser (``headers`` is the raw block or empty).

        When ``handler`` raises, the subscription falls back to nats-py's own delivery (the
        callback it was subscribed with) for that message and every later one, and
        ``on_fault(error)`` is called once, before that message is queued there. The
        connection and the read loop go on.
        """
        if self._direct is None:
            self._direct = {}
        self._direct[sid] = handler
        if on_fault is not None:
            if self._on_fault is None:
                self._on_fault = {}
            self._on_fault[sid] = on_fault

    def deliver_js_directly(
        self,
        sid: int,
        handler: Callable[[bytes, bytes, bytes, bytes], None],
        on_fault: Callable[[BaseException], None],
    ) -> None:
        """Hand every message of JetStream push subscription ``sid`` to ``handler(subject,
        reply, data, headers)`` from the parser: data, flow-control and heartbeat messages
        alike (``headers`` is the raw block or empty). nats-py's own JetStream handling of
        that subscription (its ``_jsi``) never sees them.

        When ``handler`` raises, the message is dropped, the subscription leaves direct
        delivery and ``on_fault(error)`` is called once; the read loop goes on.
        """
        if self._direct_js is None:
            self._direct_js = {}
        self._direct_js[sid] = handler
        if self._on_fault is None:
            self._on_fault = {}
        self._on_fault[sid] = on_fault

    def stop_direct(self, sid: int) -> None:
        if self._direct:
            self._direct.pop(sid, None)
        if self._direct_js:
            self._direct_js.pop(sid, None)
        if self._on_fault:
            self._on_fault.pop(sid, None)
        self.watch_requests(sid, None)

    async def _process_headers(self, headers: Any) -> Any:
        if not headers:  # most messages: no second coroutine (the parent returns None too)
            return None
        self._raw_hdr = headers
        return await super()._process_headers(headers)

    def _build_message(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any
    ) -> Any:
        try:
            msg = super()._build_message(sid, subject, reply, data, headers)
        except UnicodeDecodeError:
            # nats-py decodes the subject strictly, and an exception here silently ends its
            # read loop (the connection then looks alive until the pings go unanswered). A
            # publisher may send any bytes but whitespace: keep them, escaped when shown.
            msg = self.msg_class(
                subject=subject.decode("utf-8", "surrogateescape"),
                reply=reply.decode("utf-8", "surrogateescape"),
                data=data,
                headers=headers,
                _client=self,
                _sid=sid,
            )
        msg.raw_headers = self._raw_hdr
        self._raw_hdr = b""
        return msg


def parse_header_block(raw: bytes) -> Headers:
    """Split a ``NATS/1.0`` header block into ordered pairs, keeping repeats and raw values."""
    if not raw:
        return ()
    lines = raw.split(b"\r\n")
    pairs: list[tuple[str, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        pairs.append((name.decode("utf-8", "replace"), value.lstrip(b" ")))
    return tuple(pairs)


def msg_headers(msg: Msg) -> Headers:
    raw = getattr(msg, "raw_headers", b"")
    if raw:
        return parse_header_block(raw)
    if msg.headers:
        return tuple((k, str(v).encode()) for k, v in msg.headers.items())
    return ()


def sid_of(sub: Subscription) -> int:
    """The sid the parser passes to ``_process_msg`` for ``sub`` (nats-py's ``_id``)."""
    return sub._id


async def report_error(nc: Client, err: Exception) -> None:
    """Hand ``err`` to the client's ``error_cb``, as nats-py's ordered consumer does when it
    cannot re-create its consumer (evmon's says "reconnecting" with the cause)."""
    await nc._error_cb(err)


def nats_header_block(headers: Headers) -> bytes:
    """``NATS/1.0\\r\\nName: value\\r\\n...\\r\\n``: wire order and repeats kept, bytes as given.

    ``parse_header_block`` reads it back to the same pairs.
    """
    parts = [b"NATS/1.0\r\n"]
    for name, value in headers:
        parts += (name.encode("utf-8", "surrogateescape"), b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


async def publish_raw(
    nc: Client, subject: str, payload: bytes, headers: Headers = (), reply: str = ""
) -> None:
    """Publish with the exact header block (see the module doc for why)."""
    if nc.is_closed:
        raise PublishError("the NATS connection is closed")
    block = nats_header_block(headers) if headers else b""
    # The server counts headers and payload against max_payload together, and answers a
    # violation by closing the connection: check first so nothing is reported sent.
    if len(block) + len(payload) > nc.max_payload:
        raise PublishError(
            f"message of {len(payload)} bytes payload + {len(block)} bytes headers exceeds "
            f"the server's max_payload of {nc.max_payload} bytes"
        )
    if headers:
        cmd = protocol.hpub_cmd(subject, reply, block, payload)
    else:
        cmd = protocol.pub_cmd(subject, reply, payload)
    await nc._send_command(cmd)
    # Client.publish wakes its flusher this way when nothing else is queued.
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()
