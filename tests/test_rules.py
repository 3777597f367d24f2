"""Tests for ``c4actors.rules``: properties over random legal games, then known positions.

The oracle is ``tests.rules_reference``, a naive referee that scans all 69 lines of the drawn
rows and shares no logic with the bitboard engine.
"""

from __future__ import annotations

import copy
import enum
import itertools
import pickle

import attrs
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from c4actors.rules import (
    CELLS,
    COLUMNS,
    ROWS,
    Board,
    Cell,
    IllegalMoveError,
    Outcome,
    Termination,
)
from tests.rules_reference import (
    ALL_LINES,
    EMPTY_ROWS,
    brute_force_outcome,
    drop,
    winning_lines,
)

# --------------------------------------------------------------------------- strategies


def pattern_player(phases: tuple[int, ...], column: int, height: int) -> int:
    """Whose stone sits ``height`` stones up ``column`` on the alternating board ``phases``."""
    return 1 + (height + phases[column]) % 2


def _alternating_rows(phases: tuple[int, ...]) -> list[str]:
    """A full board whose columns alternate colours, column c starting with player 1 + phases[c]."""
    return [
        "".join(str(pattern_player(phases, c, height)) for c in range(COLUMNS))
        for height in range(ROWS - 1, -1, -1)
    ]


# The full, perfectly alternating boards without a four (the reference decides which).  Any order
# of play that ends in one of them is a 42-move game that never made four.
FOUR_FREE_PHASES = [
    phases
    for phases in itertools.product((0, 1), repeat=COLUMNS)
    if not winning_lines(_alternating_rows(phases))
]


@st.composite
def games(draw: st.DrawFn) -> Board:
    """A random legal game, stopped at a drawn length or when it ends.

    Purely random play nearly always ends in a win around move 20, so two other styles stretch
    games out: players who never take a win they can avoid, and players who follow a four-free
    alternating board while they can and play randomly once it gets stuck.  Between them nearly
    a third of the games run past move 35, so full boards and late wins are common.
    """
    # Half the games are played to the end; the rest stop at a uniformly drawn length.
    length = draw(st.just(CELLS) | st.integers(min_value=0, max_value=CELLS))
    style = draw(st.sampled_from(["random", "avoid_wins", "patterned"]))
    phases = draw(st.sampled_from(FOUR_FREE_PHASES))
    board = Board.empty()
    while len(board.moves) < length and not board.is_over:
        columns = board.legal_columns()
        if style == "avoid_wins":
            columns = [c for c in columns if not board.play(c).is_over] or columns
        elif style == "patterned":
            columns = [
                c for c in columns if pattern_player(phases, c, board.moves.count(c)) == board.turn
            ] or columns
        board = board.play(draw(st.sampled_from(columns)))
    return board


def _pattern_columns(phases: tuple[int, ...], heights: list[int], player: int) -> list[int]:
    """The columns whose next cell on the alternating board ``phases`` is ``player``'s."""
    return [
        c
        for c in range(COLUMNS)
        if heights[c] < ROWS and pattern_player(phases, c, heights[c]) == player
    ]


@st.composite
def four_free_full_games(draw: st.DrawFn) -> list[int]:
    """Moves that fill the board into one of the four-free alternating boards, in random order.

    A random order can paint itself into a corner, where the mover's colour is next in no
    column; looking one move ahead avoids that (in 15,600 trial games it never got stuck), and
    ``assume`` discards the game should it happen anyway.
    """
    phases = draw(st.sampled_from(FOUR_FREE_PHASES))
    heights = [0] * COLUMNS
    moves: list[int] = []
    for ply in range(CELLS):
        player = 1 + ply % 2
        columns = _pattern_columns(phases, heights, player)
        assume(columns)
        safe = []
        for column in columns:
            heights[column] += 1
            if ply == CELLS - 1 or _pattern_columns(phases, heights, 3 - player):
                safe.append(column)
            heights[column] -= 1
        column = draw(st.sampled_from(safe or columns))
        heights[column] += 1
        moves.append(column)
    return moves


# --------------------------------------------------------------------------- helpers


def prefixes(board: Board) -> list[Board]:
    """Every position of the game that led to ``board``, from the empty board to ``board``."""
    positions = [Board.empty()]
    for column in board.moves:
        positions.append(positions[-1].play(column))
    return positions


def verdict(outcome: Outcome) -> tuple[Termination, int | None]:
    return (outcome.termination, outcome.winner)


def mirror_cell(cell: Cell) -> Cell:
    row, column = cell
    return (row, COLUMNS - 1 - column)


DIRECTIONS = {(0, 1), (1, 0), (1, 1), (1, -1)}


