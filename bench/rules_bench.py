"""Micro-benchmark: the bitboard rules engine against the brute-force referee.

Both sides replay the same seeded corpus of random games, one move at a time:

* engine: ``Board.play`` and reading ``Board.outcome`` (worked out incrementally by ``play``);
* brute force: the tests' referee (``tests/rules_reference.py``): ``drop`` on the drawn rows,
  then ``brute_force_outcome``, which scans all 69 lines of four.  The property tests trust
  that same referee;
* floor: what ``play`` costs before any rule: making the new immutable ``Board`` (the same
  ``object.__new__`` and slot stores ``play`` uses) from the old one's fields.  No engine that
  returns a new ``Board`` per move can beat it, so brute force / floor bounds the speed-up.

Each side is timed ``--repeats`` times with ``time.perf_counter_ns`` and the garbage collector
off; the best run counts, since noise only ever adds time.  The final outcomes of both sides are
compared too, so a fast but wrong engine cannot produce a figure.

Prints the figures, checks the targets (at least 20x the brute force, under 5,000 ns per move),
and rewrites its own section of ``docs/benchmarks.md``.  Exits 0 unless ``--strict`` is given and
a target is missed, so a slow or noisy machine does not break ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
from doc_sections import replace_section

from c4actors.rules import CELLS, ONGOING, Board, Column, Outcome

# The referee is the tests' oracle and lives with them; the benchmark times that same code.
sys.path.append(str(Path(__file__).resolve().parent.parent))
from tests.rules_reference import EMPTY_ROWS, brute_force_outcome, drop

TARGET_SPEEDUP = 20.0
TARGET_NS_PER_MOVE = 5_000.0

START_MARKER = "<!-- rules-bench:start -->"
END_MARKER = "<!-- rules-bench:end -->"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

# The referee works on drawn rows and does not know whose turn it is.
TOKENS = ("1", "2") * (CELLS // 2)

Game = tuple[Column, ...]
Timer = Callable[[Sequence[Game]], tuple[int, list[Outcome]]]


@attrs.frozen
class Figures:
    """What one benchmark run measured."""

    games: int
    moves: int
    repeats: int
    engine_ns: float
    brute_force_ns: float
    floor_ns: float

    @property
    def speedup(self) -> float:
        return self.brute_force_ns / self.engine_ns

    @property
    def best_possible_speedup(self) -> float:
        """The speed-up of an engine whose rules cost nothing (see ``time_floor``)."""
        return self.brute_force_ns / self.floor_ns

    @property
    def speedup_met(self) -> bool:
        return self.speedup >= TARGET_SPEEDUP

    @property
    def latency_met(self) -> bool:
        return self.engine_ns < TARGET_NS_PER_MOVE


def random_games(count: int, seed: int) -> list[Game]:
    """``count`` games of uniformly random legal moves, played to the end."""
    rng = random.Random(seed)
    games = []
    for _ in range(count):
        board = Board.empty()
        while not board.is_over:
            board = board.play(rng.choice(board.legal_columns()))
        games.append(board.moves)
    return games


def time_engine(games: Sequence[Game]) -> tuple[int, list[Outcome]]:
    """Nanoseconds to replay ``games`` with the engine, and each game's final outcome."""
    play = Board.play
    empty = Board.empty()
    finals = []
    start = time.perf_counter_ns()
    for moves in games:
        board = empty
        outcome = ONGOING
        for column in moves:
            board = play(board, column)
            outcome = board.outcome
        finals.append(outcome)
    return time.perf_counter_ns() - start, finals


def time_floor(games: Sequence[Game]) -> tuple[int, list[Outcome]]:
    """Nanoseconds to make one new ``Board`` per move of ``games`` as ``play`` does, with no
    rule at all (the fields are copied, so every board is the empty one)."""
    new, empty = object.__new__, Board.empty()
    slots = Board.__dict__
    set1, set2 = slots["bitboard1"].__set__, slots["bitboard2"].__set__
    set_moves, set_outcome = slots["moves"].__set__, slots["outcome"].__set__
    finals = []
    start = time.perf_counter_ns()
    for moves in games:
        board = empty
        outcome = ONGOING
        for _column in moves:
            made = new(Board)
            set1(made, board.bitboard1)
            set2(made, board.bitboard2)
            set_moves(made, board.moves)
            set_outcome(made, board.outcome)
            board = made
            outcome = board.outcome
        finals.append(outcome)
    return time.perf_counter_ns() - start, finals


def time_brute_force(games: Sequence[Game]) -> tuple[int, list[Outcome]]:
    """Nanoseconds to replay ``games`` with the referee, and each game's final outcome."""
    finals = []
    start = time.perf_counter_ns()
    for moves in games:
        rows: Sequence[str] = EMPTY_ROWS
        outcome = ONGOING
        for column, token in zip(moves, TOKENS, strict=False):
            rows = drop(rows, column, token)
            outcome = brute_force_outcome(rows)
        finals.append(outcome)
    return time.perf_counter_ns() - start, finals


