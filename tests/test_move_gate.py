"""The move path's admission (``c4actors.move_gate``, issue 17): the pure budget, the gate
under Trio with an injected clock, and a real server where a challenge crosses the lobby
in bounded work while many connections flood the move path.

The socket test counts task steps, not seconds: the gate's clock there is the number of
task steps run so far, so a budget of N lets moves start during a turn's first N steps,
and the figures do not depend on how fast or busy the machine is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import attrs
import pytest
import trio
import trio.testing

from c4actors import server as server_module
from c4actors.actors.user import ConnectionSettings
from c4actors.move_gate import LONG_LINE, SHORT_LINE, MoveGate, TurnBudget
from c4actors.web import WebSettings
from protocol import (
    Accept,
    Challenge,
    Error,
    GameStarted,
    Invitation,
    InvitationSent,
    LobbyUpdate,
    Move,
    UserList,
)
from tests.support import Client, connect, open_server, start_game

# ------------------------------------------------------------------ the pure budget


def test_moves_start_only_in_the_turns_first_budget_seconds() -> None:
    budget = TurnBudget(0.005)
    budget.new_turn(10.0)
    assert budget.admits(10.001) and budget.admits(10.0049)
    assert not budget.admits(10.005), "the budget is spent"
    budget.new_turn(10.2)
    assert budget.admits(10.2)
    assert budget.started_last_turn == 2


def test_a_move_never_overtakes_one_waiting() -> None:
    budget = TurnBudget(0.005)
    budget.new_turn(0.0)
    assert not budget.admits(0.001, waiting=1)


def test_a_turn_wakes_as_many_as_the_last_started_and_never_none() -> None:
    budget = TurnBudget(0.005)
    budget.new_turn(0.0)
    assert budget.to_wake(10) == 1, "nothing started yet: the line still moves"
    for _ in range(3):
        budget.admits(0.0)
    budget.new_turn(1.0)
    assert (budget.to_wake(10), budget.to_wake(2), budget.to_wake(0)) == (3, 2, 0)


def test_a_turn_with_no_lobby_work_holds_no_move_and_wakes_the_whole_line() -> None:
    budget = TurnBudget(0.005)
    budget.new_turn(0.0)
    for _ in range(2):
        budget.admits(0.0)
    budget.new_turn(1.0, waiting=50, lobby_work=False)
    assert budget.admits(1.5, waiting=50), "past the budget, behind a line: still admitted"
    assert budget.to_wake(50) == 50, "not the 2 the last turn started"
    budget.new_turn(2.0, waiting=50)
    assert not budget.admits(2.5) and budget.to_wake(50) == 1


def test_a_long_line_holds_moves_with_no_lobby_work_until_it_is_short_again() -> None:
    """Saturation: the lobby's next request would meet the waves, so the gate holds."""
    budget = TurnBudget(0.005)
    budget.new_turn(0.0)
    for _ in range(3):
        budget.admits(0.0)
    budget.new_turn(1.0, waiting=LONG_LINE, lobby_work=False)
    assert not budget.admits(1.5), "past the budget: held"
    assert budget.to_wake(LONG_LINE) == 3
    budget.new_turn(2.0, waiting=SHORT_LINE, lobby_work=False)
    assert budget.engaged, "long until it is short again"
    budget.new_turn(3.0, waiting=SHORT_LINE - 1, lobby_work=False)
    assert not budget.engaged and budget.to_wake(SHORT_LINE - 1) == SHORT_LINE - 1
    budget.new_turn(4.0, waiting=LONG_LINE - 1, lobby_work=False)
    assert not budget.engaged, "not yet long"


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TurnBudget(0.0)


# ------------------------------------------------------------------ the gate under Trio


@attrs.define
class ManualClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def test_late_moves_wait_for_later_turns_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Turns are started by hand here (``after_io_wait``, as Trio calls it once per turn)."""
    clock = ManualClock()
    gate = MoveGate(0.005, clock=clock)
    gate.after_io_wait(0.0)
    await gate.admit()  # within the turn's budget: no wait
    assert gate.waited == 0
    clock.now = 1.0  # the turn's budget is spent
    order: list[int] = []

    async def move(number: int) -> None:
        await gate.admit()
        order.append(number)
        clock.now += 1.0  # each move spends a whole budget

    async with trio.open_nursery() as nursery:
        for number in range(4):
            nursery.start_soon(move, number)
            await trio.testing.wait_all_tasks_blocked()
        assert order == [] and gate.waited == 4
        for turn in range(4):
            gate.after_io_wait(0.0)  # wakes one: the last turn started one
            await trio.testing.wait_all_tasks_blocked()
            assert order == list(range(turn + 1))


async def test_a_line_left_by_a_long_turn_goes_at_once_when_no_lobby_work_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The open loop's throttle (issue 17): moves held in a long turn while the lobby had
    work drained at the last turn's count, one a turn here, as new moves queued behind
    them.  Once no lobby work waits, the next turn wakes all of them and holds none."""
    clock = ManualClock()
    gate = MoveGate(0.005, clock=clock)
    lobby_work = True
    gate.lobby_work = lambda: lobby_work
    gate.after_io_wait(0.0)
    clock.now = 0.03  # a long turn (a collection): the budget is spent before any move came
    started: list[int] = []

    async def move(number: int) -> None:
        await gate.admit()
        started.append(number)

    async with trio.open_nursery() as nursery:
        for number in range(5):
            nursery.start_soon(move, number)
            await trio.testing.wait_all_tasks_blocked()
        assert started == [] and gate.waited == 5
        lobby_work = False
        gate.after_io_wait(0.0)  # the next turn: nothing to be fair to
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(started) == [0, 1, 2, 3, 4], "the whole line in the turn after the long one"
        clock.now += 0.03  # this turn's budget spent too: a move is still not held
        await gate.admit()
        assert gate.waited == 5


