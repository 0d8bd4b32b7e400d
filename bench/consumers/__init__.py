"""Subscriber processes the benchmarks time, one per contender.

Each runs in its own process (like ``evmon tail`` and the peers do), counts what reaches it,
and prints one JSON line: ``count``, ``first`` and ``last`` (``time.perf_counter()`` at the
first and last event), ``dropped`` and anything else it measured.
"""
