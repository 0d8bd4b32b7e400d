"""Consumer lag: the rows, their Burrow-style status over a window of samples
(``evmon.lag.status``), and the ``LagPoller`` that takes one round of both brokers
(``evmon.lag.poller``), shared by ``evmon lag`` and the dashboard's lag screen.

The package root re-exports both modules' public names lazily (PEP 562); callers import
from here. The broker clients (``evmon.sources.kafka.group_lag``,
``evmon.sources.nats.jetstream_lag``) build the rows from ``evmon.lag.status``, which loads
no poller, and the poller imports them only when a system is watched: no import cycle, even
through function-level imports, and ``evmon lag --nats`` never loads aiokafka.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evmon.lazy import lazy_exports

if TYPE_CHECKING:
    from evmon.lag.poller import LagPoller as LagPoller
    from evmon.lag.poller import SystemLag as SystemLag
    from evmon.lag.status import DEFAULT_REFRESH as DEFAULT_REFRESH
    from evmon.lag.status import DEFAULT_WINDOW as DEFAULT_WINDOW
    from evmon.lag.status import SPARK_ASCII as SPARK_ASCII
    from evmon.lag.status import SPARK_BLOCKS as SPARK_BLOCKS
    from evmon.lag.status import STATUSES as STATUSES
    from evmon.lag.status import JetStreamLagRow as JetStreamLagRow
    from evmon.lag.status import KafkaGroupSummary as KafkaGroupSummary
    from evmon.lag.status import KafkaLagRow as KafkaLagRow
    from evmon.lag.status import KafkaMember as KafkaMember
    from evmon.lag.status import LagHistory as LagHistory
    from evmon.lag.status import LagRow as LagRow
    from evmon.lag.status import Sample as Sample
    from evmon.lag.status import Status as Status
    from evmon.lag.status import evaluate as evaluate
    from evmon.lag.status import nocommit_note as nocommit_note
    from evmon.lag.status import sparkline as sparkline
    from evmon.lag.status import summarize_groups as summarize_groups

#: The submodule that defines each public name.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    globals(),
    {
        "poller": ["LagPoller", "SystemLag"],
        "status": [
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
            "LagRow",
            "Sample",
            "Status",
            "evaluate",
            "nocommit_note",
            "sparkline",
            "summarize_groups",
        ],
    },
)
