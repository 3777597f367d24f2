"""The rules micro-benchmark's bookkeeping (not its speed: no timed assertions here)."""

from __future__ import annotations

import datetime
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def rules_bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH_DIR))
    try:
        yield importlib.import_module("rules_bench")
    finally:
        sys.path.remove(str(BENCH_DIR))


def test_figures_cover_engine_referee_and_floor(rules_bench: ModuleType) -> None:
    games = rules_bench.random_games(30, seed=7)
    figures = rules_bench.measure(games, repeats=1)
    assert figures.moves == sum(len(game) for game in games)
    assert min(figures.engine_ns, figures.brute_force_ns, figures.floor_ns) > 0
    assert figures.best_possible_speedup == figures.brute_force_ns / figures.floor_ns
    section = rules_bench.markdown_section(figures, datetime.date(2026, 11, 26))
    assert section.startswith(rules_bench.START_MARKER)
    assert section.endswith(rules_bench.END_MARKER)
    assert "Floor: a new `Board` per move, no rules" in section
    assert "Best possible speed-up (brute force / floor)" in section


def test_the_floor_makes_boards_without_playing(rules_bench: ModuleType) -> None:
    _, finals = rules_bench.time_floor(rules_bench.random_games(3, seed=1))
    assert [outcome.is_over for outcome in finals] == [False, False, False]
