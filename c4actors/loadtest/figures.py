"""The figures a run reports: one frozen ``Summary``, rendered as a table or written as JSON.

Rates and latencies cover the measured window only (see ``loadrun``).  Each scenario fills its
own section; CPU shares are fractions of one core over the window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import cattrs

from .metrics import LatencySummary
from .server_metrics import LoopFigures


@attrs.frozen
class ServerFigures:
    """The server process, when its pid was given (``--server-pid``, local servers only)."""

    pid: int
    cpu_share: float | None
    rss_kib_start: int | None
    """Before the first connection."""
    rss_kib_open: int | None
    """When the window opened: every connection made."""
    rss_kib_close: int | None
    cpu_wait_share: float | None = None
    """Its event loop's thread runnable but waiting for a CPU (the run queue), as a share of
    the window: time the machine's other work took from it."""


@attrs.frozen
class SlowMove:
    """One of the slowest moves of the window, and what the load tester was doing meanwhile
    (issue 17: a slow round trip is the server's, the network's or the machine's, no longer
    the tester's own turns; these say so)."""

    at_s: float
    """When it was written, seconds after the window opened."""
    round_trip_ms: float
    """The ``move``'s write -> its ``game_state``'s arrival at the socket."""
    tester_delay_ms: float
    """That arrival -> the mover's task got it (left out of the round trip)."""
    tester_longest_step_ms: float | None
    """The load tester's longest task step from the write until its task got the reply (of
    those over ``LOG_STEPS_OVER``; None: none that long)."""
    tester_longest_step_task: str | None


@attrs.frozen
class ClientLoopFigures:
    """The load tester's own event loop in the window (open loop: its ``LoopMonitor``)."""

    steps: int
    over_5ms: int
    over_50ms: int
    longest_ms: float | None
    """None: no step of 5 ms or more."""
    longest_task: str | None


@attrs.frozen
class GamesFigures:
    concurrent: int
    moves: int
    moves_per_s: float
    games: int
    """Games that ended on the board (win or draw) inside the window."""
    games_per_s: float
    mean_moves_per_game: float | None
    move_latency: LatencySummary | None
    """The ``move``'s write -> the arrival of the mover's ``game_state`` at the socket."""
    ends: dict[str, int]
    """Every game of the run by ``game_over.reason`` (``forfeit``: stopped by the window)."""
    move_rate: float | None
    """Open loop: moves per second per game; None for a closed loop."""
    schedule_slips: int
    """Open loop: moves sent more than one interval late."""
    start_latency: LatencySummary | None = None
    """``challenge`` sent -> the challenger's ``game_started`` (the lobby path)."""
    longest_idle_s: float | None = None
    """The longest gap of any pair between a ``game_over`` and its next ``game_started``
    inside the window (a gap still open at its end counts up to then)."""
    pairs_idle_over_1s: int = 0
    """Pairs whose longest such gap was over a second."""
    time_control: tuple[float, float] | None = None
    """Timed games: ``(base, increment)`` seconds; None for untimed games."""
    flag_lateness: LatencySummary | None = None
    """With ``--flag-after``: how late each flag's ``game_over`` came after its due time."""
    flag_lateness_bound: LatencySummary | None = None
    """The same, an upper bound (the due time counted from the opponent's last send)."""
    tester_delay: LatencySummary | None = None
    """A move's reply's arrival at the socket -> the mover's task got it: the load tester's
    own turns, left out of ``move_latency`` (``stamps``)."""
    slowest_moves: list[SlowMove] = attrs.field(factory=list)
    """The slowest moves of the window, slowest first."""
    settled_move_latency: LatencySummary | None = None
    """``move_latency`` of the moves written once every pair was playing (its first game
    started): the steady load, without the burst of every pair's first challenge at once."""
    all_playing_after_s: float | None = None
    """Seconds after the window opened when every pair was playing; None: never."""


@attrs.frozen
class EchoFigures:
    connections: int
    round_trips: int
    round_trips_per_s: float
    latency: LatencySummary | None


@attrs.frozen
class IdleFigures:
    connections: int
    connected: int
    """Connections still open (joined) when the server's memory was read."""
    connect_all_seconds: float | None
    """From the first connection attempt until every connection had joined."""
    rss_kib_settled: int | None
    """Server memory ``--settle`` seconds after the last connection joined."""
    rss_per_connection_kib: float | None
    bytes_per_connection: float
    """Received by each idle connection during the window (lobby updates)."""


@attrs.frozen
class ChurnFigures:
    watchers: int
    join_rate: float
    joins: int
    leaves: int
    delivery_latency: LatencySummary | None
    """``new_connection`` sent -> one watcher's ``lobby_update`` naming the user."""
    all_watchers_latency: LatencySummary | None
    """``new_connection`` sent -> the last watcher's ``lobby_update`` naming the user."""
    undelivered: int
    """Joins that some watcher never saw (also counted as ``missed_update`` errors)."""
    bytes_per_watcher_per_join: float | None
    bytes_per_watcher_per_change: float | None
    """Per join or leave."""
    frames_per_watcher_per_join: float | None


@attrs.frozen
class Summary:
    scenario: str
    url: str
    started_utc: str
    settings: dict[str, Any]
    ramp_seconds: float | None
    window_seconds: float
    connections_target: int
    connections_opened: int
    handshake: LatencySummary | None
    """TCP + WebSocket handshakes, then ``new_connection`` until the ``user_list``."""
    client_cpu_share: float | None
    """The load tester's own CPU over the window: near 1.0, it is the bottleneck."""
    client_cpu_wait_share: float | None = None
    """The load tester's loop waiting for a CPU (the run queue), as a share of the window."""
    client_loop: ClientLoopFigures | None = None
    """The load tester's own task steps in the window (open-loop games only)."""
    server: ServerFigures | None = None
    other_servers: list[ServerFigures] = attrs.field(factory=list)
    """``--also-pid``'s processes, in their order."""
    games: GamesFigures | None = None
    echo: EchoFigures | None = None
    idle: IdleFigures | None = None
    churn: ChurnFigures | None = None
    server_loop: LoopFigures | None = None
    """The server's task steps and collections in the window (games against a server
    with ``/metrics``; see ``server_metrics``)."""
    errors: dict[str, int] = attrs.field(factory=dict)
    error_examples: dict[str, str] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        """No error of any kind: the exit status is 0."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _converter.unstructure(self)
        data["ok"] = self.ok
        return data


_converter = cattrs.Converter()
_converter.register_unstructure_hook(Path, str)


def write_json(summary: Summary, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary.to_json(), indent=2, allow_nan=False) + "\n")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def summary_from_json(data: dict[str, Any]) -> Summary:
    """The inverse of ``Summary.to_json`` (the derived ``ok`` key is ignored)."""
    summary: Summary = _converter.structure(data, Summary)
    return summary
