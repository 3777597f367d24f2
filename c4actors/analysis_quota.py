"""Who may start an analysis now: one at a time per user, a few per hour (pure, clock passed in).

An analysis costs a worker process several seconds; without a per-user bound one user
could keep every analysis worker busy.  The pool's queue bounds everyone together; this
bounds each user: at most one analysis in progress, and at most ``per_hour`` started in
any hour.  An answer already stored is free (it costs no worker), so it is not counted:
the caller asks only for analyses it has to compute.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

import attrs

from protocol.messages import ErrorCode

DEFAULT_ANALYSES_PER_HOUR: Final = 6
HOUR: Final = 3600.0


@attrs.frozen
class QuotaRefusal:
    code: ErrorCode
    message: str


class AnalysisQuota:
    """Per user (a name key): the analysis running, and when the last ones started."""

    def __init__(self, per_hour: int = DEFAULT_ANALYSES_PER_HOUR) -> None:
        if per_hour < 1:
            raise ValueError(f"per_hour must be at least 1, not {per_hour}")
        self.per_hour = per_hour
        self._running: set[str] = set()
        self._started: dict[str, deque[float]] = {}

    def start(self, user: str, now: float) -> QuotaRefusal | None:
        """Count an analysis for ``user`` starting at ``now``, or say why it may not."""
        if user in self._running:
            return QuotaRefusal("analysis_running", "your previous analysis is still running")
        started = self._started.get(user)
        if started is not None:
            while started and started[0] <= now - HOUR:
                started.popleft()
            if len(started) >= self.per_hour:
                wait = math.ceil((started[0] + HOUR - now) / 60)
                text = f"you may start {self.per_hour} analyses an hour: wait {wait} min"
                return QuotaRefusal("analysis_limit", text)
        self._started.setdefault(user, deque()).append(now)
        self._running.add(user)
        return None

    def finish(self, user: str, *, counted: bool = True) -> None:
        """``user``'s analysis ended: they may start another.  ``counted=False`` (it was
        answered from the store, or failed) gives its place in the hour back."""
        self._running.discard(user)
        started = self._started.get(user)
        if not counted and started:
            started.pop()

    def forget_idle(self, now: float) -> None:
        """Drop users with nothing running and no start within the hour (bounded memory)."""
        for user in [u for u, s in self._started.items() if not s or s[-1] <= now - HOUR]:
            if user not in self._running:
                del self._started[user]

    def running(self, user: str) -> bool:
        return user in self._running
