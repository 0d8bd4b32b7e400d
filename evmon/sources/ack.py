"""What a publish came to, the same for both brokers: the re-publish reports these.

Both publishers (``evmon.sources.nats.publish``, ``evmon.sources.kafka.publish``) send
exactly the payload, key and headers they are given and return only once the broker
confirmed the message: a ``PublishAck``, or a ``PublishError`` saying why not.
"""

from __future__ import annotations

from dataclasses import dataclass

from evmon.errors import RuntimeFailure

__all__ = ["ACK_TIMEOUT", "PublishAck", "PublishError"]

#: How long one acknowledgement (PubAck, flush PONG, Kafka produce response) may take.
ACK_TIMEOUT = 10.0


class PublishError(RuntimeFailure):
    """One message was not acknowledged; the message says why (one line)."""


@dataclass(frozen=True, slots=True)
class PublishAck:
    """Where a published message ended up, as far as the broker said.

    JetStream: ``stream`` and ``seq``; ``duplicate`` when the stream dropped the message as
    a repeat of a ``Nats-Msg-Id`` inside its duplicate window (``seq`` is then the original's).
    Kafka: ``partition`` and ``offset``. Core NATS: all None (the flush proves the server read
    it, not that anyone received it).
    """

    target: str
    stream: str | None = None
    seq: int | None = None
    partition: int | None = None
    offset: int | None = None
    duplicate: bool = False

    @property
    def position(self) -> str:
        if self.stream is not None:
            return f"{self.stream}#{self.seq}"
        if self.partition is not None:
            return f"p{self.partition}@{self.offset}"
        return ""

    @property
    def stored(self) -> bool:
        """The broker stored this message (a JetStream duplicate or a core publish: no)."""
        return (self.stream is not None and not self.duplicate) or self.partition is not None
