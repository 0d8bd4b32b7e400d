"""The JetStream consumers this process created, so its lag reports can leave them out.

A ``--stream`` read (``NatsSource``) is an ordered consumer: ephemeral, named by the server,
and re-created under a new name and a new inbox whenever it resets after a gap. Its name is
therefore never known for long, but its subscription is, and the subscription always holds
the current deliver subject (nats-py moves it to the new inbox on a reset). A consumer whose
``config.deliver_subject`` is the subject of one of these subscriptions is this process's own:
an inbox is a random subject no other client subscribes to.

The subscriptions are held weakly: a read that ends (its source closed) drops out by itself;
until it is collected its old inbox matches nothing (the server deleted that consumer).
"""

from __future__ import annotations

import weakref

from nats.aio.subscription import Subscription

__all__ = ["add_own_read", "own_deliver_subjects"]

_READS: weakref.WeakSet[Subscription] = weakref.WeakSet()


def add_own_read(sub: Subscription) -> None:
    """Remember a JetStream push subscription this process created (a ``--stream`` read)."""
    _READS.add(sub)


def own_deliver_subjects() -> frozenset[str]:
    """The deliver subjects of this process's JetStream reads."""
    return frozenset(sub.subject for sub in list(_READS))
