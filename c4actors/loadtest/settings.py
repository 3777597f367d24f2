"""The settings of one load-test run: what ``c4actors loadtest`` parses, as a frozen value."""

from __future__ import annotations

import secrets
import string
from pathlib import Path
from typing import Final, Literal, TypeAlias

import attrs

Scenario: TypeAlias = Literal["games", "idle", "churn", "echo"]
Strategy: TypeAlias = Literal["random", "heuristic"]
Compression: TypeAlias = Literal["browser", "off"]

SCENARIOS: Final[tuple[Scenario, ...]] = ("games", "idle", "churn", "echo")
DEFAULT_DURATION: Final = 10.0
COUNT_MODE_TIMEOUT: Final = 300.0
"""Hard limit on the measured phase of a ``--games N`` run that sets no ``--duration``."""
DRAIN_SECONDS: Final = 20.0
"""Time allowed after the window for games to wind down and joins to reach every watcher."""

_NAME_ALPHABET: Final = string.ascii_lowercase + string.digits


def random_run_tag() -> str:
    """Four random characters that keep this run's user names apart from any other run's.

    Not derived from ``--seed``: a rerun with the same seed must not collide with the
    sessions an earlier run left in their grace period.
    """
    return "".join(secrets.choice(_NAME_ALPHABET) for _ in range(4))


@attrs.frozen(kw_only=True)
class LoadSettings:
    """Everything that shapes a run; see ``add_loadtest_arguments`` for each option's meaning."""

    scenario: Scenario
    url: str = "ws://127.0.0.1:8000/ws"
    concurrent: int = 10
    connections: int = 100
    watchers: int = 100
    join_rate: float = 5.0
    lifetime: float = 1.0
    duration: float | None = None
    games: int | None = None
    ramp: float = 1000.0
    seed: int = 1
    think: float = 0.0
    move_rate: float | None = None
    stagger: float = 0.0
    """Games: the pairs' first challenges spread evenly over this many seconds (0: at once)."""
    warmup: float = 0.0
    """Seconds the scenario's traffic runs after the ramp before the window opens (nothing in
    them counts), so that the window measures steady play, not a thousand games starting at
    once (0: the window opens with the traffic)."""
    abort_at_end: bool = False
    """Once the window has closed, drop each connection with a TCP reset instead of the
    WebSocket close handshake: thousands of close handshakes at once are slow for a server to
    answer, and the figures are read before (the benchmarks, which then stop the server)."""
    strategy: Strategy = "heuristic"
    server_pid: int | None = None
    also_urls: tuple[str, ...] = ()
    """More servers of one cluster (its edges): connections are spread over ``url`` and
    these (``url_for``)."""
    also_pids: tuple[int, ...] = ()
    """More local processes (a cluster's core and edges, redis-server) whose CPU over the
    window is reported beside ``server_pid``'s."""
    json_path: Path | None = None
    quiet: bool = False
    timeout: float | None = None
    ramp_timeout: float | None = None
    echo_server: bool = False
    settle: float = 1.0
    send_rate: float = 20.0
    """Most messages per second one connection sends (0: no cap); see ``connection``."""
    message_queue_size: int = 4
    time_control: tuple[float, float] | None = None
    """Games: ``(base, increment)`` seconds of a Fischer clock each challenge asks for."""
    flag_after: int | None = None
    """Games: after this many moves the player to move stops and waits for the flag."""
    compression: Compression = "browser"
    """``browser``: offer ``permessage-deflate`` as browsers do (the server decides);
    ``off``: offer no extension."""
    max_connecting: int = 64
    run_tag: str = attrs.field(factory=random_run_tag)

    @property
    def window(self) -> float | None:
        """Length of the measured phase in seconds; None when a game count ends it."""
        if self.duration is not None:
            return self.duration
        if self.scenario == "games" and self.games is not None:
            return None
        return DEFAULT_DURATION

    @property
    def connection_count(self) -> int:
        """How many long-lived connections the scenario opens before its window starts."""
        if self.scenario == "games":
            return 2 * self.concurrent
        if self.scenario == "churn":
            return self.watchers
        return self.connections

    @property
    def ramp_limit(self) -> float:
        """Seconds after which the window opens even if some connections are still joining."""
        if self.ramp_timeout is not None:
            return self.ramp_timeout
        return 60.0 + 3 * self.connection_count / self.ramp

    @property
    def hard_limit(self) -> float:
        """Seconds after which the run is stopped whatever state it is in."""
        if self.timeout is not None:
            return self.timeout
        window = self.window if self.window is not None else COUNT_MODE_TIMEOUT
        return 30.0 + self.ramp_limit + self.warmup + window + self.settle + 2 * DRAIN_SECONDS

    def url_for(self, index: int) -> str:
        """Where connection ``index`` of its kind connects: ``url`` and ``also_urls`` in
        turn (a game's challenger is 0 and its opponent 1: with two edges, one on each)."""
        urls = (self.url, *self.also_urls)
        return urls[index % len(urls)]

    def user_name(self, role: str, index: int) -> str:
        """A unique, valid lobby name (at most 24 characters of ``[A-Za-z0-9_-]``)."""
        return f"{role}{self.run_tag}-{index}"
