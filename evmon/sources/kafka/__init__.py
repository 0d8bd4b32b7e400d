"""Kafka I/O, one module per job; import what you use from its module.

- ``client``: ``client_kwargs`` and ``start_client``, the one way every Kafka client starts,
  and the one-line causes when it cannot.
- ``records``: the aiokafka record patch (runs of wire records straight from the fetcher,
  and their ``Event``s).
- ``lines``: JSON lines written straight from wire records (``evmon tail --format jsonl``).
- ``protocol``: hand-built protocol requests and the cluster client under a consumer.
  With ``records`` and ``client``, the only modules that touch aiokafka's internals.
- ``tail``: ``KafkaSource``, a live tail without any consumer group.
- ``group_lag``: ``KafkaLagClient``, consumer-group lag in one admin round.
- ``publish``: ``KafkaPublisher``, exact produces with ``acks="all"``.
- ``group_offsets``: ``KafkaGroupOffsets``, a group's offset read and committed without
  joining it (the Kafka half of ``evmon skip``).

The root imports nothing, so importing one module does not load the others.
"""
