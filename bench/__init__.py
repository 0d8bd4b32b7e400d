"""evmon's benchmarks: ingest, filter cost, memory, responsiveness and start-up.

Every figure is printed next to a baseline measured in the same run on the same machine
(raw nats-py, raw aiokafka, ``python -c pass``), because absolute rates on a shared 2-core
box say little and ratios say what evmon costs. ``python -m bench`` runs them all;
``python -m bench --quick`` runs each once with small counts to keep the harness working.
"""
