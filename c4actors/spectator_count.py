"""When a game tells its players how many watch it: at most once per ``interval``, coalesced.

A pure value the game actor holds beside its ``Game``: no task, no clock of its own (every
call that depends on time is given ``now``), so the policy is tested with plain numbers.

The policy, and why:

* the first change after a quiet ``interval`` goes out at once (``due`` is then ``now``),
  so a player sees the first spectator arrive without waiting;
* further changes within the ``interval`` after a notice are coalesced into one notice
  at its end, carrying the latest count: a thousand spectators arriving within a second
  cost the players one frame, not a thousand;
* a count that changed and changed back before its notice was due sends nothing.
"""

from __future__ import annotations

import math
from typing import Final

import attrs

SPECTATOR_COUNT_INTERVAL: Final = 1.0
"""Shortest time between two ``spectator_count`` notices of one game, in seconds."""


@attrs.define
class CountNotice:
    """The spectator count of one game and what the players were last told; see the module
    docstring.  ``set`` records a change, ``due`` says when a notice must go out, ``take``
    hands the count to send (and starts the next interval)."""

    interval: float = SPECTATOR_COUNT_INTERVAL
    count: int = 0
    sent: int = 0
    sent_at: float = -math.inf

    def set(self, count: int) -> None:
        """The game has ``count`` spectators now."""
        self.count = count

    @property
    def due(self) -> float | None:
        """When the pending notice must be sent (None: the players know the count)."""
        if self.count == self.sent:
            return None
        return self.sent_at + self.interval

    def take(self, now: float) -> int | None:
        """The count to tell the players at ``now``, or None when nothing is due yet."""
        due = self.due
        if due is None or now < due:
            return None
        self.sent, self.sent_at = self.count, now
        return self.count
