"""Who listens on core NATS, headless and pure: the subscription table and its report.

    from evmon.interest import interest_report, table_from_documents

``table`` turns the server's ``subsz`` / ``connz`` documents into a ``TableSnapshot``;
``report`` turns a window's traffic and two snapshots into rows with issues (``no-subscriber``,
``no-traffic``, ``near-miss``), queue-group splits and slow clients. Fetching the documents
is network I/O and lives in ``evmon.sources.nats.interest``.
"""

from evmon.interest.report import (
    ISSUES,
    InterestReport,
    InterestRow,
    QueueMember,
    QueueSplit,
    SlowClient,
    interest_report,
    is_near,
    patterns_overlap,
)
from evmon.interest.table import (
    EVMON_CONNECTION_NAME,
    ClosedConnection,
    Connection,
    Subscription,
    TableSnapshot,
    needs_table,
    table_from_documents,
)

__all__ = [
    "EVMON_CONNECTION_NAME",
    "ISSUES",
    "ClosedConnection",
    "Connection",
    "InterestReport",
    "InterestRow",
    "QueueMember",
    "QueueSplit",
    "SlowClient",
    "Subscription",
    "TableSnapshot",
    "interest_report",
    "is_near",
    "needs_table",
    "patterns_overlap",
    "table_from_documents",
]
