"""The kept verdicts of the first plies are the solver's own, and mirror-symmetric."""

from __future__ import annotations

import pytest

from c4actors import opening_verdicts
from c4actors.solver import move_scores


def test_every_position_of_the_first_plies_is_kept_and_mirrors_its_twin() -> None:
    positions: list[tuple[int, ...]] = [(), *((a,) for a in range(7))]
    positions += [(a, b) for a in range(7) for b in range(7)]
    for moves in positions:
        verdicts = opening_verdicts.known(moves)
        assert verdicts is not None and sorted(verdicts) == list(range(7)), moves
        twin = opening_verdicts.known(tuple(6 - c for c in moves))
        assert twin is not None
        assert {6 - c: v for c, v in verdicts.items()} == twin
    assert opening_verdicts.known((3, 3, 3)) is None, "beyond the table: the solver's job"


def test_the_centre_is_the_only_winning_first_move() -> None:
    verdicts = opening_verdicts.known(())
    assert verdicts is not None
    assert [c for c, v in verdicts.items() if v.outcome == "win"] == [3]


@pytest.mark.parametrize("moves", [(3,), (0, 6), (3, 2)])
def test_a_sample_agrees_with_the_solver(moves: tuple[int, ...]) -> None:
    assert opening_verdicts.known(moves) == move_scores(list(moves))
