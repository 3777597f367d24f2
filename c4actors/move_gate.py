"""Admission for the move path: at saturation moves wait their turn, so the lobby path need not.

Trio runs every runnable task once per scheduler turn, in no order of importance.  When the
server is saturated (a closed loop, or a machine that takes the CPU away for a while) its
turns come in waves: after a long turn every socket is readable at once, so the next turn
runs a thousand reads, the one after a thousand games, then two thousand writers, and the
clients answer in the same waves.  A measured run (500 closed-loop games, issue 17) had
turns of 0.2 ms at the median but over 100 ms at the 99th percentile with up to 1,500 task
steps, half the wall time in them; a pair's next game is about ten task hops (reader, lobby,
writers, reader, lobby, game, writers), and each hop that lands in a wave waits for all of
it.

``TurnBudget`` (pure: the clock is passed in) lets moves start only during the first
``budget`` seconds of a turn.  A move that comes later waits, in order, for a following
turn; the waiting costs nothing (a parked task is not runnable), and in a closed loop the
moves the server does not answer are moves the clients do not send, so the waves thin out
everywhere, not only in the games.  The lobby, the readers and the writers are never held:
their turns stay short, so a challenge, an accept and the ``game_started`` cross the server
in short turns however many moves are queued.  The moves' own latency is unchanged at
saturation (Little's law: the pairs over the moves per second); below it, a turn never
fills its budget and no move waits.

``MoveGate`` is the Trio shell: a ``trio.abc.Instrument`` whose ``after_io_wait`` (called
once per turn, just before the turn's batch of tasks runs) starts the budget's turn and wakes
as many waiting moves as started in the last turn (at least one), in order; a woken move that
finds the budget spent again goes back to the head of the line.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Final

import attrs
import trio

DEFAULT_MOVE_BUDGET: Final = 0.005
"""5 ms: the issue's bound on a loop step; ten hops of that fit the 250 ms start target."""


@attrs.define
class TurnBudget:
    """Whether a move may start now: within ``budget`` seconds of the turn's start, with no
    earlier move still waiting (first come, first served)."""

    budget: float
    turn_started: float = 0.0
    started_this_turn: int = 0
    started_last_turn: int = 0

    def __attrs_post_init__(self) -> None:
        if self.budget <= 0:
            raise ValueError(f"the move budget must be positive, not {self.budget}")

    def new_turn(self, now: float) -> None:
        self.turn_started = now
        self.started_last_turn, self.started_this_turn = self.started_this_turn, 0

    def admits(self, now: float, *, waiting: int = 0) -> bool:
        """A move may start now (and is counted as started) or must wait."""
        if waiting or now - self.turn_started >= self.budget:
            return False
        self.started_this_turn += 1
        return True

    def to_wake(self, waiting: int) -> int:
        """Waiting moves to wake at a turn's start: as many as the last turn started (they
        will likely fit again), at least one so that the line always moves."""
        return min(waiting, max(1, self.started_last_turn))


class MoveGate(trio.abc.Instrument):
    """See the module docstring.  Install with ``trio.lowlevel.add_instrument``; the game
    actors call ``admit`` before each move."""

    def __init__(
        self, budget: float = DEFAULT_MOVE_BUDGET, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._budget = TurnBudget(budget)
        self._clock = clock
        self._waiting: collections.deque[trio.Event] = collections.deque()
        self.waited = 0
        """Moves that waited for a later turn (for tests and the curious)."""

    def after_io_wait(self, timeout: float) -> None:
        budget = self._budget
        budget.new_turn(self._clock())
        for _ in range(budget.to_wake(len(self._waiting))):
            self._waiting.popleft().set()

    async def admit(self) -> None:
        """Return when this move may start: at once within the turn's budget, else in order
        at a later turn.  A checkpoint only when it waits."""
        if not self.admits_now():
            await self.wait_turn()

    def admits_now(self) -> bool:
        """This move may start now (counted as started); if not, ``wait_turn`` next.  Split
        from ``admit`` so that a game decides without a checkpoint inside its deadline's
        cancel scope and waits outside it."""
        return self._budget.admits(self._clock(), waiting=len(self._waiting))

    async def wait_turn(self) -> None:
        """Wait, in order, for a later turn with budget left (after ``admits_now`` said no)."""
        self.waited += 1
        turn = trio.Event()
        self._waiting.append(turn)
        while True:
            try:
                await turn.wait()
            except BaseException:
                if turn in self._waiting:  # cancelled in line: leave it
                    self._waiting.remove(turn)
                raise
            if self._budget.admits(self._clock()):
                return
            turn = trio.Event()
            self._waiting.appendleft(turn)  # woken into a spent turn: first in line still
