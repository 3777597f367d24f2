"""Timed games under load (issue 14): flags fall on time, and a clock costs little per move.

One game server (``bench/game_server.py`` pinned to CPU 0, the load tester to CPU 1, as in the
load suite) serves, one step after the other, in the same run:

1. a warm-up step of untimed games (not counted: the first step of a fresh server pays for
   what the later ones find ready);
2. untimed and timed games in turn (``--rounds`` of each, in the order U T, T U, U T, ... so
   that neither kind always comes first, with the server left to go quiet between steps),
   ``--games`` games at ``--move-rate`` moves/s each, their first challenges spread over
   ``--stagger`` seconds.  Once every game has started, the server's CPU time (``/proc``) and
   the moves it handled (``c4_move_seconds_count`` on ``/metrics``) are read ``--seconds``
   apart: the CPU per move of each kind in steady play, without the burst of game starts
   (per game, and the same for both kinds) that would otherwise swamp a short window
   (target: timed < 1.05 x untimed);
3. ``--games`` timed games of ``--base`` seconds whose player to move stops after two moves,
   started spread over ``--flag-stagger`` seconds as real players start (so their flags fall
   spread over time): each flag's lateness as the server measured it
   (``c4_deadline_lateness_seconds``: from the deadline to the ``game_over`` queued for the
   players, read from ``/metrics`` before and after the step), and as the players saw it;
   target: p99 < 20 ms;
4. a burst, reported apart and not as the target: the same number of games all started at
   once, closed loop, so that all their flags fall within about a second: how long the
   server then takes.

Rewrites only its own section of ``docs/benchmarks.md``.  ``--quick`` runs small sizes.
Exits 0 unless a step could not run (or ``--strict`` and a target is missed).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import trio
from doc_sections import replace_section
from suite_plan import RAMP_TIMEOUT, Step
from suite_processes import Pinning, RunningServer, choose_pinning, run_loadtest, server_process

from c4actors.loadtest import procfs, server_metrics
from c4actors.loadtest.figures import Summary, summary_from_json
from c4actors.loadtest.metrics import LatencySummary

DOCS: Final = Path(__file__).resolve().parent.parent / "docs"
START_MARKER: Final = "<!-- timed-bench:start -->"
END_MARKER: Final = "<!-- timed-bench:end -->"
TIMED_CONTROL: Final = "300+2"
"""The timed games of the CPU comparison: long enough that no flag falls in the window."""
CPU_RATIO_TARGET: Final = 1.05
FLAG_P99_MS: Final = 20.0
LATENESS_METRIC: Final = "c4_deadline_lateness_seconds"
QUIET_SHARE: Final = 0.05
"""Server CPU share under which it counts as quiet between two steps."""
QUIET_LIMIT: Final = 15.0
"""Seconds to wait for the server to go quiet at most."""
MOVES_METRIC: Final = "c4_move_seconds_count"
SETTLE_SECONDS: Final = 2.0
"""After the last game started, before the CPU comparison reads the server."""


@attrs.frozen
class CpuWindow:
    """One step of the CPU comparison: the server's CPU and moves in steady play, and the
    load tester's figures of the whole step."""

    cpu_seconds: float
    moves: int
    summary: Summary

    @property
    def per_move_us(self) -> float | None:
        return self.cpu_seconds / self.moves * 1e6 if self.moves else None


@attrs.frozen
class CpuFigures:
    """One kind of game over all its windows: server CPU seconds and moves."""

    cpu_seconds: float
    moves: int
    round_trip: LatencySummary | None
    client_share: float | None

    @property
    def per_move_us(self) -> float | None:
        return self.cpu_seconds / self.moves * 1e6 if self.moves else None


@attrs.frozen
class ServerLateness:
    """Flags as the server timed them: the histogram's share of one step."""

    count: int
    within_target: int
    """Flags at most ``FLAG_P99_MS`` late (a bucket bound of the histogram)."""
    p50_ms_at_most: float | None
    p99_ms_at_most: float | None
    max_ms_at_most: float | None
    """The bound of the highest bucket reached (None: beyond the last bound)."""
    mean_ms: float | None

    @property
    def share_within(self) -> float | None:
        return self.within_target / self.count if self.count else None