def best_of(timer: Timer, games: Sequence[Game], repeats: int) -> tuple[int, list[Outcome]]:
    """The fastest of ``repeats`` runs, with the garbage collector off as ``timeit`` does."""
    best: tuple[int, list[Outcome]] | None = None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            elapsed, finals = timer(games)
            if best is None or elapsed < best[0]:
                best = (elapsed, finals)
    finally:
        if gc_was_enabled:
            gc.enable()
    assert best is not None, "repeats must be at least 1"
    return best


def measure(games: Sequence[Game], repeats: int) -> Figures:
    moves = sum(len(game) for game in games)
    engine_elapsed, engine_finals = best_of(time_engine, games, repeats)
    brute_elapsed, brute_finals = best_of(time_brute_force, games, repeats)
    floor_elapsed, _ = best_of(time_floor, games, repeats)
    for index, (mine, reference) in enumerate(zip(engine_finals, brute_finals, strict=True)):
        # The referee's line may be another four of the same move, so compare who won and how.
        if (mine.termination, mine.winner) != (reference.termination, reference.winner):
            raise SystemExit(f"engine and referee disagree on game {index}: {mine} / {reference}")
    return Figures(
        games=len(games),
        moves=moves,
        repeats=repeats,
        engine_ns=engine_elapsed / moves,
        brute_force_ns=brute_elapsed / moves,
        floor_ns=floor_elapsed / moves,
    )


def cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    if match:
        return match.group(1).strip()
    return platform.processor() or "unknown"


def machine() -> str:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{platform.platform()}; CPU: {cpu_model()}; Python: {python}"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(figures: Figures) -> str:
    """The figures as plain text, for the terminal."""
    return "\n".join(
        [
            f"{figures.games} random games, {figures.moves} moves, best of {figures.repeats}",
            f"engine (play + outcome):           {figures.engine_ns:10,.0f} ns/move",
            f"brute force (drop + 69-line scan): {figures.brute_force_ns:10,.0f} ns/move",
            f"speed-up:                          {figures.speedup:10.1f}x",
            f"floor (new Board, no rules):       {figures.floor_ns:10,.0f} ns/move",
            f"best possible speed-up:            {figures.best_possible_speedup:10.1f}x",
            f"target >= {TARGET_SPEEDUP:.0f}x: {verdict(figures.speedup_met)}",
            f"target < {TARGET_NS_PER_MOVE:,.0f} ns/move: {verdict(figures.latency_met)}",
            f"machine: {machine()}",
        ]
    )


def markdown_section(figures: Figures, today: datetime.date) -> str:
    """The ``docs/benchmarks.md`` section, markers included."""
    speedup = f"{figures.speedup:.1f}x (target >= {TARGET_SPEEDUP:.0f}x: "
    speedup += f"{verdict(figures.speedup_met)})"
    best_possible = figures.best_possible_speedup
    latency = f"{figures.engine_ns:,.0f} ns/move (target < {TARGET_NS_PER_MOVE:,.0f}: "
    latency += f"{verdict(figures.latency_met)})"
    return "\n".join(
        [
            START_MARKER,
            "## Rules engine",
            "",
            "`bench/rules_bench.py`: `Board.play` plus reading `Board.outcome`, against the",
            "brute-force referee in `tests/rules_reference.py` (drop the stone into the drawn",
            "rows, then scan all 69 lines of four), replaying the same seeded random games;",
            "best of several runs.  The floor is the cost of making the new immutable `Board`",
            "alone, as `play` makes it, with no rule applied: no engine that returns a new",
            "`Board` per move (the issue's preferred design) can be faster, so brute force /",
            "floor is the best speed-up any such engine could show against this referee.",
            "",
            "| Figure | Value |",
            "| --- | --- |",
            f"| Engine: play + outcome | {latency} |",
            f"| Brute force: drop + 69-line scan | {figures.brute_force_ns:,.0f} ns/move |",
            f"| Speed-up | {speedup} |",
            f"| Floor: a new `Board` per move, no rules | {figures.floor_ns:,.0f} ns/move |",
            f"| Best possible speed-up (brute force / floor) | {best_possible:.1f}x |",
            f"| Games / moves / runs | {figures.games:,} / {figures.moves:,} / {figures.repeats} |",
            "",
            f"Machine: {machine()}.  Measured {today.isoformat()}.",
            END_MARKER,
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--games", type=int, default=2000, help="random games (default 2000)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per side (default 7)")
    parser.add_argument("--seed", type=int, default=20241126, help="seed of the game corpus")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.games < 1 or args.repeats < 1:
        parser.error("--games and --repeats must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = measure(random_games(args.games, args.seed), args.repeats)
    print(report(figures))
    if not args.no_write:
        today = datetime.datetime.now(datetime.UTC).date()
        replace_section(args.output, markdown_section(figures, today), START_MARKER, END_MARKER)
        print(f"wrote {args.output}")
    if args.strict and not (figures.speedup_met and figures.latency_met):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
