"""NATS I/O, one module per job; import what you use from its module.

- ``wire``: every private part of nats-py evmon touches (the parser-side client, the raw
  header block, raw HPUB publish and flush, a subscription's sid), and nothing else.
- ``connect``: ``connect_nats``, the one way evmon connects (reconnects, causes, cut-offs).
- ``cutoffs``: slow-consumer cut-offs confirmed or inferred, named in the status.
- ``tail``: ``NatsSource``, core subscriptions and JetStream stream reads into a sink.
- ``jetstream_lag``: ``JetStreamLagClient``, consumer lag paged from the JetStream API.
- ``interest``: who would receive a core publish (the server's subscription table).
- ``publish``: ``NatsPublisher``, exact publishes confirmed by a PubAck or a flush.
- ``consumer_skip``: a JetStream consumer's position, reset, and the hunt for its stuck
  message.

The root imports nothing, so ``evmon.sources.nats.cutoffs`` costs no nats-py import.
"""
