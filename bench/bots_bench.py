"""Benchmark: the computer's moves and the cost of analyses to everyone else's games.

Two measurements, each against a baseline from the same run:

1. ``perfect`` move time through the compute pool (``bot_move`` in a worker, timed from
   the caller's side as the game actor waits for it), over the positions ``perfect`` meets
   as player 1 against ``casual`` in seeded games; the ``strong`` level's moves on the same
   positions are the baseline.  Target: p95 < 1 s.  Also, per band of stones on the board,
   how many of ``perfect``'s moves were exact (the solver answered in time) rather than
   the fallback search's.
2. The move round trip of 100 human games (a move sent to its ``game_state`` back, moves
   paced like fast humans, half a second apart on average, over real sockets to a
   ``c4actors serve`` process) in alternating windows: the analysis workers idle, then
   four users asking for one analysis after another all along (each for a game not
   analysed yet).  Target: p99 rises by at most 1 ms.  The pace matters: at 20 moves a
   second per game (an earlier version) the 100 games alone kept the server's one core
   nearly saturated on a two-core machine, so the p99 measured queueing, not the
   analyses.  The server's CPU per move (``/proc``) is given for both windows too: CPU
   time is what other work on a shared machine disturbs least.

Rewrites its own section of ``docs/benchmarks.md``.  Exits 0 unless ``--strict`` is given
and a target is missed, so a loaded machine does not break ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import attrs
import trio
from doc_sections import replace_section
from trio_websocket import WebSocketConnection

from c4actors.actors.analyst import PLIES_PER_JOB
from c4actors.bots import LEVEL_BUDGETS, Budget, choose_move
from c4actors.compute_jobs import bot_move
from c4actors.compute_pool import (
    DEFAULT_ANALYSIS_WORKERS,
    LaneSettings,
    PoolSettings,
    open_compute_pool,
)
from c4actors.loadtest.connection import open_socket
from c4actors.rules import Board
from c4actors.server_process import running_server
from protocol import (
    Accept,
    Analyse,
    Analysis,
    AnalysisProgress,
    Challenge,
    ClientMessage,
    Error,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    Move,
    NewConnection,
    Quit,
    ServerMessage,
    UserList,
    decode_server,
    encode,
)
from protocol.messages import BotLevel

M = TypeVar("M")

START_MARKER = "<!-- bots-bench:start -->"
END_MARKER = "<!-- bots-bench:end -->"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
TARGET_PERFECT_P95 = 1.0
TARGET_P99_RISE_MS = 1.0
ANALYSES_AT_ONCE = 4
MOVE_PACE = 0.5
"""Seconds between a game's moves: latency, not throughput, is measured."""
DRAIN_SECONDS = 90.0
"""How long the analyses in hand may take to finish after a busy window."""


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --------------------------------------------------------------------------- 1: perfect moves


def perfect_positions(games: int) -> list[tuple[int, ...]]:
    """The positions ``perfect`` (player 1) meets against ``casual`` in seeded games, found
    in this process with a roomy budget (the timed runs are in the pool)."""
    positions = []
    for seed in range(games):
        rng = random.Random(seed)
        board = Board()
        while not board.is_over:
            if board.turn == 1:
                positions.append(board.moves)
                choice = choose_move(board.moves, "perfect", rng, Budget.seconds(600))
            else:
                choice = choose_move(board.moves, "casual", rng, Budget.seconds(0.1))
            board = board.play(choice.column)
    return positions


HARD_BAND = range(13, 18)


def hard_band_games(games: int) -> list[list[tuple[int, ...]]]:
    """Per seeded game of ``strong`` against ``strong`` (closer games than against
    ``casual``), its positions with 13-17 stones: the solver's hard band."""
    found = []
    for seed in range(games):
        rng = random.Random(5000 + seed)
        board = Board()
        positions = []
        while not board.is_over:
            if len(board.moves) in HARD_BAND:
                positions.append(board.moves)
            board = board.play(choose_move(board.moves, "strong", rng, Budget.seconds(0.03)).column)
        found.append(positions)
    return found


@attrs.frozen
class HardBand:
    """``perfect`` on the hard band's positions, each game's in order in one worker (as a
    game would ask, so the worker's tables are as warm as in a game), a fresh worker per
    game: each move's seconds and whether it was exact."""

    seconds: list[float]
    hows: list[str]


