"""Consumer lag: the rows, their Burrow-style status over a window of samples
(``evmon.lag.status``), and the ``LagPoller`` that takes one round of both brokers
(``evmon.lag.poller``), shared by ``evmon lag`` and the dashboard's lag screen.

The package root re-exports both modules' public names; callers import from here. The
broker clients (``evmon.sources.kafka.group_lag``, ``evmon.sources.nats.jetstream_lag``) build
the rows from ``evmon.lag.status`` and the poller imports them only when a system is watched, so the
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
    KafkaMember,
    LagHistory,
    LagRow,
    Sample,
    Status,
    evaluate,
    nocommit_note,
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
    "KafkaMember",
    "LagHistory",
    "LagPoller",
    "LagRow",
    "Sample",
    "Status",
    "SystemLag",
    "evaluate",
    "nocommit_note",
    "sparkline",
    "summarize_groups",
]
