"""Which partition a keyed record goes to, the way each client family computes it.

    partition_for("fnv1a", b"customer-42", 6)   # where sarama (Go) puts that key
    partition_for("murmur2", b"customer-42", 6) # where Kafka's Java clients and aiokafka do

A topic written by Go services with sarama's default partitioner and by Java (or aiokafka)
producers holds one key on two different partitions; a replay that should land next to the
Go producers' records has to hash like sarama. Both functions are the clients' own
algorithms over the key bytes and a partition count ``n`` (partitions 0..n-1):

- ``murmur2``: Kafka's ``Utils.toPositive(Utils.murmur2(key)) % n`` (aiokafka's
  ``DefaultPartitioner`` uses the same ``murmur2``);
- ``fnv1a``: sarama's ``NewHashPartitioner`` (its ``Config`` default): FNV-1a 32-bit of the
  key, taken as an int32, Go's ``%`` (the sign follows the dividend), then negated when
  negative. That is not ``& 0x7fffffff`` (sarama's ``NewReferenceHashPartitioner``): the two
  differ for every key whose hash has the top bit set.

A record without a key (None) has no hashed partition: both clients pick one themselves
(random or sticky), so ``partition_for`` returns None and the producer decides.

``replay_partition`` is what ``evmon replay --partitioner`` does with one record: a hash
of its key, or ``keep`` its source partition (refused when the target lacks it).
"""

from __future__ import annotations

from typing import Literal

from aiokafka.partitioner import murmur2

from evmon.errors import UsageError

__all__ = ["HASHES", "Hash", "Partitioner", "fnv1a_32", "partition_for", "replay_partition"]

Hash = Literal["murmur2", "fnv1a"]
HASHES: tuple[Hash, ...] = ("murmur2", "fnv1a")
#: ``evmon replay --partitioner``: a hash of the key, or ``keep`` the source partition.
Partitioner = Literal["murmur2", "fnv1a", "keep"]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bits, unsigned (Go's ``hash/fnv.New32a().Sum32()``)."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def _sarama(key: bytes, n: int) -> int:
    signed = fnv1a_32(key)
    if signed >= 0x80000000:
        signed -= 0x100000000
    # Go: int32(h) % n has the sign of int32(h); sarama then drops the sign.
    return abs(signed) % n


def _java(key: bytes, n: int) -> int:
    return (int(murmur2(key)) & 0x7FFFFFFF) % n


def partition_for(hash_name: Hash, key: bytes | None, n: int) -> int | None:
    """The partition (0..n-1) ``hash_name`` gives ``key`` in a topic of ``n`` partitions;
    None for a record without a key (the producer chooses, as both clients do)."""
    if n < 1:
        raise ValueError(f"a topic has at least one partition, not {n}")
    if key is None:
        return None
    if hash_name == "fnv1a":
        return _sarama(key, n)
    if hash_name == "murmur2":
        return _java(key, n)
    raise ValueError(f"unknown partitioner {hash_name!r}")


def replay_partition(
    mode: Partitioner | None,
    key: bytes | None,
    source: int | None,
    planned: int | None,
    partitions: frozenset[int],
    what: str = "the record",
) -> int | None:
    """The partition a re-published record is produced to (None: the producer's choice).

    ``mode`` None keeps evmon's default: ``planned`` (the source partition, for a record
    replayed into its own topic) when the target has it, else the producer's murmur2 of
    the key. ``keep``: ``source``, or a UsageError naming ``what`` when the target has
    fewer partitions (the record would land elsewhere). A hash: ``partition_for``.
    """
    if mode is None:
        return planned if planned in partitions else None
    if mode == "keep":
        if source is None or source not in partitions:
            have = f"partitions 0-{max(partitions)}" if partitions else "no partitions"
            came = "no partition" if source is None else f"partition {source}"
            raise UsageError(f"--partitioner keep: {what} comes from {came}; the target has {have}")
        return source
    return partition_for(mode, key, len(partitions))
