"""The computer's levels as pure choices: seeded randomness, the budget on a MockClock."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import trio.testing

from c4actors.bots import (
    LEVEL_BUDGETS,
    Budget,
    choose_move,
    quick_move,
)
from c4actors.rules import Board, Termination
from protocol.messages import BotLevel

# Player 1 (to move) has three in a row at the bottom: column 3 wins at once.
WIN_AT_3 = (0, 0, 1, 1, 2, 2)
# Player 2 (to move) must block column 3 or lose.
BLOCK_AT_3 = (0, 6, 1, 6, 2)


def ticking(clock: trio.testing.MockClock, step: float = 0.001) -> Callable[[], float]:
    """A clock that moves ``step`` seconds each time it is read: a search that reads it
    as it works sees time pass, deterministically."""

    def now() -> float:
        clock.jump(step)
        return clock.current_time()

    return now


def roomy() -> Budget:
    return Budget.seconds(60.0)


def test_beginner_misses_some_wins_but_takes_others() -> None:
    columns = [
        choose_move(WIN_AT_3, "beginner", random.Random(s), roomy()).column for s in range(60)
    ]
    assert 3 in columns and set(columns) - {3}


def test_beginner_mostly_avoids_handing_over_a_win_but_not_always() -> None:
    # With a threat on column 3, looking means blocking; a third of the time it does not look.
    columns = [
        choose_move(BLOCK_AT_3, "beginner", random.Random(s), roomy()).column for s in range(90)
    ]
    blocked = columns.count(3)
    assert 30 < blocked < 90, "blocks when it looks, misses when it does not"


@pytest.mark.parametrize("level", ["casual", "strong"])
def test_searching_levels_win_at_once_and_block(level: BotLevel) -> None:
    for seed in range(10):
        budget = LEVEL_BUDGETS[level]
        win = choose_move(WIN_AT_3, level, random.Random(seed), Budget.seconds(budget))
        block = choose_move(BLOCK_AT_3, level, random.Random(seed), Budget.seconds(budget))
        assert (win.column, block.column) == (3, 3)


def test_a_seeded_choice_replays_exactly() -> None:
    moves = (3, 3, 2)
    first = [choose_move(moves, "casual", random.Random(7), roomy()) for _ in range(3)]
    assert len(set(first)) == 1


def test_strong_stops_deepening_within_its_budget() -> None:
    clock = trio.testing.MockClock()
    now = ticking(clock)
    budget = Budget.seconds(LEVEL_BUDGETS["strong"], now)
    started = clock.current_time()
    choice = choose_move((), "strong", random.Random(1), budget)
    used = clock.current_time() - started
    # Each read of the clock costs 1 ms here, and the search reads it every 256 nodes.
    assert used <= LEVEL_BUDGETS["strong"] + 0.002
    assert choice.how == "strong" and choice.depth >= 1
    assert choice.column in range(7)


def test_strong_with_no_budget_left_still_moves() -> None:
    clock = trio.testing.MockClock()
    budget = Budget(deadline=clock.current_time(), clock=clock.current_time)
    choice = choose_move((3, 3), "strong", random.Random(1), budget)
    assert choice.how == "fallback" and choice.column in Board.from_moves((3, 3)).legal_columns()


def test_strong_is_exact_near_the_end() -> None:
    # 36 stones down, no four yet: the search reaches the last cell within its budget.
    moves = (
        0,
        1,
        0,
        1,
        0,
        1,
        1,
        0,
        1,
        0,
        1,
        0,
        2,
        3,
        2,
        3,
        2,
        3,
        3,
        2,
        3,
        2,
        3,
        2,
        4,
        5,
        4,
        5,
        4,
        5,
        5,
        4,
        5,
        4,
        5,
        4,
    )
    board = Board.from_moves(moves)
    assert not board.is_over
    choice = choose_move(moves, "strong", random.Random(0), Budget.seconds(LEVEL_BUDGETS["strong"]))
    assert choice.how == "exact"


def test_casual_with_its_budget_on_a_mock_clock() -> None:
    clock = trio.testing.MockClock()
    now = ticking(clock)
    budget = Budget.seconds(LEVEL_BUDGETS["casual"], now)
    started = clock.current_time()
    choice = choose_move((), "casual", random.Random(3), budget)
    assert clock.current_time() - started <= LEVEL_BUDGETS["casual"] + 0.002
    assert choice.column in range(7)


def test_quick_move_wins_then_blocks_then_plays_safe() -> None:
    assert quick_move(WIN_AT_3, 1) == 3
    assert quick_move(BLOCK_AT_3, 1) == 3
    board = Board.from_moves(())
    column = quick_move((), 5)
    after = board.play(column)
    assert all(
        after.play(c).outcome.termination is not Termination.WIN for c in after.legal_columns()
    )


def test_the_game_over_has_no_move() -> None:
    with pytest.raises(ValueError, match="game is over"):
        choose_move((0, 1, 0, 1, 0, 1, 0), "casual", random.Random(0), roomy())
