"""When the supervisor restarts a process that died: a pure policy, the clock passed in.

A process that ran for a while and died is restarted almost at once (``first_delay``);
one that keeps dying soon after its start waits twice as long each time, up to
``max_delay``, so a process that cannot start (a port taken, a bad option) does not
spin the machine while it is restarted.
"""

from __future__ import annotations

from typing import Final

import attrs

FIRST_DELAY: Final = 0.1
MAX_DELAY: Final = 5.0
HEALTHY_AFTER: Final = 10.0
"""Seconds a process must have run for its death not to count as a failed start."""


@attrs.frozen
class Backoff:
    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    healthy_after: float = HEALTHY_AFTER
    failures: int = 0
    """Deaths in a row, each within ``healthy_after`` of its start."""

    def died(self, started_at: float, now: float) -> tuple[Backoff, float]:
        """The policy after a death at ``now`` of a process started at ``started_at``, and
        the seconds to wait before starting it again."""
        failures = 1 if now - started_at >= self.healthy_after else self.failures + 1
        delay = min(self.max_delay, self.first_delay * 2 ** (failures - 1))
        return attrs.evolve(self, failures=failures), delay
