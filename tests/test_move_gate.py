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
import httpx
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from c4actors import server as server_module
from c4actors.actors.user import ConnectionSettings
from c4actors.move_gate import (
    LONG_LINE,
    SHORT_LINE,
    GateCollector,
    MoveGate,
    TurnBudget,
)
from c4actors.web import WebSettings
from protocol import (
    Accept,
    Challenge,
    Error,
    GameStarted,
    GameState,
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
    """A line (neither short nor long) after a turn whose budget was spent keeps that turn's
    pace.  (Issue 17: before, any line did, and a line of under 16 now goes whole, so the
    line here is ``SHORT_LINE`` long and the turn's budget spent: same figures asserted.)"""
    budget = TurnBudget(0.005)
    budget.new_turn(0.0, waiting=SHORT_LINE)
    assert budget.to_wake(10) == 1, "nothing started yet: the line still moves"
    for _ in range(3):
        budget.admits(0.0)
    assert not budget.admits(0.006), "the budget is spent"
    budget.new_turn(1.0, waiting=SHORT_LINE)
    assert (budget.to_wake(10), budget.to_wake(2), budget.to_wake(0)) == (3, 2, 0)


def test_a_long_line_moves_at_half_the_last_pace_down_to_one() -> None:
    """Saturation (500 and 1,000 closed-loop games, issue 17): the moves in flight must
    queue in the gate's line, where the lobby's requests pass them."""
    budget = TurnBudget(0.005)
    budget.new_turn(0.0, waiting=SHORT_LINE)
    for _ in range(8):
        budget.admits(0.0)
    paces = []
    for turn in range(1, 6):
        budget.new_turn(float(turn), waiting=LONG_LINE)
        paces.append(budget.to_wake(LONG_LINE))
        for _ in range(paces[-1]):
            assert budget.admits(float(turn))
    assert paces == [4, 2, 1, 1, 1]


def test_a_short_line_is_woken_whole() -> None:
    budget = TurnBudget(0.005)
    budget.new_turn(0.0)
    budget.admits(0.0)
    budget.new_turn(1.0, waiting=SHORT_LINE - 1)
    assert budget.engaged and budget.to_wake(SHORT_LINE - 1) == SHORT_LINE - 1
    budget.new_turn(2.0, waiting=SHORT_LINE)
    assert budget.to_wake(SHORT_LINE) < SHORT_LINE, "not short: paced"


def test_the_lobbys_own_time_does_not_spend_the_moves_budget() -> None:
    """The start burst (issue 17): the lobby's own steps (64 challenges and accepts, about
    8 ms) spent every turn's budget, and a held first move started only in a turn where it
    ran before them (up to 66 ms)."""
    budget = TurnBudget(0.005)
    budget.new_turn(1.0)
    budget.exclude(0.008)  # a lobby step from 1.000 to 1.008
    assert budget.admits(1.012), "4 ms of the moves' own: within the budget"
    assert not budget.admits(1.0135)


def test_a_line_that_is_not_long_moves_twice_as_fast_while_turns_have_room() -> None:
    """100 closed-loop games (issue 17): the pace was the count the last turn started, and
    only woken moves start while a line exists, so it could only fall: one move a turn, and
    every move in line."""
    budget = TurnBudget(0.005)
    budget.new_turn(0.0, waiting=SHORT_LINE)
    assert budget.to_wake(40) == 1
    budget.admits(0.0)
    for turn in range(1, 5):
        budget.new_turn(
            float(turn),
            waiting=40,
        )
        wake = budget.to_wake(40)
        assert wake == 2**turn, f"turn {turn}: the pace doubles"
        for _ in range(wake):
            assert budget.admits(float(turn))
    budget.new_turn(
        5.0,
        waiting=40,
    )
    assert budget.to_wake(40) == 32
    budget.admits(5.0)
    assert not budget.admits(5.006), "this turn's budget is spent"
    budget.new_turn(
        6.0,
        waiting=40,
    )
    assert budget.to_wake(40) == 1, "a full turn: its own pace, no more"


def test_a_hundred_game_closed_loop_never_makes_a_long_line() -> None:
    """100 closed-loop games have at most 100 moves in flight, and with a ``LONG_LINE`` of
    64 they made a long line by themselves while the lobby answered in under 10 ms."""
    assert LONG_LINE > 100
    budget = TurnBudget(0.005)
    budget.new_turn(0.0, waiting=100, lobby_work=False)
    assert not budget.long_line and not budget.engaged


@given(
    turns=st.lists(
        st.tuples(
            st.integers(0, 300),
            st.booleans(),
            st.floats(0.0, 0.01),
            st.lists(st.floats(0.0, 0.02), max_size=40),
        ),
        max_size=30,
    )
)
def test_the_budget_always_moves_a_line_and_holds_only_past_it_or_behind_it(
    turns: list[tuple[int, bool, float, list[float]]],
) -> None:
    budget = TurnBudget(0.005)
    for number, (waiting, lobby_work, lobby_step, offsets) in enumerate(turns):
        budget.new_turn(float(number), waiting=waiting, lobby_work=lobby_work)
        wake = budget.to_wake(waiting)
        assert (1 if waiting else 0) <= wake <= waiting
        if not budget.engaged or waiting < SHORT_LINE:
            assert wake == waiting
        budget.exclude(lobby_step)
        for index, offset in enumerate(sorted(offsets)):
            behind = 0 if index < wake else 1  # woken, or a new move behind the line
            now = number + lobby_step + offset
            admitted = budget.admits(now, waiting=behind)
            if not budget.engaged:
                assert admitted, "a turn that holds nothing"
            else:
                moves_time = now - (number + lobby_step)
                assert admitted == (moves_time < 0.005 and not behind)


def test_a_turn_with_no_lobby_work_holds_no_move_and_wakes_the_whole_line() -> None:
    budget = TurnBudget(0.005)
    budget.new_turn(0.0)
    for _ in range(2):
        budget.admits(0.0)
    budget.new_turn(1.0, waiting=50, lobby_work=False)
    assert budget.admits(1.5, waiting=50), "past the budget, behind a line: still admitted"
    assert budget.to_wake(50) == 50, "not the 2 the last turn started"
    budget.new_turn(2.0, waiting=50)
    assert not budget.admits(2.5), "lobby work: held past the budget"
    assert budget.to_wake(50) == 2, "paced (twice the 1 the last turn started), not whole"


def test_a_long_line_holds_moves_with_no_lobby_work_until_it_is_short_again() -> None:
    """Saturation: the lobby's next request would meet the waves, so the gate holds."""
    budget = TurnBudget(0.005)
    budget.new_turn(0.0)
    for _ in range(3):
        budget.admits(0.0)
    budget.new_turn(1.0, waiting=LONG_LINE, lobby_work=False)
    assert not budget.admits(1.5), "past the budget: held"
    assert budget.to_wake(LONG_LINE) == 1, "paced: half the 3 the last turn started"
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
    """Turns are started by hand here (``after_io_wait``, as Trio calls it once per turn).
    A long line (saturation) moves one a turn here, in order.  (Issue 17: this used a line
    of 4, which now goes whole in the next turn, ``test_a_short_line_goes_in_the_next_turn``;
    the order is asserted over a long line.)"""
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
        for number in range(LONG_LINE):
            nursery.start_soon(move, number)
            await trio.testing.wait_all_tasks_blocked()
        assert order == [] and gate.waited == LONG_LINE
        paced = LONG_LINE - SHORT_LINE + 1  # long until it is under SHORT_LINE
        for turn in range(paced):
            gate.after_io_wait(0.0)  # wakes one: half the last turn's one, at least one
            await trio.testing.wait_all_tasks_blocked()
            assert order == list(range(turn + 1))
        while len(order) < LONG_LINE:  # short now: woken whole, one fits a turn
            before = len(order)
            gate.after_io_wait(0.0)
            await trio.testing.wait_all_tasks_blocked()
            assert len(order) == before + 1
        assert sorted(order[paced:]) == list(range(paced, LONG_LINE))
        assert gate.counts.held == LONG_LINE


async def test_a_short_line_goes_in_the_next_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Moves held in a long turn all start in the next, not one a turn (the start burst,
    issue 17: the line took the count the last turn started, one or two)."""
    clock = ManualClock()
    gate = MoveGate(0.005, clock=clock)
    gate.after_io_wait(0.0)
    clock.now = 1.0  # the turn's budget is spent
    started: list[int] = []

    async def move(number: int) -> None:
        await gate.admit()
        started.append(number)
        clock.now += 0.001  # all four fit in a budget

    async with trio.open_nursery() as nursery:
        for number in range(4):
            nursery.start_soon(move, number)
            await trio.testing.wait_all_tasks_blocked()
        assert started == [] and gate.waited == 4
        gate.after_io_wait(0.0)
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(started) == [0, 1, 2, 3]
    assert gate.counts.held_again == 0 and gate.line == 0
    metrics = {m.name: m.samples[0].value for m in GateCollector(gate).collect()}
    assert metrics["c4_move_gate_held_moves"] == 4 and metrics["c4_move_gate_wakeups"] == 4
    assert metrics["c4_move_gate_turns"] == 2 and metrics["c4_move_gate_line"] == 0


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


async def test_metrics_carry_what_the_gate_did() -> None:
    """An operator sees whether moves are held (issue 17): ``c4_move_gate_*`` on
    ``/metrics`` of a real server, counted from its start."""
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Move(game_id=game_id, column=3))  # the challenged player moves first
        await ann.expect_skipping(GameState, LobbyUpdate, UserList)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            text = (await http.get("/metrics")).text
    values = {
        line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("c4_move_gate_")
    }
    assert values["c4_move_gate_turns_total"] >= 10, "the handshakes, joins and game took turns"
    assert 0 <= values["c4_move_gate_engaged_turns_total"] <= values["c4_move_gate_turns_total"]
    assert values["c4_move_gate_held_moves_total"] == values["c4_move_gate_wakeups_total"] == 0
    assert values["c4_move_gate_held_again_total"] == values["c4_move_gate_line"] == 0
