"""``ReplayError``: a re-publish stopped at an event the broker did not acknowledge.

Its own module so that ``republish`` stays under the size the project keeps modules to;
``evmon.actions`` and ``evmon.actions.republish`` export it as before.
"""

from __future__ import annotations

from evmon.codec import safe_text
from evmon.errors import RuntimeFailure

__all__ = ["ReplayError"]


class ReplayError(RuntimeFailure):
    """A publish was not acknowledged. ``acknowledged`` events before it were; none after."""

    def __init__(self, failed: str, target: str, reason: str, acknowledged: int, total: int):
        self.failed = failed
        self.target = target
        self.reason = reason
        self.acknowledged = acknowledged
        self.total = total
        super().__init__(
            safe_text(
                f"re-publish of {failed} to {target} failed: {reason}; {acknowledged} of "
                f"{total} events were acknowledged before it, the rest were not sent"
            )
        )