@attrs.frozen
class FlagStep:
    """One flag step: what the players saw and what the server measured."""

    summary: Summary
    server: ServerLateness | None


def games_step(name: str, games: int, seconds: float | None, seed: int, *extra: str) -> Step:
    length = ("--duration", str(seconds)) if seconds is not None else ("--games", str(games))
    args = (
        "games",
        "--concurrent",
        str(games),
        *length,
        "--seed",
        str(seed),
        "--ramp-timeout",
        str(RAMP_TIMEOUT),
        *extra,
    )
    return Step(name, "game", args, f"{games:,} games")


def cpu_figures(windows: Sequence[CpuWindow]) -> CpuFigures:
    cpu, moves, client, seconds = 0.0, 0, 0.0, 0.0
    for window in windows:
        cpu += window.cpu_seconds
        moves += window.moves
        summary = window.summary
        client += (summary.client_cpu_share or 0.0) * summary.window_seconds
        seconds += summary.window_seconds
    first = windows[0].summary.games if windows else None
    latency = first.move_latency if first else None
    return CpuFigures(cpu, moves, latency, client / seconds if seconds else None)


def run_cpu_step(
    step: Step, server: RunningServer, pinning: Pinning, games: int, seconds: float
) -> CpuWindow:
    """Run ``step`` and, once all its games are in progress, read the server's CPU time and
    moves ``seconds`` apart (the step's window is long enough to hold them)."""
    figures: dict[str, Any] = {}
    failure: list[BaseException] = []

    def load() -> None:
        try:
            figures.update(run_loadtest(step, server, pinning))
        except BaseException as error:  # re-raised below, in the main thread
            failure.append(error)

    thread = threading.Thread(target=load)
    thread.start()
    cpu, moves = 0.0, 0
    try:
        give_up = time.monotonic() + RAMP_TIMEOUT + 60
        while thread.is_alive() and time.monotonic() < give_up:
            samples = scrape(server)
            if samples is not None and samples.get(("c4_games_active", ""), 0) >= games:
                break
            time.sleep(0.25)
        time.sleep(SETTLE_SECONDS)
        cpu_before = procfs.cpu_seconds(server.pid)
        moves_before = _moves(scrape(server))
        time.sleep(seconds)
        moves_after = _moves(scrape(server))
        cpu_after = procfs.cpu_seconds(server.pid)
        if (
            cpu_before is not None
            and cpu_after is not None
            and moves_before is not None
            and moves_after is not None
        ):
            cpu, moves = cpu_after - cpu_before, int(moves_after - moves_before)
    finally:
        thread.join()
    if failure:
        raise failure[0]
    return CpuWindow(cpu, moves, summary_from_json(figures))


def _moves(samples: server_metrics.Samples | None) -> float | None:
    return None if samples is None else samples.get((MOVES_METRIC, ""))


def server_lateness(
    before: server_metrics.Samples | None, after: server_metrics.Samples | None
) -> ServerLateness | None:
    """The turn deadlines of one step, from the server's histogram before and after it."""
    if before is None or after is None:
        return None
    labels = 'deadline="turn"'

    def delta(name: str, label_text: str) -> float:
        return after.get((name, label_text), 0.0) - before.get((name, label_text), 0.0)

    count = int(delta(LATENESS_METRIC + "_count", labels))
    buckets = sorted(
        (float(text.split('le="')[1].split('"')[0]), int(delta(name, text)))
        for name, text in after
        if name == LATENESS_METRIC + "_bucket" and labels in text and 'le="+Inf"' not in text
    )

    def bound(fraction: float) -> float | None:
        for upper, below in buckets:
            if below >= fraction * count:
                return upper * 1000
        return None

    within = next((below for upper, below in buckets if upper * 1000 >= FLAG_P99_MS), 0)
    total = delta(LATENESS_METRIC + "_sum", labels)
    return ServerLateness(
        count=count,
        within_target=within,
        p50_ms_at_most=bound(0.5) if count else None,
        p99_ms_at_most=bound(0.99) if count else None,
        max_ms_at_most=bound(1.0) if count else None,
        mean_ms=total / count * 1000 if count else None,
    )


