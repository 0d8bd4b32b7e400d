"""A fixed interest report (the demo shop's traps) for screenshots and snapshot tests."""

from __future__ import annotations

from evmon.interest.report import InterestReport, InterestRow, QueueMember, QueueSplit, SlowClient

__all__ = ["sample_report"]


def sample_report() -> InterestReport:
    """A wrong-case mailer, a publisher nobody hears, an uneven queue group, a slow client."""
    rows = (
        InterestRow("User.Created", 0, 1, {}, "near-miss", ("user.created",), ("mailer",)),
        InterestRow("orders.created", 120, 1, {"billing": 2}, None, (), ("audit",)),
        InterestRow("payments.failed", 14, 0, {}, "no-subscriber"),
        InterestRow("shipping.booked", 0, 1, {}, "no-traffic", (), ("courier",)),
        InterestRow("user.created", 37, 0, {}, "near-miss", ("User.Created",)),
    )
    split = QueueSplit(
        "orders.created",
        "billing",
        (QueueMember("billing-1", "N1", 5, 104), QueueMember("billing-2", "N1", 6, 16)),
    )
    slow = SlowClient(
        "reporter", "pending bytes grew over the window (0 → 3145728): its reader falls behind"
    )
    return InterestReport(rows, (split,), (slow,), 1)
