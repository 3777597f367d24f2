"""Timed games under load (issue 14): flags fall on time, and a clock costs little per move.

One game server (``bench/game_server.py`` pinned to CPU 0, the load tester to CPU 1, as in the
load suite) serves, one step after the other, in the same run:

1. untimed and timed games in turn (``--rounds`` of each, alternated so that a change in the
   machine's load hits both alike), ``--games`` games at 1 move/s each: the server's CPU time
   per move of each kind, from ``/proc`` over each window (target: timed < 1.05 x untimed);
2. ``--games`` timed games of ``--base`` seconds whose player to move stops after two moves:
   each flag's ``game_over`` timed against when it was due, the ``seconds_to_move`` of the
   last ``game_state`` after it arrived (target: p99 < 20 ms).  The baseline is the untimed
   games' move round trip in the same run: a flag is an answer the server sends by itself.

Rewrites only its own section of ``docs/benchmarks.md``.  ``--quick`` runs small sizes.
Exits 0 unless a step could not run (or ``--strict`` and a target is missed).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import attrs
from doc_sections import replace_section
from suite_plan import RAMP_TIMEOUT, Step
from suite_processes import Pinning, choose_pinning, run_loadtest, server_process

from c4actors.loadtest.figures import Summary, summary_from_json
from c4actors.loadtest.metrics import LatencySummary

DOCS: Final = Path(__file__).resolve().parent.parent / "docs"
START_MARKER: Final = "<!-- timed-bench:start -->"
END_MARKER: Final = "<!-- timed-bench:end -->"
TIMED_CONTROL: Final = "300+2"
"""The timed games of the CPU comparison: long enough that no flag falls in the window."""
CPU_RATIO_TARGET: Final = 1.05
FLAG_P99_MS: Final = 20.0


@attrs.frozen
class CpuFigures:
    """One kind of game over all its windows: server CPU seconds and moves."""

    cpu_seconds: float
    moves: int
    round_trip: LatencySummary | None

    @property
    def per_move_us(self) -> float | None:
        return self.cpu_seconds / self.moves * 1e6 if self.moves else None


def games_step(name: str, games: int, seconds: float, seed: int, *extra: str) -> Step:
    args = (
        "games",
        "--concurrent",
        str(games),
        "--move-rate",
        "1",
        "--duration",
        str(seconds),
        "--seed",
        str(seed),
        "--ramp-timeout",
        str(RAMP_TIMEOUT),
        *extra,
    )
    return Step(name, "game", args, f"{games:,} games, 1 move/s/game")


def cpu_figures(summaries: Sequence[Summary]) -> CpuFigures:
    cpu, moves = 0.0, 0
    for summary in summaries:
        share = summary.server.cpu_share if summary.server is not None else None
        if share is None or summary.games is None:
            continue
        cpu += share * summary.window_seconds
        moves += summary.games.moves
    latency = summaries[0].games.move_latency if summaries and summaries[0].games else None
    return CpuFigures(cpu, moves, latency)


def _ms(latency: LatencySummary | None) -> str:
    if latency is None:
        return "-"
    return (
        f"{latency.p50_ms:,.1f} / {latency.p90_ms:,.1f} / {latency.p99_ms:,.1f} / "
        f"{latency.max_ms:,.0f} ms (n={latency.count:,})"
    )


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} µs"


def markdown(
    args: argparse.Namespace,
    untimed: CpuFigures,
    timed: CpuFigures,
    flags: Summary,
    errors: dict[str, int],
    pinning: Pinning,
    started: datetime.datetime,
) -> tuple[str, list[bool | None]]:
    untimed_us, timed_us = untimed.per_move_us, timed.per_move_us
    ratio = None if untimed_us is None or timed_us is None else timed_us / untimed_us
    cpu_met = None if ratio is None else ratio < CPU_RATIO_TARGET
    lateness = flags.games.flag_lateness if flags.games else None
    bound = flags.games.flag_lateness_bound if flags.games else None
    flag_met = None if lateness is None else lateness.p99_ms < FLAG_P99_MS and not errors
    baseline = untimed.round_trip
    flag_ratio = (
        "-"
        if lateness is None or baseline is None or baseline.p99_ms <= 0
        else f"{lateness.p99_ms / baseline.p99_ms:.2f}x"
    )
    verdict = {True: "met", False: "**NOT MET**", None: "not measured"}
    error_text = ", ".join(f"{kind} {count:,}" for kind, count in errors.items()) or "none"
    load = os.getloadavg()[0]
    lines = [
        START_MARKER,
        "## Timed games under load",
        "",
        "`bench/timed_bench.py` (in `nox -s bench`): one game server, pinned to CPU 0 with the",
        f"load tester on CPU 1, serves {args.games:,} concurrent games at 1 move/s each:",
        f"untimed and timed ({TIMED_CONTROL}) in turn, {args.rounds} window(s) of "
        f"{args.seconds:g} s each, alternated so that",
        "a change in the machine's load hits both; then the same number of timed games of",
        f"{args.base:g} s where the player to move stops after two moves and lets the flag",
        "fall.  CPU per move is the server's CPU time (`/proc`) over each window divided by",
        "the moves in it: CPU time, not wall time, so it is the figure least disturbed by",
        "other work on a shared machine.  A flag's lateness is its `game_over`'s arrival",
        "less its due time (the last `game_state`'s arrival plus its `seconds_to_move`):",
        "that due time is later than the server's by the state's delivery, so the figure",
        "is if anything low; the upper bound counts the due time from when the opponent",
        "sent the move that state answers, earlier than the server's by that move's round",
        "trip.  The baseline is the untimed games' move round trip in the same run, the",
        "time the server takes to answer what a player sends.",
        "",
        "| Figure | Value | Baseline (same run) | Ratio | Target |",
        "| --- | --- | --- | --- | --- |",
        f"| Server CPU per move, untimed | {_us(untimed_us)} ({untimed.moves:,} moves) "
        "| - | - | - |",
        f"| Server CPU per move, timed {TIMED_CONTROL} | {_us(timed_us)} ({timed.moves:,} moves) "
        f"| {_us(untimed_us)} untimed | {'-' if ratio is None else f'{ratio:.3f}'} "
        f"| < 1.05: {verdict[cpu_met]} |",
        f"| Flag lateness p50 / p90 / p99 / max | {_ms(lateness)} "
        f"| move round trip p99 {'-' if baseline is None else f'{baseline.p99_ms:,.1f} ms'} "
        f"| {flag_ratio} | p99 < 20 ms: {verdict[flag_met]} |",
        f"| Flag lateness, upper bound | {_ms(bound)} | - | - | - |",
        f"| Move round trip, untimed | {_ms(untimed.round_trip)} | - | - | - |",
        f"| Move round trip, timed | {_ms(timed.round_trip)} | untimed | - | - |",
        f"| Errors | {error_text} | - | - | 0 |",
        "",
        f"Run: {'quick (`--quick`)' if args.quick else 'full'}, {started:%Y-%m-%d %H:%M} UTC; "
        f"{pinning.description}; load average {load:.2f} at the end (above ~1, other work "
        "shared the machine).",
        END_MARKER,
    ]
    return "\n".join(lines), [cpu_met, flag_met]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--games", type=int, default=1000, help="concurrent games")
    parser.add_argument("--seconds", type=float, default=15.0, help="each CPU window")
    parser.add_argument("--rounds", type=int, default=2, help="untimed + timed windows")
    parser.add_argument("--base", type=float, default=5.0, help="base time of the flag games")
    parser.add_argument("--flag-seconds", type=float, default=20.0, help="the flags' window")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="50 games, short windows")
    parser.add_argument("--output", type=Path, default=DOCS / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.games, args.seconds, args.rounds, args.flag_seconds = 50, 5.0, 1, 8.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pinning = choose_pinning()
    started = datetime.datetime.now(datetime.UTC)
    untimed: list[Summary] = []
    timed: list[Summary] = []
    errors: dict[str, int] = {}
    flag_args = ("--time-control", f"{args.base:g}+0", "--flag-after", "2")
    flag_step = games_step("flags", args.games, args.flag_seconds, args.seed, *flag_args)
    server_args = ("--min-base-seconds", f"{min(args.base, 15.0):g}")
    with server_process("game", pinning, server_args) as server:
        for round_ in range(args.rounds):
            for kind, extra in (("untimed", ()), ("timed", ("--time-control", TIMED_CONTROL))):
                step = games_step(kind, args.games, args.seconds, args.seed + round_, *extra)
                print(f"{kind} round {round_ + 1} ...", end=" ", flush=True)
                summary = summary_from_json(run_loadtest(step, server, pinning))
                (untimed if kind == "untimed" else timed).append(summary)
                for kind_, count in summary.errors.items():
                    errors[kind_] = errors.get(kind_, 0) + count
                moves = summary.games.moves if summary.games else 0
                print(f"{moves:,} moves, errors {summary.errors or 'none'}", flush=True)
        print("flags ...", end=" ", flush=True)
        flags = summary_from_json(run_loadtest(flag_step, server, pinning))
        for kind_, count in flags.errors.items():
            errors[kind_] = errors.get(kind_, 0) + count
        print(f"ends {flags.games.ends if flags.games else '-'}", flush=True)
    section, met = markdown(
        args, cpu_figures(untimed), cpu_figures(timed), flags, errors, pinning, started
    )
    print(section)
    if not args.no_write:
        replace_section(args.output, section, START_MARKER, END_MARKER)
        print(f"wrote {args.output}")
    if args.strict and False in met:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
