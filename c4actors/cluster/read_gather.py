"""When the core waits a little before its next read of the inputs: a gather at machine pace.

Each input batch the core handles costs every process something whatever its size: the
core's commit (one fenced script in Redis) and its read, and each edge's read and decoding
of the frames batch that commit wrote.  In a closed loop of 100 games (programs answering
each frame the moment it comes) a batch held about 13 moves, and those per-batch costs were
some 1.3 ms of CPU over all the processes (docs/benchmarks.md, "The core's read after a
commit: a gather at machine pace"): waiting ``GATHER`` after a commit before the next read
lets the answers to that commit's frames come in and be handled, and committed, as one batch.

It costs that wait on the path of every move read after it, so the core gathers only while
the games are played at machine pace: ``FAST_PACE`` moves a second per game played or more
over the last ``PACE_WINDOW``.  People take seconds a move (the open loop's players one a
second per game): then the core reads at once, and a move waits for nothing.  The pace is
the players' own, not the core's: waiting does not make it look faster (a batch's size, or
whether entries were already waiting, would: every wait makes the next batch bigger).
"""

from __future__ import annotations

import math
from typing import Final

GATHER: Final = 0.004
"""Seconds the core waits after a commit before its next read, at machine pace."""
FAST_PACE: Final = 5.0
"""Moves a second per game played (200 ms a move on average, over every game that moved):
faster than people play, as programs do."""
PACE_WINDOW: Final = 1.0
"""Seconds over which the pace is counted (each window's pace decides the next one's reads)."""


class ReadGather:
    """Counts the moves handed to games (``moved``) and says how long to wait before the
    next read (``wait``): ``gather`` seconds while the last whole window's pace was at least
    ``fast_pace`` moves a second per game that moved in it, else none."""

    __slots__ = ("_games", "_moves", "_since", "fast", "fast_pace", "gather", "window")

    def __init__(
        self, gather: float = GATHER, *, fast_pace: float = FAST_PACE, window: float = PACE_WINDOW
    ) -> None:
        self.gather = gather
        self.fast_pace = fast_pace
        self.window = window
        self.fast = False
        """The last whole window's pace was machine pace."""
        self._moves = 0
        self._games: set[str] = set()
        self._since = -math.inf

    def moved(self, game_id: str) -> None:
        """A move was handed to ``game_id``."""
        self._moves += 1
        self._games.add(game_id)

    def wait(self, now: float) -> float:
        """Seconds to wait before the next read (0: read at once)."""
        elapsed = now - self._since
        if elapsed >= self.window:
            if math.isfinite(elapsed):
                games = len(self._games)
                self.fast = games > 0 and self._moves >= self.fast_pace * games * elapsed
            self._moves = 0
            self._games.clear()
            self._since = now
        return self.gather if self.fast else 0.0