async def time_hard_band(games: list[list[tuple[int, ...]]]) -> HardBand:
    seconds: list[float] = []
    hows: list[str] = []
    settings = PoolSettings(bot=LaneSettings(workers=1, queue=4, timeout=30.0))
    for index, positions in enumerate(games):
        async with open_compute_pool(settings) as pool:
            await pool.run("bot", bot_move, (), "beginner", 0, 0.05)  # the worker starts
            for moves in positions:
                started = time.monotonic()
                move = await pool.run("bot", bot_move, moves, "perfect", index, 0.9)
                seconds.append(time.monotonic() - started)
                hows.append(move.how)
    return HardBand(seconds, hows)


BANDS: tuple[tuple[str, range], ...] = (
    ("0-12 stones", range(0, 13)),
    ("13-17 stones", range(13, 18)),
    ("18+ stones", range(18, 43)),
)
"""The solver's easy start (the opening table and the 12-ply book), its hard band, its end."""


@attrs.frozen
class MoveTimes:
    perfect: list[float]
    strong: list[float]
    plies: list[int]
    """The stones on the board at each of ``perfect``'s moves."""
    hows: list[str]
    """How each of ``perfect``'s moves was chosen (``bots.Choice.how``)."""

    @property
    def fallbacks(self) -> int:
        return sum(1 for how in self.hows if how == "fallback")

    def exact_by_band(self) -> list[tuple[str, list[str], float]]:
        """Per band: its name, how each move was chosen, their p95 time."""
        rows = []
        for name, plies in BANDS:
            picked = [i for i, ply in enumerate(self.plies) if ply in plies]
            times = [self.perfect[i] for i in picked]
            rows.append((name, [self.hows[i] for i in picked], percentile(times, 95)))
        return rows


async def time_moves(positions: list[tuple[int, ...]]) -> MoveTimes:
    settings = PoolSettings(bot=LaneSettings(workers=1, queue=4, timeout=30.0))
    perfect: list[float] = []
    strong: list[float] = []
    hows: list[str] = []
    async with open_compute_pool(settings) as pool:
        await pool.run("bot", bot_move, (), "beginner", 0, 0.05)  # the worker starts
        for index, moves in enumerate(positions):
            runs: tuple[tuple[BotLevel, list[float]], ...] = (
                ("perfect", perfect),
                ("strong", strong),
            )
            for level, into in runs:
                started = time.monotonic()
                move = await pool.run("bot", bot_move, moves, level, index, LEVEL_BUDGETS[level])
                into.append(time.monotonic() - started)
                if level == "perfect":
                    hows.append(move.how)
    return MoveTimes(perfect, strong, [len(moves) for moves in positions], hows)


# --------------------------------------------------------------------------- 2: round trips


class Socket:
    """One client socket speaking the typed protocol."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws

    async def send(self, message: ClientMessage) -> None:
        await self.ws.send_message(encode(message))

    async def receive(self) -> ServerMessage:
        with trio.fail_after(120):
            text = await self.ws.get_message()
        assert isinstance(text, str)
        return decode_server(text)

    async def wait_for(self, kind: type[M]) -> M:
        while True:
            message = await self.receive()
            if isinstance(message, kind):
                return message

    async def hello(self, name: str) -> None:
        """Join the lobby as ``name`` (its ``user_list`` says the session is open)."""
        await self.send(NewConnection(username=name))
        await self.wait_for(UserList)

    async def play(self, game_id: str, column: int, ply: int) -> None:
        """Move, and wait for the ``game_state`` that shows it."""
        await self.send(Move(game_id=game_id, column=column))
        while True:
            message = await self.receive()
            if isinstance(message, GameState) and len(message.moves) == ply + 1:
                return
            if isinstance(message, Error):
                raise RuntimeError(f"move refused: {message}")


def game_moves(seed: int, plies: int = 24) -> list[int]:
    """A seeded random game's first moves, none of them ending it."""
    rng = random.Random(seed)
    board = Board()
    while len(board.moves) < plies:
        legal = [c for c in board.legal_columns() if not board.play(c).is_over]
        if not legal:
            break
        board = board.play(rng.choice(legal))
    return list(board.moves)


