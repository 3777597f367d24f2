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

The gate holds moves only while there is something to be fair to: lobby work waiting
(``lobby_work``, which the lobby sets: a request in its inbox or its hands, a challenge
waiting for its answer), or a long line (``LONG_LINE``: the loop is saturated, and the
lobby's next request will meet its waves).  Any other turn admits every move and wakes every
move in line.  Without that, the gate was a throttle in an open loop (1,000 games x 1
move/s, issue 17): after one long turn (a collection, the process not scheduled) the moves
held in it drained at the count the last turn started, one or two a turn at that load,
while as many new ones joined the line behind them, so a line made by a 30 ms turn lasted
hundreds of milliseconds.  Lobby work alone was not enough at saturation: a closed loop has
lobby work in only 20 to 40% of its turns, and each turn without it woke the whole line,
hundreds of moves, a wave the next challenge met (500 closed-loop games: ``challenge`` ->
``game_started`` p99 898 ms and 23 pairs idle over 1 s, against 56 ms and none with the
gate always on).  Nor was moving a long line at twice the last turn's pace (p99 407 and 489
ms against 29 and 31).

How the line moves (issue 17, 100 closed-loop games).  A line's pace was the count the last
turn started, and in a turn that holds moves only woken moves start while a line exists, so
the pace could only fall, never rise; once one a turn, the line took one move a turn and
nearly every move joined it.  At 100 closed-loop games that was the usual state (counted on
``/metrics``: 0.6 to 1.0 moves held per move, about one scheduler turn per move, 4.1 to 4.9
task steps a move against 3.0 for a move not held), and the line reached the old
``LONG_LINE`` of 64 by itself while the lobby answered every request in under 10 ms.  Now a
short line (under ``SHORT_LINE``) is woken whole in every turn; a longer one moves at twice
the last turn's pace unless that turn's budget was spent; ``LONG_LINE`` is 128, more moves
than a 100-game closed loop has in flight; and a long line moves at half the last turn's
pace, down to a move a turn, which is where the saturated loop settled before and where the
fairness figures at 500 and 1,000 games were measured.  Why the pace must stay that low
there: in a closed loop the moves in flight queue at the slowest process; held in the
gate's line, the lobby's requests pass them; let through faster than the load tester
answers, they queue in the tester, behind which its accepts and challenges wait too
(measured: ``challenge`` -> ``game_started`` p99 275 to 1,410 ms at 500 and 1,000 games
with the tester 50 to 180 ms behind).  Whether the lobby
was late (a request waited 25 ms or more) was tried as the signal instead of the line's
length: it does not see that queue.

The start burst (every pair of the open loop challenges at once) held first moves up to
66 ms: the lobby's own steps (64 challenges and accepts, about 8 ms) spent each turn's
budget, and a held move started only in a turn where it ran before them.  The lobby's own
time (``lobby_step``) no longer counts against the moves' budget: holding moves cannot
shorten it.  Measured before and after: docs/benchmarks.md (issue 17).

What is left: a line of ``LONG_LINE`` or more in an open loop (a stall of 128 ms or more at
1,000 moves/s) moves at one move a turn while new moves join it, as a saturated closed loop
must, and the gate cannot tell the two apart from its line (measured with the first
challenges spread over a second: max 242 and 326 ms in two runs of four, main 247 and 867).
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Final

import attrs
import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

DEFAULT_MOVE_BUDGET: Final = 0.005
"""5 ms: the issue's bound on a loop step; ten hops of that fit the 250 ms start target."""
LONG_LINE: Final = 128
"""Moves in line from which the gate holds moves even with no lobby work waiting: the loop
is saturated (a closed loop, or a machine that takes the CPU away), its turns come in
waves, and the lobby's next request would meet them.  Measured at 500 closed-loop games
with the gate: 190 to 480 moves in line on average.  Above 100: a 100-game closed loop has
at most 100 moves in flight, and with 64 it reached a long line by itself (issue 17).  In
the 1,000-game open loop a line of 128 means a 128 ms stall; the on-time collections take
about 5 ms."""
SHORT_LINE: Final = 16
"""Once long, the line counts as long until it is this short again (hysteresis: releasing
a line of 63 moves at once is a wave of its own)."""


