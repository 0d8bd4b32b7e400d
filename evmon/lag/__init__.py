"""Consumer lag: the rows, their Burrow-style status over a window of samples
(``evmon.lag.status``), and the ``LagPoller`` that takes one round of both brokers
(``evmon.lag.poller``), shared by ``evmon lag`` and the dashboard's lag screen.

The package root re-exports both modules' public names; callers import from here. The broker
clients (``evmon.sources.kafka_admin``, ``evmon.sources.nats_admin``) build the rows from
``evmon.lag.status`` and the poller imports them only when a system is watched, so the
import graph has no cycle and ``evmon lag --nats`` never loads aiokafka.
"""

from __future__ import annotations

from evmon.lag.poller import LagPoller, SystemLag
from evmon.lag.status import (
    DEFAULT_REFRESH,
    DEFAULT_WINDOW,
    SPARK_ASCII,
    SPARK_BLOCKS,
    STATUSES,
    JetStreamLagRow,
    KafkaGroupSummary,
    KafkaLagRow,
    LagHistory,
    LagRow,
    Sample,
    Status,
    evaluate,
    sparkline,
    summarize_groups,
)

__all__ = [
    "DEFAULT_REFRESH",
    "DEFAULT_WINDOW",
    "SPARK_ASCII",
    "SPARK_BLOCKS",
    "STATUSES",
    "JetStreamLagRow",
    "KafkaGroupSummary",
    "KafkaLagRow",
    "LagHistory",
    "LagPoller",
    "LagRow",
    "Sample",
    "Status",
    "SystemLag",
    "evaluate",
    "sparkline",
    "summarize_groups",
]
