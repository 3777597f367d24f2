"""When things happen: connections admitted by the ramp, moves sent by the pace.

``Ramp`` spaces connection attempts ``1 / rate`` seconds apart and bounds how many handshakes
are in flight, so a large run does not overflow the server's accept backlog (a dropped SYN
costs a one-second retransmit and would show up as a slow handshake).

``MovePace`` decides when the player to move sends its move: at once (closed loop), after a
think time, or on the game's own open-loop schedule of ``move_rate`` moves per second, with a
random phase so that thousands of games do not move in lockstep.
"""

from __future__ import annotations

import random

import trio


class Ramp:
    """Admits connection attempts at ``rate`` per second, ``max_connecting`` at a time."""

    def __init__(self, rate: float, max_connecting: int) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0
        self.limiter = trio.CapacityLimiter(max_connecting)

    async def wait_turn(self) -> None:
        """Sleep until this caller's slot; slots are handed out in call order."""
        at = max(self._next, trio.current_time())
        self._next = at + self._interval
        await trio.sleep_until(at)


class MovePace:
    """The move schedule of one game (shared by its two players).

    Open loop: move ``k`` is due at ``phase + k / move_rate``.  A player that is more than one
    interval late (the server or the load tester fell behind) moves at once and the schedule
    restarts from there, counted in ``slips``, rather than firing a burst to catch up.
    """

    __slots__ = ("_interval", "_next_at", "_rng", "slips", "think")

    def __init__(self, think: float, move_rate: float | None, rng: random.Random) -> None:
        self.think = think
        self._interval = None if move_rate is None else 1.0 / move_rate
        self._rng = rng
        self._next_at: float | None = None
        self.slips = 0

    @property
    def immediate(self) -> bool:
        """Closed loop without think time: moves go out as soon as it is one's turn."""
        return self._interval is None and self.think <= 0

    def next_move_at(self) -> float:
        """When the move about to be made is due (``trio.current_time()`` clock)."""
        now = trio.current_time()
        interval = self._interval
        if interval is None:
            return now + self.think
        at = self._next_at
        if at is None:
            at = now + self._rng.random() * interval
        elif now > at + interval:
            self.slips += 1
            at = now
        self._next_at = at + interval
        return at