def assert_is_line_of_four(cells: tuple[Cell, ...]) -> None:
    assert len(cells) == 4
    assert all(0 <= r < ROWS and 0 <= c < COLUMNS for r, c in cells)
    steps = {(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(cells)}
    assert len(steps) == 1, f"not evenly spaced: {cells}"
    assert steps <= DIRECTIONS, f"not adjacent cells in a line: {cells}"


# --------------------------------------------------------------------------- properties


@given(games())
def test_gravity_no_hole_below_a_stone(board: Board) -> None:
    rows = board.to_rows()
    assert len(rows) == ROWS
    assert all(len(row) == COLUMNS and set(row) <= {".", "1", "2"} for row in rows)
    for column in range(COLUMNS):
        cells = "".join(row[column] for row in rows)  # top to bottom
        stones = cells.lstrip(".")
        assert "." not in stones, f"hole in column {column}: {rows}"
        assert len(stones) == board.moves.count(column)


@given(games())
def test_players_alternate(board: Board) -> None:
    text = "".join(board.to_rows())
    ones, twos = text.count("1"), text.count("2")
    assert ones - twos in (0, 1)
    assert ones + twos == len(board.moves)
    assert board.turn == (1 if ones == twos else 2)


@given(games())
def test_outcome_agrees_with_brute_force_on_every_prefix(board: Board) -> None:
    rows = list(EMPTY_ROWS)
    positions = prefixes(board)
    assert positions[0].to_rows() == rows
    for before, after, column in zip(positions[:-1], positions[1:], board.moves, strict=True):
        # An independent drop on the drawn rows lands where the bitboard carry put the stone.
        rows = drop(rows, column, str(before.turn))
        assert after.to_rows() == rows
        assert verdict(after.outcome) == verdict(brute_force_outcome(rows))
        assert after.is_over == after.outcome.is_over
        if after.outcome.termination is Termination.WIN:
            assert after.outcome.line in winning_lines(rows)
    # Only the last position may be over: the game stops at the first four or at a full board.
    assert not any(p.is_over for p in positions[:-1])
    fullness = "full board" if len(board.moves) == CELLS else "not full"
    event(f"{board.outcome.termination.value}, {fullness}")


@given(games())
def test_winning_line_is_four_winner_stones_through_last_move(board: Board) -> None:
    outcome = board.outcome
    if outcome.termination is not Termination.WIN:
        assert outcome.winner is None
        assert outcome.line is None
        return
    assert outcome.line is not None
    rows = board.to_rows()
    assert_is_line_of_four(outcome.line)
    assert all(rows[r][c] == str(outcome.winner) for r, c in outcome.line)
    assert board.last_move in outcome.line
    assert outcome.winner == 3 - board.turn  # the player who just moved


@given(games())
def test_last_move_is_the_top_stone_of_its_column(board: Board) -> None:
    if not board.moves:
        assert board.last_move is None
        return
    assert board.last_move is not None
    row, column = board.last_move
    rows = board.to_rows()
    assert column == board.moves[-1]
    assert rows[row][column] == str(3 - board.turn)
    assert all(rows[r][column] == "." for r in range(row))


@given(games())
def test_mirrored_game_mirrors_rows_and_outcome(board: Board) -> None:
    mirrored = Board.from_moves(COLUMNS - 1 - c for c in board.moves)
    assert mirrored.to_rows() == [row[::-1] for row in board.to_rows()]
    assert verdict(mirrored.outcome) == verdict(board.outcome)
    assert mirrored.legal_columns() == sorted(COLUMNS - 1 - c for c in board.legal_columns())
    if board.outcome.line is None:
        assert mirrored.outcome.line is None
        return
    assert mirrored.outcome.line is not None
    assert mirrored.last_move is not None
    reflected = tuple(sorted(mirror_cell(cell) for cell in board.outcome.line))
    # The mirror of the line wins in the mirrored game; when the last move made more than one
    # four, each game may report a different one, so the lines are equal only if it made one.
    mirrored_lines = winning_lines(mirrored.to_rows())
    assert reflected in mirrored_lines
    through_last = [line for line in mirrored_lines if mirrored.last_move in line]
    if len(through_last) == 1:
        assert mirrored.outcome.line == reflected


@given(games())
def test_from_moves_round_trips(board: Board) -> None:
    rebuilt = Board.from_moves(board.moves)
    assert rebuilt == board
    assert hash(rebuilt) == hash(board)
    assert rebuilt.outcome == board.outcome


@given(games())
def test_legal_columns_are_the_open_columns_until_the_end(board: Board) -> None:
    top = board.to_rows()[0]
    open_columns = [c for c in range(COLUMNS) if top[c] == "."]
    if board.is_over:
        assert board.legal_columns() == []
        for column in range(COLUMNS):
            with pytest.raises(IllegalMoveError) as caught:
                board.play(column)
            assert caught.value.code == "game_over"
        return
    assert board.legal_columns() == open_columns
    assert open_columns, "a full board is always over"
    for column in set(range(COLUMNS)) - set(open_columns):
        with pytest.raises(IllegalMoveError) as caught:
            board.play(column)
        assert caught.value.code == "column_full"


@given(games(), st.integers(min_value=0, max_value=COLUMNS - 1))
def test_play_leaves_the_board_unchanged(board: Board, column: int) -> None:
    before = (board.to_rows(), board.moves, board.outcome)
    try:
        after = board.play(column)
    except IllegalMoveError:
        pass
    else:
        assert after.moves == (*board.moves, column)
    assert (board.to_rows(), board.moves, board.outcome) == before


@given(four_free_full_games())
def test_full_board_without_four_is_a_draw(moves: list[int]) -> None:
    positions = prefixes(Board.from_moves(moves))
    board = positions[-1]
    assert not any(p.is_over for p in positions[:-1])
    assert len(board.moves) == CELLS
    assert "." not in "".join(board.to_rows())
    assert winning_lines(board.to_rows()) == []
    assert board.outcome == Outcome(Termination.DRAW)
    assert board.is_over
    assert board.legal_columns() == []


# --------------------------------------------------------------------------- known positions


def test_empty_board() -> None:
    board = Board.empty()
    assert board == Board()
    assert board.moves == ()
    assert board.turn == 1
    assert board.last_move is None
    assert board.outcome == Outcome(Termination.ONGOING)
    assert not board.is_over
    assert board.legal_columns() == list(range(COLUMNS))
    assert board.to_rows() == ["......."] * ROWS


def test_rows_are_drawn_top_row_first() -> None:
    board = Board.from_moves([3, 3, 4])
    assert board.to_rows() == [
        ".......",
        ".......",
        ".......",
        ".......",
        "...2...",
        "...11..",
    ]
    assert board.last_move == (5, 4)
    assert board.turn == 2


def win(moves: list[int], winner: int, line: tuple[Cell, ...]) -> Board:
    board = Board.from_moves(moves)
    assert board.outcome == Outcome(Termination.WIN, winner, line)
    assert board.is_over
    assert board.legal_columns() == []
    assert board.last_move in line
    return board


def test_horizontal_win_from_edge_column_0() -> None:
    win([0, 0, 1, 1, 2, 2, 3], 1, ((5, 0), (5, 1), (5, 2), (5, 3)))


def test_horizontal_win_completed_in_edge_column_0() -> None:
    win([3, 3, 2, 2, 1, 1, 0], 1, ((5, 0), (5, 1), (5, 2), (5, 3)))


def test_horizontal_win_completed_in_edge_column_6() -> None:
    win([3, 3, 4, 4, 5, 5, 6], 1, ((5, 3), (5, 4), (5, 5), (5, 6)))


def test_vertical_win_in_edge_column_0() -> None:
    win([0, 1, 0, 1, 0, 1, 0], 1, ((2, 0), (3, 0), (4, 0), (5, 0)))


def test_vertical_win_for_player_2_in_edge_column_6() -> None:
    win([0, 6, 1, 6, 0, 6, 1, 6], 2, ((2, 6), (3, 6), (4, 6), (5, 6)))


def test_diagonal_win_rising_to_the_right() -> None:
    board = win([0, 1, 1, 2, 2, 3, 2, 3, 3, 5, 3], 1, ((2, 3), (3, 2), (4, 1), (5, 0)))
    assert board.to_rows()[2:] == [
        "...1...",
        "..11...",
        ".112...",
        "1222.2.",
    ]


def test_diagonal_win_falling_to_the_right() -> None:
    win([6, 5, 5, 4, 4, 3, 4, 3, 3, 1, 3], 1, ((2, 3), (3, 4), (4, 5), (5, 6)))


def test_five_in_a_row_reports_four_of_them_through_the_last_move() -> None:
    board = Board.from_moves([0, 0, 1, 1, 3, 3, 4, 6, 2])
    assert board.to_rows()[5] == "11111.2"
    assert board.outcome.winner == 1
    assert board.outcome.line in (
        ((5, 0), (5, 1), (5, 2), (5, 3)),
        ((5, 1), (5, 2), (5, 3), (5, 4)),
    )
    assert board.last_move == (5, 2)


# Found by random search: the last empty cell completes player 2's vertical four in column 4.
LAST_CELL_WINS = [4, 2, 1, 6, 2, 6, 3, 0, 6, 6, 5, 3, 4, 4, 1, 5, 0, 0, 5, 3, 3]
LAST_CELL_WINS += [4, 6, 1, 5, 3, 3, 0, 6, 1, 1, 5, 5, 1, 2, 2, 2, 4, 2, 0, 0, 4]

# Found by random search: a full board without a four.
FULL_DRAW = [5, 0, 6, 2, 0, 4, 6, 1, 0, 2, 6, 0, 3, 0, 2, 4, 3, 2, 4, 1, 0]
FULL_DRAW += [5, 2, 1, 2, 5, 1, 3, 3, 5, 4, 6, 3, 4, 6, 6, 5, 3, 4, 5, 1, 1]


def test_last_cell_of_a_full_board_can_win() -> None:
    before = Board.from_moves(LAST_CELL_WINS[:-1])
    assert not before.is_over
    assert before.legal_columns() == [4]
    board = win(LAST_CELL_WINS, 2, ((0, 4), (1, 4), (2, 4), (3, 4)))
    assert len(board.moves) == CELLS
    assert "." not in "".join(board.to_rows())


def test_full_board_without_four_is_a_draw_known_game() -> None:
    board = Board.from_moves(FULL_DRAW)
    assert board.to_rows() == [
        "1212122",
        "2111211",
        "2121122",
        "1212121",
        "1221221",
        "2221211",
    ]
    assert board.outcome == Outcome(Termination.DRAW)
    assert board.outcome.winner is None
    assert board.outcome.line is None
    assert board.legal_columns() == []


def test_column_full() -> None:
    board = Board.from_moves([2] * ROWS)
    assert 2 not in board.legal_columns()
    with pytest.raises(IllegalMoveError) as caught:
        board.play(2)
    assert caught.value.code == "column_full"
    assert "2" in str(caught.value)
    assert board.moves == (2,) * ROWS


@pytest.mark.parametrize("column", [-1, 7, 100, True, False, 3.0, "3", None])
def test_invalid_column(column: object) -> None:
    with pytest.raises(IllegalMoveError) as caught:
        Board.empty().play(column)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_column"
    assert isinstance(caught.value, ValueError)


def test_invalid_column_is_reported_before_game_over() -> None:
    board = Board.from_moves([0, 1, 0, 1, 0, 1, 0])
    for column in (-1, 7, True):
        with pytest.raises(IllegalMoveError) as caught:
            board.play(column)
        assert caught.value.code == "invalid_column"


def test_game_over_takes_precedence_over_column_full() -> None:
    board = Board.from_moves(LAST_CELL_WINS)
    for column in range(COLUMNS):
        with pytest.raises(IllegalMoveError) as caught:
            board.play(column)
        assert caught.value.code == "game_over"


def test_game_over_after_a_win() -> None:
    board = Board.from_moves([0, 1, 0, 1, 0, 1, 0])
    with pytest.raises(IllegalMoveError) as caught:
        board.play(2)
    assert caught.value.code == "game_over"
    with pytest.raises(IllegalMoveError) as caught:
        Board.from_moves([0, 1, 0, 1, 0, 1, 0, 2])
    assert caught.value.code == "game_over"


def test_int_subclasses_other_than_bool_are_columns() -> None:
    class Lane(enum.IntEnum):
        MIDDLE = 3

    board = Board.empty().play(Lane.MIDDLE)
    assert board.moves == (3,)
    assert type(board.moves[0]) is int


def test_illegal_move_error_pickles_with_its_code() -> None:
    error = IllegalMoveError("column_full", "column 2 is full")
    restored = pickle.loads(pickle.dumps(error))
    assert isinstance(restored, IllegalMoveError)
    assert restored.code == "column_full"
    assert restored.message == str(restored) == "column 2 is full"


def test_board_is_immutable_and_survives_copy_and_pickle() -> None:
    board = Board.from_moves([3, 3, 4])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        board.moves = ()  # type: ignore[misc]
    for clone in (copy.copy(board), copy.deepcopy(board), pickle.loads(pickle.dumps(board))):
        assert clone == board
        assert clone.play(5) == board.play(5)


def test_outcome_rejects_inconsistent_values() -> None:
    with pytest.raises(ValueError, match="four cells"):
        Outcome(Termination.WIN, 1)
    with pytest.raises(ValueError, match="four cells"):
        Outcome(Termination.WIN, 3, ((5, 0), (5, 1), (5, 2), (5, 3)))
    with pytest.raises(ValueError, match="only a win"):
        Outcome(Termination.DRAW, 1)


def test_reference_knows_all_69_lines() -> None:
    assert len(set(ALL_LINES)) == 69
    for line in ALL_LINES:
        assert_is_line_of_four(line)
