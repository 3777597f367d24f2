"""The ``perfect`` level and the analysis jobs against the solver: perfect as player 1 beats
every other level, never lets a won endgame go, plays at random among equally best moves;
every level keeps within its budget; the analysis in parts equals ``analyse`` whole."""

from __future__ import annotations

import random
import time

import pytest
import trio.testing

from c4actors.analysis import analyse
from c4actors.bots import LEVEL_BUDGETS, Budget, choose_move
from c4actors.compute_jobs import analyse_plies, bot_move
from c4actors.rules import Board
from c4actors.solver import move_scores, solve
from protocol.messages import BotLevel

ROOMY = 600.0
"""The correctness tests give ``perfect`` all the time it needs (its budget is tested apart)."""


def play(first: BotLevel, second: BotLevel, seed: int, moves: tuple[int, ...] = ()) -> Board:
    rng = random.Random(seed)
    board = Board.from_moves(moves)
    while not board.is_over:
        level = first if board.turn == 1 else second
        seconds = ROOMY if level == "perfect" else LEVEL_BUDGETS[level]
        board = board.play(choose_move(board.moves, level, rng, Budget.seconds(seconds)).column)
    return board


@pytest.mark.parametrize("level", ["beginner", "casual", "strong"])
@pytest.mark.parametrize("seed", [1, 2])
def test_perfect_as_player_one_beats_every_other_level(level: BotLevel, seed: int) -> None:
    board = play("perfect", level, seed)
    assert board.outcome.winner == 1, board.moves


def won_endgames(count: int) -> list[tuple[int, ...]]:
    """Positions after 22 random moves (seeded) that the side to move wins."""
    found: list[tuple[int, ...]] = []
    rng = random.Random(15)
    while len(found) < count:
        board = Board()
        while not board.is_over and len(board.moves) < 22:
            board = board.play(rng.choice(board.legal_columns()))
        if not board.is_over and solve(board.moves).outcome == "win":
            found.append(board.moves)
    return found


@pytest.mark.parametrize("opponent", ["strong", "perfect"])
def test_perfect_never_lets_a_won_endgame_go_and_wins_fastest(opponent: BotLevel) -> None:
    for moves in won_endgames(6):
        rng = random.Random(len(moves))
        board = Board.from_moves(moves)
        winner = board.turn
        while not board.is_over:
            if board.turn == winner:
                verdict = solve(board.moves)
                choice = choose_move(board.moves, "perfect", rng, Budget.seconds(ROOMY))
                played = move_scores(board.moves)[choice.column]
                assert played == verdict, "the win kept, and no slower than it could be"
                board = board.play(choice.column)
            else:
                seconds = ROOMY if opponent == "perfect" else LEVEL_BUDGETS[opponent]
                board = board.play(
                    choose_move(board.moves, opponent, rng, Budget.seconds(seconds)).column
                )
        assert board.outcome.winner == winner, moves


def test_perfect_picks_at_random_among_equally_best_moves() -> None:
    moves = (3, 3, 3, 3, 3, 3)  # symmetric: mirrored best moves score the same
    scores = move_scores(moves)
    best = max(v.score for v in scores.values())
    equal = {c for c, v in scores.items() if v.score == best}
    assert len(equal) > 1
    chosen = {
        choose_move(moves, "perfect", random.Random(s), Budget.seconds(ROOMY)).column
        for s in range(20)
    }
    assert chosen == equal


def test_perfect_out_of_time_falls_back_to_a_legal_move() -> None:
    clock = trio.testing.MockClock()
    budget = Budget(deadline=clock.current_time(), clock=clock.current_time)
    moves = position_at(13, seed=4)  # the solver's slow band: no answer at once
    choice = choose_move(moves, "perfect", random.Random(0), budget)
    assert choice.how == "fallback"
    assert choice.column in Board.from_moves(moves).legal_columns()


def position_at(plies: int, seed: int) -> tuple[int, ...]:
    """A position after ``plies`` random (seeded) moves whose game is not over."""
    rng = random.Random(seed)
    while True:
        board = Board()
        while not board.is_over and len(board.moves) < plies:
            board = board.play(rng.choice(board.legal_columns()))
        if not board.is_over:
            return board.moves


# The empty board, the kept openings, the solver's slow band (13-17 stones), the end.
POSITIONS = [position_at(plies, seed=plies) for plies in (0, 2, 5, 12, 13, 14, 16, 20, 30)]


@pytest.mark.parametrize("level", ["beginner", "casual", "strong", "perfect"])
def test_no_move_exceeds_its_levels_budget(level: BotLevel) -> None:
    budget = LEVEL_BUDGETS[level]
    for moves in POSITIONS:
        started = time.monotonic()
        move = bot_move(moves, level, 7, budget)
        took = time.monotonic() - started
        # The search checks its clock every 256 nodes, the solver every few thousand:
        # a few tens of milliseconds past the budget at most, even on a loaded machine.
        assert move.seconds <= budget + 0.15, (moves, move)
        assert took <= budget + 0.15


def test_the_analysis_in_parts_is_the_analysis_whole() -> None:
    game = (3, 3, 3, 3, 2, 4, 0, 2, 2, 4, 4, 5)
    parts = [*analyse_plies(game, 0, 5, 60.0).moves, *analyse_plies(game, 5, len(game), 60.0).moves]
    assert parts == analyse(game)


def test_perfect_never_solves_the_moves_that_are_not_best(monkeypatch: pytest.MonkeyPatch) -> None:
    """``perfect`` needs the best moves only: one probe per move, not every move's exact
    score (that took about 2.5 times as long at 13-17 stones, where its budget runs out)."""
    import c4actors.solver.verdicts as verdicts

    def no_exact_solve(*args: object, **kwargs: object) -> object:
        raise AssertionError("perfect solved a move that is not best")

    moves = position_at(16, seed=3)
    scores = move_scores(moves)
    best = max(v.score for v in scores.values())
    assert any(v.score < best for v in scores.values())  # some move is not best
    monkeypatch.setattr(verdicts, "move_verdict", no_exact_solve)
    choice = choose_move(moves, "perfect", random.Random(0), Budget.seconds(ROOMY))
    assert choice.how == "perfect"
    assert scores[choice.column].score == best


def test_perfect_short_of_time_plays_a_move_proven_best(monkeypatch: pytest.MonkeyPatch) -> None:
    """The score known and one move proven best when time runs out: that move, ``best``."""
    import c4actors.solver.verdicts as verdicts
    from c4actors.solver import SolverTimeout, search

    moves = position_at(16, seed=6)
    scores = move_scores(moves)
    top = max(v.score for v in scores.values())
    # Two best moves, the centre column one of them (it is probed first).
    assert sorted(c for c, v in scores.items() if v.score == top) == [3, 5]
    real_probe = search.score_exceeds
    probes = []

    def second_probe_times_out(*args: object, **kwargs: object) -> bool:
        probes.append(args)
        if len(probes) > 1:
            raise SolverTimeout("the solver ran out of time")
        return real_probe(*args, **kwargs)  # type: ignore[arg-type]

    verdicts.reset_tables()
    monkeypatch.setattr(verdicts, "score_exceeds", second_probe_times_out)
    choice = choose_move(moves, "perfect", random.Random(0), Budget.seconds(ROOMY))
    assert (choice.how, choice.column) == ("best", 3)
    # Without a move proven best, the heuristic search's move (the score is remembered:
    # a second of budget is plenty, and the heuristic search stops there).
    probes.append(())
    choice = choose_move(moves, "perfect", random.Random(0), Budget.seconds(1.0))
    assert choice.how == "fallback"
