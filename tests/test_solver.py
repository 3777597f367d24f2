"""The solver against published scores, a brute-force referee, and its own invariants.

Positions come from random legal play (hypothesis), cut at a ply where an exact solve takes
milliseconds, so the properties run in seconds.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from c4actors.rules import CELLS, Board
from c4actors.solver import (
    Position,
    SolverTimeout,
    Verdict,
    move_scores,
    outcome_sign,
    score,
    solve,
    verdicts,
)
from c4actors.solver.book import distance_book
from c4actors.solver.position import columns_text
from c4actors.solver.search import SearchTables, drive, score_position
from c4actors.solver.verdicts import best_moves, bound_from_parent, move_verdict
from tests.solver_positions import KNOWN_SCORES, columns


@pytest.mark.parametrize(("moves", "expected"), KNOWN_SCORES)
def test_published_scores(moves: str, expected: int) -> None:
    assert solve(columns(moves)).score == expected


def test_pons_examples_read_as_one_based_columns() -> None:
    # "4455": both players twice in the middle column, then in the one to its right; the
    # side to move wins with its 4th stone (a double threat on the bottom row): 3 plies.
    assert solve(columns("4455")) == Verdict("win", 3, 18)
    # The side to move (player 2, 11 stones down) loses to player 1's 7th stone, at ply 13.
    assert solve(columns("44455554221")) == Verdict("loss", 2, -15)


def games(min_ply: int, max_ply: int) -> st.SearchStrategy[list[int]]:
    """Moves of a game still in progress after ``min_ply`` to ``max_ply`` random moves.

    Drawn as a seed and a length (a random game shrinks poorly move by move); the game
    stops early if every move would end it.
    """
    return st.builds(random_game, st.integers(0, 2**32 - 1), st.integers(min_ply, max_ply))


def random_game(seed: int, length: int) -> list[int]:
    rng = random.Random(seed)
    board = Board()
    while len(board.moves) < length:
        going_on = [c for c in board.legal_columns() if not board.play(c).is_over]
        if not going_on:
            break
        board = board.play(rng.choice(going_on))
    return list(board.moves)


def _brute_force(board: Board, memo: dict[tuple[int, int], int]) -> int:
    """Plain minimax over the rules engine: Pons' score from its definition (memoised on
    the stones, since many move orders reach one position)."""
    known = memo.get((board.bitboard1, board.bitboard2))
    if known is not None:
        return known
    best = -CELLS
    stones = len(board.moves)
    for column in board.legal_columns():
        child = board.play(column)
        if child.outcome.winner is not None:
            value = (CELLS + 1 - stones) // 2
        elif child.is_over:
            value = 0
        else:
            value = -_brute_force(child, memo)
        best = max(best, value)
    memo[board.bitboard1, board.bitboard2] = best
    return best


@settings(max_examples=60)
@given(games(31, 36))
def test_agrees_with_brute_force_minimax_near_the_end(moves: list[int]) -> None:
    assert solve(moves).score == _brute_force(Board.from_moves(moves), {})


@pytest.fixture(autouse=True)
def fresh_tables() -> None:
    """Each test starts with this process's solver tables empty (they are per process)."""
    verdicts.reset_tables()


def _searched(moves: list[int]) -> int:
    """The score by the search alone, in tables of its own (no cache shared with ``solve``)."""
    position = Position.from_moves(moves)
    if position.can_win_next():
        return (CELLS + 1 - len(moves)) // 2
    return drive(position, SearchTables(size=100_003), distance_book())