async def test_a_move_cancelled_while_waiting_leaves_the_line(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = ManualClock(now=1.0)
    gate = MoveGate(0.005, clock=clock)  # not installed: no turn ever starts for it
    with trio.move_on_after(1):
        await gate.admit()
    assert gate.waited == 1
    trio.lowlevel.add_instrument(gate)
    try:
        await trio.lowlevel.checkpoint()
        await gate.admit()  # a new turn, nobody in line ahead
    finally:
        trio.lowlevel.remove_instrument(gate)
    assert gate.waited == 1


# ------------------------------------------------------------------ through real sockets


class StepClock(trio.abc.Instrument):
    """The number of task steps run so far, as the gate's clock."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1

    def __call__(self) -> float:
        return float(self.steps)


FLOODERS = 80
BUDGET_STEPS = 10
STEP_BOUND = 5_000
"""Task steps a challenge may take to its ``game_started`` with the gate: measured 2,200
with it (steady over runs: steps, not seconds) and 11,400 without, at this flood."""


@asynccontextmanager
async def flooding(clients: list[Client], stop: trio.Event) -> AsyncIterator[None]:
    """Each flooder sends a move out of turn and waits for the refusal, as fast as it can
    (a closed loop on the move path that never ends a game)."""

    async def flood(client: Client, game_id: str) -> None:
        while not stop.is_set():
            await client.send(Move(game_id=game_id, column=0))
            await client.expect_skipping(Error, LobbyUpdate)

    async with trio.open_nursery() as nursery:
        for index in range(0, len(clients), 2):
            challenger, challenged = clients[index], clients[index + 1]
            game_id = await start_game(challenger, challenged)
            nursery.start_soon(flood, challenger, game_id)  # player 2: never its turn
        yield
        stop.set()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("gated", [True, False])
async def test_a_challenge_crosses_the_lobby_in_bounded_work_while_moves_flood(
    gated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fairness at saturation (issue 17): with every turn full of moves, a challenge and its
    accept take about ten task hops each waiting a whole turn; the gate keeps each turn's
    moves to a budget, so the hops are short.  Without it (``gated=False``, the bound is
    exceeded: the test shows the difference it asserts)."""
    step_clock = StepClock()
    monkeypatch.setattr(
        server_module, "MoveGate", lambda budget: MoveGate(BUDGET_STEPS, clock=step_clock)
    )
    fast = WebSettings(connection=ConnectionSettings(rate=1e9, burst=1e9))
    trio.lowlevel.add_instrument(step_clock)
    try:
        async with AsyncExitStack() as stack:
            server = await stack.enter_async_context(
                open_server(web=fast, move_budget=1.0 if gated else 0.0)
            )
            clients = [
                await stack.enter_async_context(connect(server, f"f{n}")) for n in range(FLOODERS)
            ]
            ann = await stack.enter_async_context(connect(server, "ann"))
            bob = await stack.enter_async_context(connect(server, "bob"))
            await stack.enter_async_context(flooding(clients, trio.Event()))
            with trio.fail_after(60):
                await trio.sleep(0.2)  # the flood is under way
                started = step_clock.steps
                await ann.send(Challenge(opponent="bob"))
                await ann.expect_skipping(InvitationSent, LobbyUpdate, UserList)
                await bob.expect_skipping(Invitation, LobbyUpdate, UserList)
                await bob.send(Accept(challenger="ann"))
                await ann.expect_skipping(GameStarted, LobbyUpdate, UserList)
                steps = step_clock.steps - started
    finally:
        trio.lowlevel.remove_instrument(step_clock)
    if gated:
        assert steps < STEP_BOUND, f"{steps} task steps from challenge to game_started"
    else:
        assert steps > STEP_BOUND, f"only {steps} steps without the gate: the flood is too thin"