@attrs.define
class TurnBudget:
    """Whether a move may start now: within ``budget`` seconds of the turn's start, with no
    earlier move still waiting (first come, first served)."""

    budget: float
    turn_started: float = 0.0
    started_this_turn: int = 0
    started_last_turn: int = 0
    lobby_work: bool = True
    """Lobby work waits in this turn: moves are held past the budget."""
    long_line: bool = False
    """The line is long (``LONG_LINE``, then down to ``SHORT_LINE``): moves are held, and
    the line moves at half the last turn's pace."""
    spent: bool = False
    """A move came after this turn's budget was spent (the turn was full of moves)."""
    spent_last_turn: bool = False
    short_line: bool = True
    """The line is short (under ``SHORT_LINE``) at this turn's start: woken whole."""

    def __attrs_post_init__(self) -> None:
        if self.budget <= 0:
            raise ValueError(f"the move budget must be positive, not {self.budget}")

    @property
    def engaged(self) -> bool:
        """Whether this turn holds moves at all; if not, every move starts."""
        return self.lobby_work or self.long_line

    def new_turn(self, now: float, *, waiting: int = 0, lobby_work: bool = True) -> None:
        """Start a turn with ``waiting`` moves in line and ``lobby_work`` waiting or not."""
        self.lobby_work = lobby_work
        self.long_line = waiting >= (SHORT_LINE if self.long_line else LONG_LINE)
        self.short_line = waiting < SHORT_LINE
        self.turn_started = now
        self.started_last_turn, self.started_this_turn = self.started_this_turn, 0
        self.spent_last_turn, self.spent = self.spent, False

    def admits(self, now: float, *, waiting: int = 0) -> bool:
        """A move may start now (and is counted as started) or must wait."""
        if self.engaged:
            if now - self.turn_started >= self.budget:
                self.spent = True
                return False
            if waiting:
                return False
        self.started_this_turn += 1
        return True

    def exclude(self, seconds: float) -> None:
        """``seconds`` of this turn were not the moves' (the lobby's own work): they do not
        count against the budget.  Holding moves cannot make them shorter, and the start
        burst's lobby steps (64 challenges and accepts, about 8 ms) spent the budget alone,
        holding the few first moves for turn after turn (up to 66 ms, issue 17)."""
        self.turn_started += seconds

    def to_wake(self, waiting: int) -> int:
        """Waiting moves to wake at a turn's start: all of them in a turn that holds none,
        and a short line (under ``SHORT_LINE``) whole in any turn (those that find the
        budget spent wait again: at most that many steps lost).  A long line (saturation)
        moves at half the last turn's pace, down to a move a turn, the pace the fairness
        figures were measured at; any other line at the last turn's pace if its budget was
        spent, else at twice that: the pace grows back once turns have room (it could only
        fall before, issue 17).  At least one a turn, so the line always moves."""
        if not self.engaged or self.short_line:
            return waiting
        last = self.started_last_turn
        if self.long_line:
            pace = last // 2
        elif self.spent_last_turn:
            pace = last
        else:
            pace = 2 * last
        return min(waiting, max(1, pace))


def _always() -> bool:
    return True


class MoveGate(trio.abc.Instrument):
    """See the module docstring.  Install with ``trio.lowlevel.add_instrument``; the game
    actors call ``admit`` before each move."""

    def __init__(
        self,
        budget: float = DEFAULT_MOVE_BUDGET,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._budget = TurnBudget(budget)
        self._clock = clock
        self._waiting: collections.deque[trio.Event] = collections.deque()
        self.counts = GateCounts()
        """What the gate did (``c4_move_gate_*`` on ``/metrics``, ``GateCollector``)."""
        self.lobby_work: Callable[[], bool] = _always
        """Asked at each turn's start: whether lobby work waits (then the turn holds moves).
        The lobby sets it (``LobbyActor.work_waiting``); until then every turn holds them."""

    @contextlib.contextmanager
    def lobby_step(self) -> Iterator[None]:
        """The lobby's own work in this turn (a batch of its events): its time does not count
        against the moves' budget (``TurnBudget.exclude``)."""
        started = self._clock()
        try:
            yield
        finally:
            self._budget.exclude(self._clock() - started)

    @property
    def waited(self) -> int:
        """Moves that waited for a later turn (for tests and the curious)."""
        return self.counts.held

    @property
    def line(self) -> int:
        """Moves waiting in line now."""
        return len(self._waiting)

    def after_io_wait(self, timeout: float) -> None:
        budget, counts = self._budget, self.counts
        waiting = len(self._waiting)
        budget.new_turn(self._clock(), waiting=waiting, lobby_work=self.lobby_work())
        counts.turns += 1
        if budget.engaged:
            counts.engaged_turns += 1
        wake = budget.to_wake(waiting)
        counts.woken += wake
        for _ in range(wake):
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
        self.counts.held += 1
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
            self.counts.held_again += 1
            turn = trio.Event()
            self._waiting.appendleft(turn)  # woken into a spent turn: first in line still


@attrs.define
class GateCounts:
    """Counters of what the gate did since the server started: per move, held and woken
    moves are what the gate costs (each hold is one more task step, each wake one more)."""

    turns: int = 0
    """Scheduler turns seen (``after_io_wait``)."""
    engaged_turns: int = 0
    """Turns that held moves past their budget (``TurnBudget.engaged``)."""
    held: int = 0
    """Moves that waited in line for a later turn."""
    woken: int = 0
    """Wake-ups given to moves in line."""
    held_again: int = 0
    """Woken moves that found their turn's budget spent and went back to the line's head."""


class GateCollector(Collector):
    """The gate's counters and its line on ``/metrics`` (``c4_move_gate_*``): an operator
    sees whether, and how much, moves are held, and the benchmarks divide by moves."""

    def __init__(self, gate: MoveGate) -> None:
        self._gate = gate

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        gate, counts = self._gate, self._gate.counts
        for name, text, value in (
            ("turns", "Scheduler turns the move gate saw", counts.turns),
            (
                "engaged_turns",
                "Turns in which the move gate held moves past its budget",
                counts.engaged_turns,
            ),
            ("held_moves", "Moves the gate held for a later turn", counts.held),
            ("wakeups", "Wake-ups the gate gave to moves in line", counts.woken),
            (
                "held_again",
                "Woken moves that found the turn's budget spent and waited again",
                counts.held_again,
            ),
        ):
            yield CounterMetricFamily(f"c4_move_gate_{name}", text, value=value)
        yield GaugeMetricFamily("c4_move_gate_line", "Moves waiting in the gate's line", gate.line)
