"""What the load benchmark runs: every step's server, load-tester options and size.

Each step is one ``c4actors loadtest`` run against a fresh server: the game server
(``game_server.py``) or the bare echo app (``echo_server.py``).  Echo steps use the same
connection counts as the game steps they are compared with.  ``--quick`` runs the same steps at
smoke-test sizes, so the whole suite can be tried in a minute or two.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

ServerKind: TypeAlias = Literal["game", "echo"]


@attrs.frozen
class Step:
    """One load-tester run; ``name`` keys its figures in ``docs/benchmarks.json``."""

    name: str
    server: ServerKind
    args: tuple[str, ...]
    size: str
    """The size in words, for the table."""
    server_args: tuple[str, ...] = ()
    """Options for the server script, when a step needs other than its defaults."""


@attrs.frozen
class Sizes:
    closed_games: tuple[int, ...]
    """Games in flight for the closed-loop steps (echo runs twice as many connections)."""
    closed_seconds: float
    open_games: tuple[int, ...]
    """Games of the open-loop steps (1 move/s each); the echo runs at each connection count."""
    open_seconds: float
    idle_connections: int
    idle_seconds: float
    churn_rate: float
    churn_watchers: int
    churn_seconds: float
    target_games: tuple[int, ...]
    """Closed-loop sizes whose moves/s are held to the echo ratio target."""
    fair_games: tuple[int, ...] = ()
    """Closed-loop sizes held to the fairness targets (idle pairs, challenge -> started)."""
    tail_games: int | None = None
    """The open-loop size held to the tail-latency and loop-step targets (issue 17)."""


FULL = Sizes(
    closed_games=(1, 100, 500, 1000),
    closed_seconds=15.0,
    open_games=(1000, 2000),
    open_seconds=30.0,
    idle_connections=10_000,
    idle_seconds=5.0,
    churn_rate=20.0,
    churn_watchers=2000,
    churn_seconds=20.0,
    target_games=(100, 1000),
    fair_games=(500, 1000),
    tail_games=1000,
)

QUICK = Sizes(
    closed_games=(1, 20),
    closed_seconds=5.0,
    open_games=(50,),
    open_seconds=5.0,
    idle_connections=500,
    idle_seconds=3.0,
    churn_rate=5.0,
    churn_watchers=100,
    churn_seconds=5.0,
    target_games=(20,),
    fair_games=(20,),
    tail_games=50,
)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def closed_name(games: int) -> str:
    return f"games-closed-{games}"


def echo_name(connections: int) -> str:
    return f"echo-{connections}"


def open_name(games: int) -> str:
    return f"games-open-{games}"


IDLE = "idle"
IDLE_ECHO = "idle-echo"
CHURN = "churn"


RAMP_TIMEOUT = 120.0
"""Seconds of ramp-up allowed before measuring starts anyway (a ``slow_ramp`` error)."""


def plan(sizes: Sizes, seed: int) -> list[Step]:
    """Every step, game server and echo interleaved so that noise hits both alike."""
    common = ("--seed", str(seed), "--ramp-timeout", str(RAMP_TIMEOUT))
    steps: list[Step] = []
    for games in sizes.closed_games:
        seconds = str(sizes.closed_seconds)
        steps.append(
            Step(
                closed_name(games),
                "game",
                ("games", "--concurrent", str(games), "--duration", seconds, *common),
                f"{_plural(games, 'game')} ({2 * games:,} connections), closed loop",
            )
        )
        steps.append(
            Step(
                echo_name(2 * games),
                "echo",
                ("echo", "--connections", str(2 * games), "--duration", seconds, *common),
                f"{2 * games:,} connections, closed loop",
            )
        )
    echo_sizes = {2 * games for games in sizes.closed_games}
    for games in sizes.open_games:
        steps.append(
            Step(
                open_name(games),
                "game",
                (
                    "games",
                    "--concurrent",
                    str(games),
                    "--move-rate",
                    "1",
                    "--duration",
                    str(sizes.open_seconds),
                    *common,
                ),
                f"{games:,} games ({2 * games:,} connections), 1 move/s/game",
            )
        )
        # The transport's own capacity at the open loop's connection count: how much of it
        # the open loop's offered load needs (unless a closed-loop step measured it already).
        if 2 * games not in echo_sizes:
            echo_sizes.add(2 * games)
            steps.append(
                Step(
                    echo_name(2 * games),
                    "echo",
                    (
                        "echo",
                        "--connections",
                        str(2 * games),
                        "--duration",
                        str(sizes.closed_seconds),
                        *common,
                    ),
                    f"{2 * games:,} connections, closed loop",
                )
            )
    idle = ("--connections", str(sizes.idle_connections), "--duration", str(sizes.idle_seconds))
    idle_size = f"{sizes.idle_connections:,} connections"
    steps.append(Step(IDLE, "game", ("idle", *idle, "--settle", "2", *common), idle_size))
    steps.append(
        Step(
            IDLE_ECHO, "echo", ("idle", *idle, "--settle", "2", "--echo-server", *common), idle_size
        )
    )
    steps.append(
        Step(
            CHURN,
            "game",
            (
                "churn",
                "--watchers",
                str(sizes.churn_watchers),
                "--join-rate",
                str(sizes.churn_rate),
                "--duration",
                str(sizes.churn_seconds),
                *common,
            ),
            f"{sizes.churn_rate:g} joins/s, {sizes.churn_watchers:,} watchers, all listed",
            # Every newcomer listed, so every join is broadcast to every watcher: the worst
            # case, and the only one where a join is a row a watcher can see arrive.  With
            # the default list limit, joins beyond the list reach watchers only as a count.
            server_args=("--lobby-list-limit", "0"),
        )
    )
    return steps
