"""The solver benchmark's bookkeeping (not its speed: no timed assertions here)."""

from __future__ import annotations

import datetime
import importlib
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from c4actors.rules import CELLS
from c4actors.solver import Position, solve

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def solver_bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH_DIR))
    try:
        yield importlib.import_module("solver_bench")
    finally:
        sys.path.remove(str(BENCH_DIR))


def test_corpus_and_positions(solver_bench: ModuleType) -> None:
    games = solver_bench.corpus(5, seed=3)
    assert games == solver_bench.corpus(5, seed=3)
    late = solver_bench.positions(games, 10, range(19, CELLS), seed=1)
    assert all(19 <= len(moves) < CELLS for moves in late)
    assert all(any(game[: len(m)] == m for game in games) for m in late)


def test_the_baseline_agrees_with_the_solver(solver_bench: ModuleType) -> None:
    games = solver_bench.corpus(10, seed=5)
    for moves in solver_bench.positions(games, 5, range(CELLS - 9, CELLS), seed=2):
        baseline = solver_bench.textbook_negamax(Position.from_moves(moves), -CELLS, CELLS)
        assert baseline == solve(moves).score


def test_section_names_every_target(solver_bench: ModuleType) -> None:
    timing = solver_bench.Timing
    rng = random.Random(1)
    figures = solver_bench.Figures(
        late=[timing(rng.random() / 10, 0.01) for _ in range(50)],
        early=[timing(0.2, 0.1)],
        games=[timing(12.0, 6.0), timing(40.0, 20.0)],
        game_moves=70,
        baseline_positions=3,
        baseline_seconds=2.0,
        solver_on_baseline_seconds=0.01,
        engine_move_seconds=1e-6,
        load=(1.0, 2.0, 3.0),
    )
    args = solver_bench.parse_args(["--no-write"])
    section = solver_bench.markdown_section(figures, datetime.date(2026, 12, 6), args)
    assert section.startswith(solver_bench.START_MARKER)
    assert section.endswith(solver_bench.END_MARKER)
    assert "target p99 < 0.5 s: met" in section
    assert "target max < 1.0 s: met" in section
    assert "target p99 < 30 s: MISSED" in section
    assert "200x" in section
    assert "1,000 ns" in section
    assert "p99 = 40,000,000 moves" in section  # the slower game, in rules-engine moves


def test_engine_unit_is_positive(solver_bench: ModuleType) -> None:
    assert 0 < solver_bench.engine_move_seconds(solver_bench.corpus(3, seed=1), repeats=1) < 1