def scrape(server: RunningServer) -> server_metrics.Samples | None:
    return trio.run(server_metrics.scrape, server.ws_url)


def wait_until_quiet(server: RunningServer) -> float:
    """Wait (at most ``QUIET_LIMIT`` s) until the server's CPU over the last half second is
    under ``QUIET_SHARE``: the last step's connections are closed and its games saved, so
    none of its work is charged to the next window.  Returns the seconds waited."""
    started = time.monotonic()
    last = procfs.sample(server.pid, started)
    while time.monotonic() - started < QUIET_LIMIT:
        time.sleep(0.5)
        now = procfs.sample(server.pid, time.monotonic())
        share = procfs.cpu_share(last, now)
        last = now
        if share is not None and share < QUIET_SHARE:
            break
    return time.monotonic() - started


def run_flag_step(step: Step, server: RunningServer, pinning: Pinning) -> FlagStep:
    wait_until_quiet(server)
    before = scrape(server)
    summary = summary_from_json(run_loadtest(step, server, pinning))
    wait_until_quiet(server)  # the last flags (after the window) fall too
    return FlagStep(summary, server_lateness(before, scrape(server)))


def _ms(latency: LatencySummary | None) -> str:
    if latency is None:
        return "-"
    return (
        f"{latency.p50_ms:,.1f} / {latency.p90_ms:,.1f} / {latency.p99_ms:,.1f} / "
        f"{latency.max_ms:,.0f} ms (n={latency.count:,})"
    )


def _bound(value: float | None) -> str:
    return "> 2,500 ms" if value is None else f"≤ {value:,.0f} ms"