async def start_game(a: Socket, b: Socket, names: tuple[str, str]) -> str:
    """``a`` challenges ``b``, who accepts (and moves first)."""
    await a.send(Challenge(opponent=names[1]))
    await b.wait_for(Invitation)
    await b.send(Accept(challenger=names[0]))
    started = await b.wait_for(GameStarted)
    await a.wait_for(GameStarted)
    return started.game_id


async def one_game(
    url: str,
    index: int,
    phase: str,
    samples: list[float],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """One human game: paced moves, each one's round trip timed; ends with a quit."""
    moves = game_moves(index)
    async with open_socket(url, queue_size=64) as ws_a, open_socket(url, queue_size=64) as ws_b:
        a, b = Socket(ws_a), Socket(ws_b)
        names = (f"{phase}a{index}", f"{phase}b{index}")
        for socket, name in ((a, names[0]), (b, names[1])):
            await socket.hello(name)
        game_id = await start_game(a, b, names)
        task_status.started()
        players = (b, a)
        rng = random.Random(index)
        for ply, column in enumerate(moves):
            await trio.sleep(MOVE_PACE * 2 * rng.random())
            sent = time.perf_counter()
            await players[ply % 2].play(game_id, column, ply)
            samples.append(time.perf_counter() - sent)
        await b.send(Quit(game_id=game_id))
        await b.wait_for(GameOver)


async def human_games(url: str, games: int, phase: str) -> list[float]:
    samples: list[float] = []
    async with trio.open_nursery() as nursery:
        for index in range(games):
            await nursery.start(one_game, url, index, phase, samples)
    return samples


async def stored_games(url: str, count: int) -> list[str]:
    """Play ``count`` long games (random, seeded) so the analysts have games to analyse."""
    ids = []
    async with open_socket(url, queue_size=256) as ws_a, open_socket(url, queue_size=256) as ws_b:
        a, b = Socket(ws_a), Socket(ws_b)
        names = ("keeper1", "keeper2")
        await a.hello(names[0])
        await b.hello(names[1])
        for index in range(count):
            game_id = await start_game(a, b, names)
            players = (b, a)
            for ply, column in enumerate(game_moves(1000 + index, plies=41)):
                await players[ply % 2].play(game_id, column, ply)
            await b.send(Quit(game_id=game_id))
            for socket in (a, b):  # back in the lobby (a user_list) before the next challenge
                await socket.wait_for(UserList)
            ids.append(game_id)
    return ids


@attrs.define
class AnalysisWork:
    """What the analysts got done: analyses delivered, progress frames (jobs) seen."""

    finished: int = 0
    jobs: int = 0


async def keep_analysing(
    url: str, name: str, games: list[str], work: AnalysisWork, stop: trio.Event
) -> None:
    """Ask for one analysis after another until ``stop`` is set (the one asked for last is
    waited for, so the server's analysis workers are idle when this returns)."""
    async with open_socket(url, queue_size=256) as ws:
        socket = Socket(ws)
        await socket.hello(name)
        while games and not stop.is_set():
            game_id = games.pop()
            await socket.send(Analyse(game_id=game_id))
            while True:
                message = await socket.receive()
                if isinstance(message, AnalysisProgress):
                    work.jobs += 1
                if isinstance(message, Analysis | Error):
                    break
            if isinstance(message, Analysis):
                work.finished += 1


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@attrs.define
class Phase:
    """One condition's samples over every window of the run: round trips (s), the server's
    CPU seconds and the moves played meanwhile."""

    samples: list[float] = attrs.Factory(list)
    cpu: float = 0.0
    moves: int = 0

    def cpu_per_move(self) -> float:
        return self.cpu / max(self.moves, 1)


@attrs.frozen
class RoundTrips:
    workers: int
    quiet: Phase
    busy: Phase
    work: AnalysisWork
    drained: bool


async def timed_window(url: str, games: int, name: str, pid: int, into: Phase) -> None:
    before = cpu_seconds(pid)
    samples = await human_games(url, games, name)
    into.cpu += cpu_seconds(pid) - before
    into.moves += len(samples)
    into.samples += samples


async def round_trips(games: int, rounds: int, workers: int) -> RoundTrips:
    """``rounds`` times: a window of ``games`` human games with the analysis workers idle,
    then one with ``ANALYSES_AT_ONCE`` analyses asked for all along, then the analyses in
    hand finish (at most ``DRAIN_SECONDS``) before the next quiet window: alternated, so a
    change in the machine's load hits both conditions."""
    quiet, busy, work, drained = Phase(), Phase(), AnalysisWork(), True
    with tempfile.TemporaryDirectory() as folder:
        args = [
            "--port", "0", "--db", str(Path(folder) / "bench.sqlite3"), "--lobby-tick", "0",
            "--analysis-workers", str(workers), "--analyses-per-hour", "1000",
            "--max-games-per-minute", "0", "--rate", "0", "--log-level", "warning",
        ]  # fmt: skip
        with running_server(args) as server:
            url, pid = server.ws_url, server.process.pid
            to_analyse = await stored_games(url, 3 * ANALYSES_AT_ONCE * rounds)
            for window in range(rounds):
                await timed_window(url, games, f"q{window}", pid, quiet)
                stop = trio.Event()
                with trio.CancelScope() as drain:
                    async with trio.open_nursery() as nursery:
                        for n in range(ANALYSES_AT_ONCE):
                            name = f"analyst{window}x{n}"
                            nursery.start_soon(keep_analysing, url, name, to_analyse, work, stop)
                        await trio.sleep(2.0)  # the analyses are under way
                        await timed_window(url, games, f"b{window}", pid, busy)
                        stop.set()
                        drain.deadline = trio.current_time() + DRAIN_SECONDS
                drained = drained and not drain.cancelled_caught
    return RoundTrips(workers, quiet, busy, work, drained)


# --------------------------------------------------------------------------- report


def exactness(hows: Sequence[str]) -> str:
    """``exact / best only / fallback`` counts, and the share of perfect play."""
    exact, best = hows.count("perfect"), hows.count("best")
    fallback = len(hows) - exact - best
    share = (exact + best) / max(len(hows), 1)
    return f"{exact} / {best} / {fallback} of {len(hows)} ({share:.0%} perfect play)"


def _ms(values: Sequence[float], q: float) -> float:
    return percentile(values, q) * 1000


def trips_rows(trips: RoundTrips, games: int, rounds: int) -> list[str]:
    quiet, busy = trips.quiet, trips.busy
    q99, b99 = _ms(quiet.samples, 99), _ms(busy.samples, 99)
    rise = b99 - q99
    rise_met = "met" if rise <= TARGET_P99_RISE_MS else "MISSED"
    workers = f"{trips.workers} analysis worker{'s' if trips.workers > 1 else ''}"
    idle = (
        f"{_ms(quiet.samples, 50):.2f} / {q99:.2f} ms ({len(quiet.samples)} moves,"
        f" {games} games x {rounds} windows)"
    )
    loaded = (
        f"{_ms(busy.samples, 50):.2f} / {b99:.2f} ms ({len(busy.samples)} moves;"
        f" {trips.work.finished} analyses finished, {trips.work.jobs} jobs of"
        f" {PLIES_PER_JOB} moves done meanwhile)"
    )
    cpu_q, cpu_b = quiet.cpu_per_move() * 1e6, busy.cpu_per_move() * 1e6
    drained = "" if trips.drained else " (an analysis was still running at a quiet window)"
    return [
        f"| {workers}: human move round trip p50 / p99, analyses idle | {idle}{drained} |",
        f"| {workers}: same, {ANALYSES_AT_ONCE} analyses asked for all along | {loaded} |",
        f"| {workers}: p99 rise | {rise:+.2f} ms, {b99 / q99:.2f}x (target <= +1 ms: {rise_met}) |",
        f"| {workers}: server CPU per human move, idle / busy | {cpu_q:.0f} / {cpu_b:.0f} µs,"
        f" {cpu_b / max(cpu_q, 1e-9):.2f}x |",
    ]


def section(
    times: MoveTimes,
    hard: HardBand,
    trips: Sequence[RoundTrips],
    games: int,
    rounds: int,
    load: tuple[str, str],
) -> str:
    p95 = percentile(times.perfect, 95)
    strong95 = percentile(times.strong, 95)
    met = "met" if p95 < TARGET_PERFECT_P95 else "MISSED"
    python = f"{platform.python_implementation()} {platform.python_version()}"
    machine = f"{platform.platform()}; Python: {python}"
    perfect = (
        f"{percentile(times.perfect, 50):.3f} / {p95:.3f} / {max(times.perfect):.3f} s"
        f" (target p95 < 1 s: {met})"
    )
    bands = [
        f"| `perfect` moves at {name}: exact / best only / fallback, p95 | {exactness(hows)},"
        f" {band95:.3f} s |"
        for name, hows, band95 in times.exact_by_band()
    ]
    lines = [
        START_MARKER,
        "## The computer and analyses",
        "",
        "`bench/bots_bench.py`: (1) `perfect`'s moves through the compute pool (one worker,",
        "timed from the caller's side), on every position it meets as player 1 against",
        "`casual` in seeded games, with `strong`'s moves on the same positions as the",
        "baseline; a move is exact when the solver answered within the budget, otherwise",
        "short of time once a best move is proven it plays that one (best only: perfect",
        "play, not random among every best move), else it is the fallback search's; also",
        "`perfect` on the",
        "positions of 13-17 stones (the solver's hard band) of seeded `strong` against",
        "`strong` games, each game's in order in a fresh worker; (2) the move round trip of",
        f"{games} human games over real sockets to a `c4actors serve` process, paced moves,",
        f"in {rounds} alternating pairs of windows: the analysis workers idle, then",
        f"{ANALYSES_AT_ONCE} users asking for one analysis after another all along (each",
        "analysis in hand finishes before the next idle window); the analyses' workers",
        "run at `SCHED_IDLE`, and there are `--analysis-workers` of them (the requests",
        "beyond that wait in the lane's queue).  The server's CPU per move comes from",
        "`/proc` over the same windows.",
        "",
        "| Figure | Value |",
        "| --- | --- |",
        f"| `perfect` move p50 / p95 / max | {perfect} |",
        f"| `strong` move p95 (baseline) | {strong95:.3f} s; `perfect` p95 {p95 / strong95:.1f}x |",
        f"| `perfect` moves / fallbacks (no move proven best in time) |"
        f" {len(times.perfect)} / {times.fallbacks} |",
        *bands,
        f"| `perfect` on the 13-17 stones of {len(hard.hows)} strong-vs-strong positions:"
        f" exact / best only / fallback, p50 / p95 | {exactness(hard.hows)},"
        f" {percentile(hard.seconds, 50):.3f} / {percentile(hard.seconds, 95):.3f} s |",
        *(row for one in trips for row in trips_rows(one, games, rounds)),
        f"| Load average before / after | {load[0]} / {load[1]} |",
        "",
        f"Machine: {machine}; {_cpus()}.  Measured {datetime.date.today().isoformat()}, on a",
        "machine shared with other work (two cores): the figures are upper bounds.",
        END_MARKER,
    ]
    return "\n".join(lines)


def _cpus() -> str:
    return f"{os.cpu_count()} CPUs"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--games", type=int, default=100, help="human games per window")
    parser.add_argument(
        "--rounds", type=int, default=2, help="pairs of idle / busy windows (0: only part 1)"
    )
    parser.add_argument("--bot-games", type=int, default=6, help="seeded perfect-vs-casual games")
    parser.add_argument(
        "--hard-games", type=int, default=12, help="seeded strong-vs-strong games (hard band)"
    )
    parser.add_argument(
        "--analysis-workers",
        type=int,
        nargs="+",
        default=[DEFAULT_ANALYSIS_WORKERS],
        help="the server's --analysis-workers, one server per value (default: its default)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    before = _load()
    positions = perfect_positions(args.bot_games)
    times = trio.run(time_moves, positions)
    hard = trio.run(time_hard_band, hard_band_games(args.hard_games))
    print(f"perfect p95 {percentile(times.perfect, 95):.3f} s over {len(times.perfect)} moves")
    trips = []
    for workers in args.analysis_workers if args.rounds > 0 else ():
        trips.append(trio.run(round_trips, args.games, args.rounds, workers))
        print("\n".join(trips_rows(trips[-1], args.games, args.rounds)))
    text = section(times, hard, trips, args.games, args.rounds, (before, _load()))
    print(text)
    replace_section(args.output, text, START_MARKER, END_MARKER)
    rise = 0.0
    if trips:
        first = trips[0]
        rise = (percentile(first.busy.samples, 99) - percentile(first.quiet.samples, 99)) * 1000
    missed = percentile(times.perfect, 95) >= TARGET_PERFECT_P95 or rise > TARGET_P99_RISE_MS
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
