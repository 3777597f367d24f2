"""Benchmark: the perfect-play solver and the game analysis, against the issue's targets.

Corpus: seeded games of a "beginner" who takes a win when it has one, never leaves an
immediate win to the opponent when it can help it, and otherwise plays at random: games of
random moves end too soon to reach the positions people's games reach.  From them:

* late positions (more than 18 stones): the exact verdict (``solve``), p99 < 0.5 s;
* early positions (at most 12 stones): the verdict within 1 s, the slowest counts;
* whole games: ``analyse`` (every move's verdict, best moves and grade), p99 < 30 s.

Every position and game starts cold: the process's search tables are reset before it, so a
figure never rides on what an earlier one left in the cache (a worker serving many games is
faster than this).  Times are wall clock (``perf_counter``), the CPU time beside them, and
the machine's load average is printed: on a shared machine wall time is CPU time times the
contention.

Baseline, on the same run: a textbook negamax (alpha-beta over the same bitboards, columns
left to right, no book, no tables, no move ordering, no null windows), on late positions
with at most ``--baseline-empty`` empty cells where it finishes; the ratio is its time over
the solver's on those positions.

Rewrites its own section of ``docs/benchmarks.md``; exits 0 unless ``--strict`` and a target
is missed, so a loaded machine does not break ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
from doc_sections import replace_section

from c4actors.analysis import analyse
from c4actors.rules import CELLS, Board
from c4actors.solver import Position, reset_tables, solve, warm_up

TARGET_LATE_P99 = 0.5
TARGET_EARLY_MAX = 1.0
TARGET_GAME_P99 = 30.0

START_MARKER = "<!-- solver-bench:start -->"
END_MARKER = "<!-- solver-bench:end -->"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

Moves = tuple[int, ...]


@attrs.frozen
class Timing:
    """Wall and CPU seconds of one timed call."""

    wall: float
    cpu: float


@attrs.frozen
class Figures:
    late: list[Timing]
    early: list[Timing]
    games: list[Timing]
    game_moves: int
    baseline_positions: int
    baseline_seconds: float
    solver_on_baseline_seconds: float
    engine_move_seconds: float
    load: tuple[float, float, float]

    @property
    def ratio(self) -> float:
        return self.baseline_seconds / self.solver_on_baseline_seconds


def beginner_game(rng: random.Random) -> Moves:
    """A game of a player who wins when it can and blocks only what is immediate."""
    board = Board()
    while not board.is_over:
        position = Position.from_board(board)
        columns = board.legal_columns()
        wins = [c for c in columns if position.is_winning_move(c)]
        if wins:
            board = board.play(wins[0])
            continue
        safe = [c for c in columns if not Position.from_board(board.play(c)).can_win_next()]
        board = board.play(rng.choice(safe or columns))
    return board.moves


def corpus(games: int, seed: int) -> list[Moves]:
    rng = random.Random(seed)
    return [beginner_game(rng) for _ in range(games)]


def positions(games: Sequence[Moves], count: int, plies: range, seed: int) -> list[Moves]:
    """``count`` positions (games still going) with a number of stones in ``plies``."""
    rng = random.Random(seed)
    pool = [game[:ply] for game in games for ply in plies if ply < len(game)]
    return rng.sample(pool, min(count, len(pool)))


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(call: Callable[[], object]) -> Timing:
    reset_tables()
    warm_up()  # fresh tables, made before the clock starts
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def textbook_negamax(position: Position, alpha: int, beta: int) -> int:
    """Alpha-beta negamax with nothing else: the baseline."""
    moves = position.moves
    if moves >= CELLS:
        return 0
    legal = position.legal_columns()
    for column in legal:
        if position.is_winning_move(column):
            return (CELLS + 1 - moves) // 2
    best = -CELLS
    for column in legal:
        child = position.play(column)
        score = 0 if child.moves >= CELLS else -textbook_negamax(child, -beta, -alpha)
        if score > best:
            best = score
            if score > alpha:
                alpha = score
                if alpha >= beta:
                    break
    return best


def engine_move_seconds(games: Sequence[Moves], repeats: int = 5) -> float:
    """Seconds per ``Board.play`` replaying ``games``: the unit every figure is also given in."""
    moves = sum(len(game) for game in games)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for game in games:
            board = Board()
            for column in game:
                board = board.play(column)
        best = min(best, time.perf_counter() - start)
    return best / moves


def measure(args: argparse.Namespace) -> Figures:
    games = corpus(max(args.games, 60), args.seed)
    late = positions(games, args.late, range(19, CELLS), args.seed + 1)
    early = positions(games, args.early, range(0, 13), args.seed + 2)
    analysed = games[: args.games]
    late_times = []
    for number, moves in enumerate(late, start=1):
        late_times.append(timed(functools.partial(solve, moves)))
        print(f"\rlate {number}/{len(late)}", end="", flush=True)
    print()
    early_times = []
    for number, moves in enumerate(early, start=1):
        early_times.append(timed(functools.partial(solve, moves)))
        print(f"\rearly {number}/{len(early)}", end="", flush=True)
    print()
    game_times = []
    for number, game in enumerate(analysed, start=1):
        game_times.append(timed(functools.partial(analyse, game)))
        print(f"\rgames {number}/{len(analysed)}", end="", flush=True)
    print()
    small = positions(
        games, args.baseline, range(CELLS - args.baseline_empty, CELLS), args.seed + 3
    )
    baseline = solver = 0.0
    for moves in small:
        position = Position.from_moves(moves)
        start = time.process_time()
        expected = textbook_negamax(position, -CELLS, CELLS)
        baseline += time.process_time() - start
        timing = timed(functools.partial(solve, moves))
        solver += timing.cpu
        if solve(moves).score != expected:
            raise SystemExit(f"the baseline and the solver disagree on {moves}")
    return Figures(
        late=late_times,
        early=early_times,
        games=game_times,
        game_moves=sum(len(game) for game in analysed),
        baseline_positions=len(small),
        baseline_seconds=baseline,
        solver_on_baseline_seconds=max(solver, 1e-9),
        engine_move_seconds=engine_move_seconds(games),
        load=os.getloadavg(),
    )


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def rows(figures: Figures) -> list[tuple[str, str]]:
    unit = figures.engine_move_seconds

    def moves(seconds: float) -> str:
        """A time as a number of rules-engine moves (the same run's ``Board.play``)."""
        return f"{seconds / unit:,.0f} moves"

    late_wall = [t.wall for t in figures.late]
    late_cpu = [t.cpu for t in figures.late]
    early_wall = [t.wall for t in figures.early]
    early_cpu = [t.cpu for t in figures.early]
    game_wall = [t.wall for t in figures.games]
    game_cpu = [t.cpu for t in figures.games]
    late_p99 = percentile(late_wall, 0.99)
    early_max = max(early_wall)
    game_p99 = percentile(game_wall, 0.99)
    return [
        (
            f"Late positions (19+ stones), exact verdict: p50 / p99 / max wall "
            f"(n = {len(late_wall)})",
            f"{percentile(late_wall, 0.5):.3f} / {late_p99:.3f} / {max(late_wall):.3f} s "
            f"(target p99 < {TARGET_LATE_P99} s: {verdict(late_p99 < TARGET_LATE_P99)}); "
            f"p99 = {moves(late_p99)}",
        ),
        (
            "Late positions: p99 / max CPU",
            f"{percentile(late_cpu, 0.99):.3f} / {max(late_cpu):.3f} s",
        ),
        (
            f"Early positions (0-12 stones): p50 / p99 / max wall (n = {len(early_wall)})",
            f"{percentile(early_wall, 0.5):.3f} / {percentile(early_wall, 0.99):.3f} / "
            f"{early_max:.3f} s (target max < {TARGET_EARLY_MAX} s: "
            f"{verdict(early_max < TARGET_EARLY_MAX)}); max = {moves(early_max)}",
        ),
        (
            "Early positions: p99 / max CPU",
            f"{percentile(early_cpu, 0.99):.3f} / {max(early_cpu):.3f} s",
        ),
        (
            f"Whole-game analysis: p50 / p99 / max wall (n = {len(game_wall)} games, "
            f"{figures.game_moves} moves)",
            f"{percentile(game_wall, 0.5):.1f} / {game_p99:.1f} / {max(game_wall):.1f} s "
            f"(target p99 < {TARGET_GAME_P99:.0f} s: {verdict(game_p99 < TARGET_GAME_P99)}); "
            f"p99 = {moves(game_p99)}",
        ),
        (
            "Whole-game analysis: p50 / p99 / max CPU",
            f"{percentile(game_cpu, 0.5):.1f} / {percentile(game_cpu, 0.99):.1f} / "
            f"{max(game_cpu):.1f} s",
        ),
        (
            f"Baseline: textbook negamax on {figures.baseline_positions} late positions "
            "(CPU, total)",
            f"{figures.baseline_seconds:.2f} s vs the solver's "
            f"{figures.solver_on_baseline_seconds:.3f} s: {figures.ratio:,.0f}x",
        ),
        ("Unit: one rules-engine move (`Board.play`), same run", f"{unit * 1e9:,.0f} ns"),
        (
            "Wall / CPU, whole-game analysis (contention)",
            f"{sum(game_wall) / max(sum(game_cpu), 1e-9):.1f}x",
        ),
        ("Load average (1, 5, 15 min) at the end", " / ".join(f"{x:.1f}" for x in figures.load)),
    ]


def markdown_section(figures: Figures, today: datetime.date, args: argparse.Namespace) -> str:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return "\n".join(
        [
            START_MARKER,
            "## Solver and analysis",
            "",
            "`bench/solver_bench.py`: the pure-Python solver (`c4actors/solver/`) on positions",
            "from seeded games of a player who takes wins and blocks only immediate threats",
            f"(seed {args.seed}), every position and game from cold tables (a busy worker is",
            "faster).  Wall clock is what a user waits; CPU time is what the solver costs; on",
            "this shared machine the two differ by the contention shown below.  Baseline: a",
            "textbook alpha-beta negamax (no book, tables, ordering or null windows) on late",
            "positions small enough for it to finish; every time is also given in moves of",
            "the rules engine (`Board.play`, replaying the corpus in the same run).",
            "",
            "| Figure | Value |",
            "| --- | --- |",
            *(f"| {name} | {value} |" for name, value in rows(figures)),
            "",
            f"Machine: {platform.platform()}; {os.cpu_count()} CPUs; Python {python}.  "
            f"Measured {today.isoformat()}.",
            END_MARKER,
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--late", type=int, default=500, help="late positions (default 500)")
    parser.add_argument("--early", type=int, default=300, help="early positions (default 300)")
    parser.add_argument("--games", type=int, default=60, help="games analysed (default 60)")
    parser.add_argument("--baseline", type=int, default=30, help="baseline positions")
    parser.add_argument(
        "--baseline-empty", type=int, default=14, help="at most this many empty cells"
    )
    parser.add_argument("--seed", type=int, default=20261206, help="seed of the corpus")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if min(args.late, args.early, args.games, args.baseline) < 1:
        parser.error("every count must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = measure(args)
    for name, value in rows(figures):
        print(f"{name}: {value}")
    if not args.no_write:
        today = datetime.datetime.now(datetime.UTC).date()
        section = markdown_section(figures, today, args)
        replace_section(args.output, section, START_MARKER, END_MARKER)
        print(f"wrote {args.output}")
    late_p99 = percentile([t.wall for t in figures.late], 0.99)
    game_p99 = percentile([t.wall for t in figures.games], 0.99)
    early_max = max(t.wall for t in figures.early)
    met = late_p99 < TARGET_LATE_P99 and early_max < TARGET_EARLY_MAX
    met = met and game_p99 < TARGET_GAME_P99
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