def _server_ms(lateness: ServerLateness | None) -> str:
    if lateness is None or not lateness.count:
        return "-"
    share = lateness.share_within or 0.0
    return (
        f"p50 {_bound(lateness.p50_ms_at_most)}, p99 {_bound(lateness.p99_ms_at_most)}, "
        f"max {_bound(lateness.max_ms_at_most)}, mean {lateness.mean_ms or 0.0:,.1f} ms; "
        f"{share * 100:.2f}% within {FLAG_P99_MS:g} ms (n={lateness.count:,})"
    )


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} µs"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def markdown(
    args: argparse.Namespace,
    rounds: Sequence[tuple[CpuWindow, CpuWindow]],
    flags: FlagStep,
    burst: FlagStep | None,
    errors: dict[str, int],
    pinning: Pinning,
    started: datetime.datetime,
    load_before: float,
) -> tuple[str, list[bool | None]]:
    untimed = cpu_figures([pair[0] for pair in rounds])
    timed = cpu_figures([pair[1] for pair in rounds])
    untimed_us, timed_us = untimed.per_move_us, timed.per_move_us
    ratio = None if untimed_us is None or timed_us is None else timed_us / untimed_us
    cpu_met = None if ratio is None else ratio < CPU_RATIO_TARGET
    round_ratios = []
    for pair in rounds:
        u, t = pair[0].per_move_us, pair[1].per_move_us
        round_ratios.append("-" if u is None or t is None else f"{t / u:.3f}")
    games = flags.summary.games
    lateness = games.flag_lateness if games else None
    server = flags.server
    flag_met = (
        None
        if server is None or not server.count
        else (server.share_within or 0.0) >= 0.99 and not errors
    )
    baseline = untimed.round_trip
    verdict = {True: "met", False: "**NOT MET**", None: "not measured"}
    error_text = ", ".join(f"{kind} {count:,}" for kind, count in errors.items()) or "none"
    load_after = os.getloadavg()[0]
    burst_games = burst.summary.games if burst is not None else None
    lines = [
        START_MARKER,
        "## Timed games under load",
        "",
        "`bench/timed_bench.py` (in `nox -s bench`): one game server, pinned to CPU 0 with the",
        f"load tester on CPU 1.  After an uncounted warm-up step it serves {args.games:,}",
        f"concurrent games at {args.move_rate:g} move/s each (a move every "
        f"{1 / args.move_rate:g} s per game, a",
        "brisk human pace), their first challenges spread over "
        f"{args.stagger:g} s: untimed and timed",
        f"({TIMED_CONTROL}) in turn, {args.rounds} step(s) of each, "
        "in the order U T, T U, ... so that",
        "neither kind always comes first, the server left to go quiet (CPU under 5%) before",
        "each step.  CPU per move is read in steady play: once every game of the step has",
        f"started, the server's CPU time (`/proc`) and the moves it handled (`{MOVES_METRIC}`)",
        f"{args.seconds:g} s apart, so the burst of game starts (a cost per game, the same for",
        "both kinds) does not swamp the moves; summed over the windows of a kind.  CPU time,",
        "not wall time: the figure least disturbed by",
        "other work on a shared machine.  Then the flag step: the same number of timed games",
        f"of {args.base:g} s, started spread over {args.flag_stagger:g} s as real players "
        f"start, at 1 move/s, where the",
        "player to move stops after two moves and lets the flag fall, for "
        f"{args.flag_seconds:g} s (each pair",
        "plays game after game).  A flag's lateness is measured by the **server** itself",
        f"(`{LATENESS_METRIC}`: from the deadline to the `game_over` queued for both",
        "players, read from `/metrics` before and after the step; a histogram, so its",
        "percentiles are bucket bounds, but the share within 20 ms is exact): the honest",
        "measure of the server's timers.  The players' view is given too: the `game_over`'s",
        "arrival less the due time (the last `game_state`'s arrival plus its",
        "`seconds_to_move`), which adds the frame's delivery and the load tester's own",
        "scheduling.  Last, apart and not as the target, a burst: the same number of games",
        "all started at once, closed loop, so that all their flags fall within about a",
        "second.",
        "",
        "| Figure | Value | Baseline (same run) | Ratio | Target |",
        "| --- | --- | --- | --- | --- |",
        f"| Server CPU per move, untimed | {_us(untimed_us)} ({untimed.moves:,} moves) "
        "| - | - | - |",
        f"| Server CPU per move, timed {TIMED_CONTROL} | {_us(timed_us)} ({timed.moves:,} moves) "
        f"| {_us(untimed_us)} untimed | {'-' if ratio is None else f'{ratio:.3f}'} "
        f"| < 1.05: {verdict[cpu_met]} |",
        f"| Timed / untimed, round by round | {', '.join(round_ratios) or '-'} | - | - | - |",
        f"| Flag lateness, server (flags spread) | {_server_ms(server)} "
        f"| move round trip p99 {'-' if baseline is None else f'{baseline.p99_ms:,.1f} ms'} "
        f"| - | p99 < 20 ms: {verdict[flag_met]} |",
        f"| Flag lateness, players' view p50 / p90 / p99 / max | {_ms(lateness)} | - | - | - |",
        f"| Burst: flag lateness, server | {_server_ms(burst.server if burst else None)} "
        "| - | - | figure only |",
        f"| Burst: players' view | {_ms(burst_games.flag_lateness if burst_games else None)} "
        "| - | - | figure only |",
        f"| Move round trip, untimed | {_ms(untimed.round_trip)} | - | - | - |",
        f"| Move round trip, timed | {_ms(timed.round_trip)} | untimed | - | - |",
        f"| Load tester CPU (untimed / timed / flags) | {_share(untimed.client_share)} / "
        f"{_share(timed.client_share)} / {_share(flags.summary.client_cpu_share)} "
        "| - | - | well under 100% |",
        f"| Errors | {error_text} | - | - | 0 |",
        "",
        f"Run: {'quick (`--quick`)' if args.quick else 'full'}, {started:%Y-%m-%d %H:%M} UTC; "
        f"{pinning.description}; load average {load_before:.2f} before, {load_after:.2f} "
        "after (above ~1, other work shared the machine).",
        END_MARKER,
    ]
    return "\n".join(lines), [cpu_met, flag_met]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--games", type=int, default=1000, help="concurrent games")
    parser.add_argument("--seconds", type=float, default=15.0, help="each CPU window")
    parser.add_argument("--rounds", type=int, default=3, help="untimed + timed windows")
    parser.add_argument("--move-rate", type=float, default=0.5, help="CPU windows: moves/s/game")
    parser.add_argument("--stagger", type=float, default=3.0, help="CPU windows: start spread")
    parser.add_argument("--base", type=float, default=5.0, help="base time of the flag games")
    parser.add_argument("--flag-seconds", type=float, default=20.0, help="the flags' window")
    parser.add_argument("--flag-stagger", type=float, default=7.0, help="flag games' spread")
    parser.add_argument("--no-burst", action="store_true", help="skip the burst step")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="50 games, short windows")
    parser.add_argument("--output", type=Path, default=DOCS / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.games, args.seconds, args.rounds, args.flag_seconds = 50, 5.0, 2, 8.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pinning = choose_pinning()
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[0]
    rounds: list[tuple[CpuWindow, CpuWindow]] = []
    errors: dict[str, int] = {}

    def count_errors(summary: Summary) -> None:
        for kind, count in summary.errors.items():
            errors[kind] = errors.get(kind, 0) + count

    pace = ("--move-rate", f"{args.move_rate:g}", "--stagger", f"{args.stagger:g}")
    timed = ("--time-control", TIMED_CONTROL)
    flag_args = ("--time-control", f"{args.base:g}+0", "--flag-after", "2")
    server_args = ("--min-base-seconds", f"{min(args.base, 15.0):g}")
    with server_process("game", pinning, server_args) as server:
        print("warm-up ...", end=" ", flush=True)
        warm = games_step("warm-up", args.games, min(args.seconds, 10.0), args.seed, *pace)
        count_errors(summary_from_json(run_loadtest(warm, server, pinning)))
        print("done", flush=True)
        for round_ in range(args.rounds):
            kinds = [("untimed", ()), ("timed", timed)]
            if round_ % 2:
                kinds.reverse()
            results: dict[str, CpuWindow] = {}
            for kind, extra in kinds:
                waited = wait_until_quiet(server)
                length = args.stagger + SETTLE_SECONDS + args.seconds + 3
                step = games_step(kind, args.games, length, args.seed + round_, *pace, *extra)
                print(f"{kind} round {round_ + 1} (quiet after {waited:.1f} s) ...", end=" ")
                window = run_cpu_step(step, server, pinning, args.games, args.seconds)
                results[kind] = window
                count_errors(window.summary)
                errors_seen = window.summary.errors or "none"
                print(f"{window.moves:,} moves, {_us(window.per_move_us)}/move, {errors_seen}")
            rounds.append((results["untimed"], results["timed"]))
        print("flags ...", end=" ", flush=True)
        spread = ("--move-rate", "1", "--stagger", f"{args.flag_stagger:g}")
        flag_step = games_step("flags", args.games, args.flag_seconds, args.seed, *flag_args)
        flag_step = attrs.evolve(flag_step, args=(*flag_step.args, *spread))
        flags = run_flag_step(flag_step, server, pinning)
        count_errors(flags.summary)
        print(_server_ms(flags.server), flush=True)
        burst = None
        if not args.no_burst:
            print("burst ...", end=" ", flush=True)
            burst_step = games_step("burst", args.games, None, args.seed, *flag_args)
            burst = run_flag_step(burst_step, server, pinning)
            count_errors(burst.summary)
            print(_server_ms(burst.server), flush=True)
    section, met = markdown(args, rounds, flags, burst, errors, pinning, started, load_before)
    print(section)
    if not args.no_write:
        replace_section(args.output, section, START_MARKER, END_MARKER)
        print(f"wrote {args.output}")
    if args.strict and False in met:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