@settings(max_examples=25)
@given(games(22, 36))
def test_score_is_the_best_of_the_moves(moves: list[int]) -> None:
    verdicts = move_scores(moves)
    assert set(verdicts) == set(Board.from_moves(moves).legal_columns())
    assert solve(moves).score == max(v.score for v in verdicts.values())
    assert _searched(moves) == solve(moves).score
    position = Position.from_moves(moves)
    for column, verdict in verdicts.items():
        if position.is_winning_move(column):
            assert verdict == Verdict("win", 1, (CELLS + 1 - len(moves)) // 2)
        elif len(moves) + 1 < CELLS:
            child = Verdict.from_score(_searched([*moves, column]), len(moves) + 1)
            assert verdict.score == -child.score
            assert verdict.plies == child.plies + 1
            assert verdict.outcome == {"win": "loss", "loss": "win", "draw": "draw"}[child.outcome]


@settings(max_examples=25)
@given(games(20, 34))
def test_best_moves_are_those_keeping_the_score(moves: list[int]) -> None:
    position = Position.from_moves(moves)
    best_score, best = best_moves(position)
    assert best_score == solve(moves).score
    scores = move_scores(moves)
    assert best == tuple(c for c, v in sorted(scores.items()) if v.score == best_score)
    for column in position.legal_columns():
        assert move_verdict(position, column) == scores[column]


@settings(max_examples=25)
@given(games(20, 34), st.integers(0, 3))
def test_a_bound_and_guess_never_change_the_score(moves: list[int], below: int) -> None:
    """``at_least`` (any true lower bound) and ``guess`` (probed first) only save probes."""
    position = Position.from_moves(moves)
    if position.can_win_next():
        return
    exact = _searched(moves)
    bound = max(-(CELLS - len(moves)) // 2, exact - below)
    for guess in (None, bound, exact, exact + 1, -exact):
        tables = SearchTables(size=100_003)
        found = score_position(
            position, tables=tables, book=distance_book(), at_least=bound, guess=guess
        )
        assert found == exact, (guess, bound)


@settings(max_examples=15)
@given(games(18, 32))
def test_bound_from_parent_is_a_true_lower_bound(moves: list[int]) -> None:
    """After the parent position is solved, the bound on any child holds (and is exact for
    a best reply): what ``perfect`` relies on between its moves."""
    # Fresh tables for each example, not only each test (the autouse fixture): an earlier
    # example may have solved this one's parent (the same seed, one move longer).
    verdicts.reset_tables()
    parent, last = moves[:-1], moves[-1]
    assert bound_from_parent(moves) is None  # nothing solved yet in fresh tables
    if Position.from_moves(parent).can_win_next():
        return
    parent_score, best = best_moves(Position.from_moves(parent))
    bound = bound_from_parent(moves)
    assert bound == -parent_score
    child = Position.from_moves(moves)
    if child.can_win_next():
        return
    exact = _searched(moves)
    assert exact >= bound
    if last in best:
        assert exact == bound


@settings(max_examples=40)
@given(games(20, 32))
def test_mirror_images_score_the_same(moves: list[int]) -> None:
    mirrored = [6 - c for c in moves]
    assert solve(moves) == solve(mirrored)
    position, image = Position.from_moves(moves), Position.from_moves(mirrored)
    assert position.mirror_key() == image.key()
    assert position.canonical_key() == image.canonical_key()


@settings(max_examples=40)
@given(games(20, 34))
def test_win_draw_loss_search_agrees_in_sign(moves: list[int]) -> None:
    position = Position.from_moves(moves)
    exact = score(position)
    assert outcome_sign(position) == (exact > 0) - (exact < 0)


@settings(max_examples=20)
@given(games(5, 11))
def test_win_draw_loss_search_through_its_book_agrees_in_sign(moves: list[int]) -> None:
    # From these plies both searches reach 12 stones, where each reads its own book: the
    # win/draw/loss one (a missing position is a player 1 win) and the one with distances.
    position = Position.from_moves(moves)
    exact = score(position)
    assert outcome_sign(position) == (exact > 0) - (exact < 0)


@settings(max_examples=30)
@given(games(20, 40))
def test_verdict_plies_match_the_score(moves: list[int]) -> None:
    verdict = solve(moves)
    end = len(moves) + verdict.plies
    assert end <= CELLS
    if verdict.outcome == "draw":
        assert end == CELLS
    else:
        # The winner's stone count at the end gives back the score.
        assert abs(verdict.score) == 22 - (end + 1) // 2
        winner_moves_first = end % 2 == 1
        mover_is_first = len(moves) % 2 == 0
        assert (verdict.outcome == "win") == (winner_moves_first == mover_is_first)


@pytest.mark.parametrize(
    ("moves", "message"),
    [
        ([3, 3, 3, 3, 3, 3, 3], "move 7"),
        ([7], "move 1"),
        ([0, 1, 0, 1, 0, 1, 0], "the game is over"),
        ([0, 1, 0, 1, 0, 1, 0, 1], "move 8"),
    ],
)
def test_bad_moves_are_a_clear_value_error(moves: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve(moves)
    with pytest.raises(ValueError, match=message):
        move_scores(moves)


def test_a_past_deadline_raises_solver_timeout() -> None:
    # A position of the hard band (ply 13), which no cache holds yet.
    with pytest.raises(SolverTimeout):
        solve(columns("4444441233212"), deadline=time.monotonic() - 1)


def test_position_basics() -> None:
    position = Position.from_moves(columns("444444"))
    assert position.moves == 6
    assert position.legal_columns() == [0, 1, 2, 4, 5, 6]
    with pytest.raises(ValueError):
        position.play(3)
    almost = Position.from_moves(columns("121212"))
    assert almost.is_winning_move(0)
    assert not almost.is_winning_move(1)
    assert almost.can_win_next()
    assert columns_text([3, 3, 4]) == "445"
