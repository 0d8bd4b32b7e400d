"""The NATS publisher process: floods (or paces) a bounded number of JSON messages.

It speaks the NATS protocol over a plain socket with pre-built ``PUB`` frames written in
large chunks, so it publishes several times faster than any Python subscriber can read:
the rate measured on the subscriber side is the subscriber's, not the publisher's. It ends
with PING/PONG (the server has routed everything) and exits by itself.

    python -m bench.publish_nats URL COUNT SIZE [--rate N] [--start I]

Prints one JSON line: ``{"count", "seconds"}``.
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import time
from urllib.parse import urlsplit

import orjson

from bench.payloads import json_payload, subject_of

CHUNK = 2_000


def _frames(start: int, stop: int, size: int) -> bytes:
    parts = []
    for i in range(start, stop):
        payload = json_payload(i, size)
        parts.append(b"PUB %s %d\r\n%s\r\n" % (subject_of(i).encode(), len(payload), payload))
    return b"".join(parts)


class Conn:
    """A minimal NATS connection: CONNECT, PUB, PING/PONG, answering the server's PINGs."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        self._buf = b""
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"name":"bench-pub"}\r\n')
        self.ping()

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self._buf += data
        line, self._buf = self._buf.split(b"\r\n", 1)
        if line.startswith(b"-ERR"):
            raise ConnectionError(line.decode())
        return line

    def ping(self) -> None:
        """Round trip: every PUB sent before it has been processed by the server."""
        self.sock.sendall(b"PING\r\n")
        while True:
            line = self._line()
            if line == b"PONG":
                return
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")

    def answer_pings(self) -> None:
        while select.select([self.sock], [], [], 0)[0]:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self._buf += data
            while b"\r\n" in self._buf:
                line, self._buf = self._buf.split(b"\r\n", 1)
                if line == b"PING":
                    self.sock.sendall(b"PONG\r\n")
                elif line.startswith(b"-ERR"):
                    raise ConnectionError(line.decode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def publish(url: str, count: int, size: int, rate: float | None = None, start: int = 0) -> float:
    """Publish ``count`` messages (ids from ``start``); at most ``rate`` per second if given."""
    conn = Conn(url)
    t0 = time.perf_counter()
    sent = 0
    chunk = CHUNK if rate is None else max(1, min(CHUNK, int(rate / 200)))
    while sent < count:
        n = min(chunk, count - sent)
        if rate is not None:
            due = t0 + sent / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            conn.answer_pings()
        conn.send(_frames(start + sent, start + sent + n, size))
        sent += n
    conn.ping()
    seconds = time.perf_counter() - t0
    conn.sock.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.publish_nats")
    p.add_argument("url")
    p.add_argument("count", type=int)
    p.add_argument("size", type=int)
    p.add_argument("--rate", type=float, help="messages per second (default: flood)")
    p.add_argument("--start", type=int, default=0, help="first message id")
    args = p.parse_args(argv)
    seconds = publish(args.url, args.count, args.size, args.rate, args.start)
    sys.stdout.buffer.write(orjson.dumps({"count": args.count, "seconds": seconds}) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
