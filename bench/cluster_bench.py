"""Cluster benchmark (issue 16): one process against a core and two edges on one Redis.

Every measurement runs ``c4actors serve`` itself, alone (the baseline) and as a cluster
(``--redis URL --role core`` and two ``--role edge``, each on a port of its own, a fresh
``redis-server`` without persistence), with the same flags: the flood limits lifted as
``bench/game_server.py`` lifts them (a load tester on one machine exceeds them by design).
The load tester (``c4actors loadtest``, its own process) spreads its connections over the
edges (``--also-url``: a game's two players always on different edges) and reads the CPU
time of every server process over its window (``--server-pid`` / ``--also-pid``, redis-server
included).  Nothing is pinned: the cluster's four processes share the machine's CPUs.

Measured, each with its baseline from the same run:

* closed loop (each player moves as soon as it may) at two sizes: moves/s, server CPU per
  move summed over every process, each process's share (targets: the core at most a third
  of the single process's CPU per move; all processes at most 1.5x);
* open loop, 1 move/s per game: the move round trip's p99 (target: at most 5 ms above the
  single process's);
* idle users spread over both edges: connection time and memory per connection;
* churn with watchers on both edges: a join reaches every watcher on both (p99 < 1 s);
* core failover: a second core waits as a standby; the core is killed with SIGKILL in the
  middle of a game and the time until a move is served again is measured (target < 5 s),
  along with the way it came back (the same game resumed, or a new one).

The issue's sizes by default (closed loops at 100 and 1,000 games, an open loop of 1,000
games, 10,000 idle users), about 5 minutes in all: each game step's window opens after a
warm-up (the games started and moving), idle users connect at a bounded rate with each
server's connections printed as they go, and every step ends with its connections reset
rather than closed one handshake at a time (``sizes_text`` says the same in the section).

Writes its own section of ``docs/benchmarks.md`` (``--no-write``: print only); ``--quick``
for small sizes while developing; ``--hops PAIRS`` traces where a move's time goes across
the processes instead (printed: each hop at Redis's MONITOR, each process's collections,
long steps and waits for a CPU).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

import attrs
import trio
from doc_sections import replace_section
from trio_websocket import ConnectionClosed, WebSocketConnection

from c4actors.loadtest.connection import open_socket
from c4actors.loadtest.figures import ServerFigures, Summary, summary_from_json
from c4actors.loadtest.metrics import LatencySummary
from c4actors.server_process import ServerProcess
from protocol.codec import decode_server, encode
from protocol.messages import (
    Accept,
    Challenge,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    Move,
    NewConnection,
    ServerMessage,
    UserList,
    Welcome,
)

DOCS: Final = Path(__file__).resolve().parent.parent / "docs"
START_MARKER: Final = "<!-- cluster-bench:start -->"
END_MARKER: Final = "<!-- cluster-bench:end -->"
LIMITS_LIFTED: Final = (
    "--rate",
    "1e9",
    "--burst",
    "1e9",
    "--max-connections",
    "0",
    "--max-per-address",
    "0",
    "--max-games-per-minute",
    "0",
    "--log-level",
    "warning",
    "--secret",
    "cluster-bench",
)
CORE_SHARE_TARGET: Final = 1 / 3
TOTAL_RATIO_TARGET: Final = 1.5
OPEN_P99_SLACK_MS: Final = 5.0
CHURN_P99_MS: Final = 1000.0
FAILOVER_TARGET_S: Final = 5.0
LOADTEST_SLACK: Final = 120.0
PROGRESS_EVERY: Final = 5.0
"""Seconds between two progress lines of a long step (idle users connecting)."""
ISSUE_SIZES: Final = {"sizes": [100, 1000], "open_games": 1000, "idle": 10_000}


# --------------------------------------------------------------------------- processes


class Redis:
    """A throwaway ``redis-server`` on a free loopback port, nothing persisted."""

    def __init__(self) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="c4bench-redis-")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self.directory.name),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"*1\r\n$4\r\nPING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.directory.cleanup()


@attrs.frozen
class Deployment:
    """What the load tester is pointed at: the URLs and every process to read."""

    name: str
    urls: tuple[str, ...]
    pids: dict[str, int]
    """Role -> pid, the first the ``--server-pid`` (the single process, or the core)."""
    processes: dict[str, ServerProcess]
    redis_port: int = 0
    """The cluster's Redis (0: none)."""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@contextmanager
def single(directory: Path, extra: Sequence[str] = ()) -> Iterator[Deployment]:
    args = ["--port", "0", "--db", str(directory / "single.sqlite3"), *LIMITS_LIFTED, *extra]
    server = ServerProcess.start(args, env=_env())
    try:
        yield Deployment(
            "one process", (server.ws_url,), {"single": server.pid}, {"single": server}
        )
    finally:
        server.kill()


@contextmanager
def cluster(
    directory: Path, extra: Sequence[str] = (), standby: bool = False
) -> Iterator[Deployment]:
    """A fresh Redis, a core (and a standby), two edges; all killed on the way out."""
    with ExitStack() as stack:
        redis = Redis()
        stack.callback(redis.stop)
        db = directory / f"cluster-{time.monotonic_ns()}.sqlite3"

        def start(role: str) -> ServerProcess:
            args = ["--redis", redis.url, "--role", role, "--port", "0", "--db", str(db)]
            process = ServerProcess.start([*args, *LIMITS_LIFTED, *extra], env=_env())
            stack.callback(process.kill)
            return process

        core = start("core")
        processes = {"core": core}
        if standby:
            processes["standby"] = start("core")
        processes["edge A"] = start("edge")
        processes["edge B"] = start("edge")
        pids = {role: process.pid for role, process in processes.items() if role != "standby"}
        pids["redis-server"] = redis.pid
        urls = (processes["edge A"].ws_url, processes["edge B"].ws_url)
        yield Deployment("core + 2 edges", urls, pids, processes, redis.port)


def run_loadtest(
    deployment: Deployment, scenario: str, args: Sequence[str], progress: bool = False
) -> Summary:
    """One ``c4actors loadtest`` run against ``deployment``; its figures.  Every connection
    is reset at the end (``--abort-at-end``): the figures are read by then, the servers are
    killed next, and thousands of close handshakes at once took longer than the step (10,000
    idle users: 8,726 of them timed out).  With ``progress``, each server's open connections
    are printed every few seconds while it runs."""
    pids = list(deployment.pids.values())
    with tempfile.TemporaryDirectory(prefix="c4bench-") as directory:
        output = Path(directory) / "figures.json"
        errors = Path(directory) / "stderr.txt"
        command = [sys.executable, "-m", "c4actors.cli", "loadtest", scenario, *args]
        command += ["--url", deployment.urls[0]]
        for url in deployment.urls[1:]:
            command += ["--also-url", url]
        command += ["--server-pid", str(pids[0])]
        for pid in pids[1:]:
            command += ["--also-pid", str(pid)]
        command += ["--send-rate", "0", "--json", str(output), "--quiet", "--abort-at-end"]
        with errors.open("w") as stderr:
            tester = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                began = time.monotonic()
                while True:
                    try:
                        tester.wait(timeout=PROGRESS_EVERY if progress else None)
                        break
                    except subprocess.TimeoutExpired:
                        if time.monotonic() - began > 600 + LOADTEST_SLACK:
                            raise
                        print(
                            f"\n  {time.monotonic() - began:5.0f} s: " + _connections(deployment),
                            end="",
                            flush=True,
                        )
            finally:
                if tester.poll() is None:
                    tester.kill()
                    tester.wait()
        if progress:
            print()
        if not output.exists():
            raise RuntimeError(
                f"{scenario}: the load tester wrote no figures (exit {tester.returncode})\n"
                f"{errors.read_text()[-3000:]}"
            )
        return summary_from_json(json.loads(output.read_text()))


def _connections(deployment: Deployment) -> str:
    """Each server's open WebSocket connections (its ``c4_connections`` gauge)."""
    counts = []
    for role, process in deployment.processes.items():
        try:
            with urllib.request.urlopen(f"{process.http_url}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            counts.append(f"{role} ?")
            continue
        value = next(
            (line.split()[-1] for line in text.splitlines() if line.startswith("c4_connections ")),
            "?",
        )
        counts.append(f"{role} {float(value):,.0f}" if value != "?" else f"{role} ?")
    return ", ".join(counts) + " connected"


# --------------------------------------------------------------------------- figures


@attrs.frozen
class Cpu:
    """CPU per move over a window, per process (``ms``), and the moves/s it came with."""

    moves_per_s: float
    per_process_ms: dict[str, float | None]

    @property
    def total_ms(self) -> float | None:
        values = list(self.per_process_ms.values())
        if not values or any(value is None for value in values):
            return None
        return sum(value for value in values if value is not None)


def cpu_figures(deployment: Deployment, summary: Summary) -> Cpu:
    games = summary.games
    rate = games.moves_per_s if games else 0.0
    servers: list[ServerFigures] = [
        *([summary.server] if summary.server else []),
        *summary.other_servers,
    ]
    roles = {pid: role for role, pid in deployment.pids.items()}
    per_process: dict[str, float | None] = {}
    for server in servers:
        share = server.cpu_share
        per_process[roles.get(server.pid, str(server.pid))] = (
            None if share is None or rate <= 0 else 1000 * share / rate
        )
    return Cpu(rate, per_process)


@attrs.frozen
class ClosedLoop:
    games: int
    single: Cpu
    cluster: Cpu
    errors: dict[str, int]
    calls: dict[str, float] | None = None
    """The cluster's Redis commands per move over the window (``RedisCalls``)."""


HOT_COMMANDS: Final = ("xadd", "xread", "xreadgroup", "evalsha")
"""The commands of a move's path: an edge's append, the edges' reads, the core's read and
commit (round trips per move: what per-batch costs are paid by)."""


def commandstats(port: int) -> dict[str, int]:
    """Redis's count of calls of each command so far (``INFO commandstats``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        data = b""
        while b"\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n")
        size = int(head[1:])
        while len(body) < size:
            body += conn.recv(65536)
    calls = {}
    for line in body.decode().splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line.partition(":")
            values = dict(field.split("=", 1) for field in fields.split(","))
            calls[name.removeprefix("cmdstat_")] = int(values["calls"])
    return calls


class RedisCalls:
    """The hot commands' counts at the window's start and end, read in a thread while the
    load tester runs (its start counted from the tester's launch: about, not to the
    millisecond)."""

    def __init__(self, port: int, start: float, end: float) -> None:
        self.samples: list[dict[str, int]] = []
        self._thread = threading.Thread(target=self._sample, args=(port, start, end))
        self._thread.daemon = True
        self._thread.start()

    def _sample(self, port: int, start: float, end: float) -> None:
        began = time.monotonic()
        for at in (start, end):
            time.sleep(max(0.0, began + at - time.monotonic()))
            try:
                self.samples.append(commandstats(port))
            except OSError:
                return

    def per_move(self, moves: float) -> dict[str, float] | None:
        self._thread.join(timeout=5)
        if len(self.samples) != 2 or moves <= 0:
            return None
        before, after = self.samples
        return {name: (after.get(name, 0) - before.get(name, 0)) / moves for name in HOT_COMMANDS}


@attrs.frozen
class OpenLoop:
    games: int
    single: LatencySummary | None
    cluster: LatencySummary | None
    slips: tuple[int, int]
    errors: dict[str, int]
    single_cpu: Cpu | None = None
    cluster_cpu: Cpu | None = None
    """CPU per move at 1 move/s a game: each move is a batch of its own in the cluster
    (an XADD, the core's read and commit, two edges' reads), not in a closed loop."""
    single_waits: dict[str, float | None] = attrs.field(factory=dict)
    cluster_waits: dict[str, float | None] = attrs.field(factory=dict)
    """Each process's time runnable but waiting for a CPU (its run queue), as a share of
    the window, the load tester's included (``waits``): a move crosses five processes in
    the cluster, one alone, and waits at each hop for a CPU; this says how long."""


@attrs.frozen
class Idle:
    users: int
    single_seconds: float | None
    cluster_seconds: float | None
    single_kib: float | None
    cluster_kib: dict[str, float | None]
    errors: dict[str, int]
    single_handshake: LatencySummary | None = None
    cluster_handshake: LatencySummary | None = None
    """Each connection's TCP and WebSocket handshakes and join, connect -> ``user_list``."""

    @property
    def cluster_total_kib(self) -> float | None:
        """What the cluster's processes grew by together, per user (None if one is unknown):
        each process's growth is over all the users, so these add up (an edge holds half of
        them: its figure per connection of its own is twice its share)."""
        values = list(self.cluster_kib.values())
        if not values or any(value is None for value in values):
            return None
        return sum(value for value in values if value is not None)


@attrs.frozen
class Churn:
    watchers: int
    join_rate: float
    single: LatencySummary | None
    cluster: LatencySummary | None
    joins: tuple[int, int]
    errors: dict[str, int]


@attrs.frozen
class Failover:
    seconds: float | None
    path: str


def _merge(errors: dict[str, int], summary: Summary) -> None:
    for kind, count in summary.errors.items():
        errors[kind] = errors.get(kind, 0) + count


def closed_loop(directory: Path, games: int, window: float, warmup: float, seed: int) -> ClosedLoop:
    """The games start over the warm-up (``--stagger``) and play on through it, so the
    window measures steady play, not ``games`` games starting at once."""
    args = ["--concurrent", str(games), "--duration", f"{window:g}", "--seed", str(seed)]
    args += ["--warmup", f"{warmup:g}", "--stagger", f"{max(warmup / 2, 0.5):g}"]
    errors: dict[str, int] = {}
    cpus = []
    calls: dict[str, float] | None = None
    for deploy in (single, cluster):
        with deploy(directory) as deployment:
            print(f"closed loop {games} games, {deployment.name} ...", end=" ", flush=True)
            counted = (
                RedisCalls(deployment.redis_port, warmup, warmup + window)
                if deployment.redis_port
                else None
            )
            summary = run_loadtest(deployment, "games", args)
        _merge(errors, summary)
        cpus.append(cpu_figures(deployment, summary))
        if counted is not None:
            calls = counted.per_move(cpus[-1].moves_per_s * window)
        print(f"{cpus[-1].moves_per_s:,.0f} moves/s, errors {summary.errors or 'none'}")
    return ClosedLoop(games, cpus[0], cpus[1], errors, calls)


def open_loop(directory: Path, games: int, window: float, warmup: float, seed: int) -> OpenLoop:
    args = ["--concurrent", str(games), "--duration", f"{window:g}", "--move-rate", "1"]
    args += ["--seed", str(seed), "--warmup", f"{warmup:g}"]
    args += ["--stagger", f"{max(warmup / 2, 1.0):g}"]
    errors: dict[str, int] = {}
    latencies: list[LatencySummary | None] = []
    slips: list[int] = []
    cpus: list[Cpu] = []
    waited: list[dict[str, float | None]] = []
    for deploy in (single, cluster):
        with deploy(directory) as deployment:
            print(f"open loop {games} games, {deployment.name} ...", end=" ", flush=True)
            summary = run_loadtest(deployment, "games", args)
        _merge(errors, summary)
        latencies.append(summary.games.move_latency if summary.games else None)
        slips.append(summary.games.schedule_slips if summary.games else 0)
        cpus.append(cpu_figures(deployment, summary))
        waited.append(waits(deployment, summary))
        print(f"p99 {_p99(latencies[-1])}, errors {summary.errors or 'none'}")
    return OpenLoop(
        games,
        latencies[0],
        latencies[1],
        (slips[0], slips[1]),
        errors,
        cpus[0],
        cpus[1],
        waited[0],
        waited[1],
    )


def waits(deployment: Deployment, summary: Summary) -> dict[str, float | None]:
    """Each server process's share of the window spent runnable but waiting for a CPU, and
    the load tester's (``ServerFigures.cpu_wait_share``, from ``/proc/PID/schedstat``)."""
    roles = {pid: role for role, pid in deployment.pids.items()}
    shares: dict[str, float | None] = {}
    for server in [*([summary.server] if summary.server else []), *summary.other_servers]:
        shares[roles.get(server.pid, str(server.pid))] = server.cpu_wait_share
    shares["load tester"] = summary.client_cpu_wait_share
    return shares


def idle(directory: Path, users: int, window: float, ramp: float) -> Idle:
    """``users`` connect at ``ramp`` a second at most (progress printed), stay ``window``
    seconds (memory read after 2), then are reset (``--abort-at-end``)."""
    args = ["--connections", str(users), "--duration", f"{window:g}", "--settle", "2"]
    args += ["--ramp", f"{ramp:g}", "--ramp-timeout", f"{30 + 2 * users / ramp:g}"]
    errors: dict[str, int] = {}
    summaries = []
    deployments = []
    for deploy in (single, cluster):
        with deploy(directory) as deployment:
            print(f"idle {users} users, {deployment.name} ...", end=" ", flush=True)
            summary = run_loadtest(deployment, "idle", args, progress=True)
        _merge(errors, summary)
        summaries.append(summary)
        deployments.append(deployment)
        seconds = summary.idle.connect_all_seconds if summary.idle else None
        print(f"connected in {seconds} s, errors {summary.errors or 'none'}")
    alone, spread = summaries
    single_kib = alone.idle.rss_per_connection_kib if alone.idle else None
    roles = {pid: role for role, pid in deployments[1].pids.items()}
    cluster_kib: dict[str, float | None] = {}
    for server in [*([spread.server] if spread.server else []), *spread.other_servers]:
        grown = (
            None
            if server.rss_kib_open is None or server.rss_kib_start is None
            else (server.rss_kib_open - server.rss_kib_start) / users
        )
        cluster_kib[roles.get(server.pid, str(server.pid))] = grown
    return Idle(
        users,
        alone.idle.connect_all_seconds if alone.idle else None,
        spread.idle.connect_all_seconds if spread.idle else None,
        single_kib,
        cluster_kib,
        errors,
        alone.handshake,
        spread.handshake,
    )


def churn(directory: Path, watchers: int, join_rate: float, window: float) -> Churn:
    args = ["--watchers", str(watchers), "--join-rate", f"{join_rate:g}"]
    args += ["--duration", f"{window:g}", "--lifetime", "1"]
    errors: dict[str, int] = {}
    latencies: list[LatencySummary | None] = []
    joins: list[int] = []
    for deploy in (single, cluster):
        with deploy(directory, ("--lobby-list-limit", "0")) as deployment:
            print(f"churn {watchers} watchers, {deployment.name} ...", end=" ", flush=True)
            summary = run_loadtest(deployment, "churn", args)
        _merge(errors, summary)
        latencies.append(summary.churn.all_watchers_latency if summary.churn else None)
        joins.append(summary.churn.joins if summary.churn else 0)
        print(f"p99 {_p99(latencies[-1])}, errors {summary.errors or 'none'}")
    return Churn(watchers, join_rate, latencies[0], latencies[1], (joins[0], joins[1]), errors)


# --------------------------------------------------------------------------- failover


class _Player:
    def __init__(self, ws: WebSocketConnection, name: str) -> None:
        self.ws = ws
        self.name = name

    async def send(self, text: str) -> None:
        await self.ws.send_message(text)

    async def until(self, *kinds: type[ServerMessage]) -> ServerMessage:
        """The next message of one of ``kinds`` (others on the way are skipped)."""
        while True:
            message = decode_server(await self.ws.get_message())
            if isinstance(message, kinds):
                return message


async def _play_across_failover(deployment: Deployment) -> Failover:
    """Ann on edge A, Bob on edge B start a game and make two moves; the core is killed
    (SIGKILL) and Bob sends his next move at once, on the same socket: the time from the
    kill to the ``game_state`` that answers it (the edge holds the move until the standby
    serves).  If the edges close the sockets instead, each player reconnects through its
    edge with its resume token and plays on in the same game, or in a new one."""
    url_a, url_b = deployment.urls
    tokens: dict[str, str] = {}
    async with open_socket(url_a) as ws_a, open_socket(url_b) as ws_b:
        ann, bob = _Player(ws_a, "ann"), _Player(ws_b, "bob")
        for player in (ann, bob):
            await player.send(encode(NewConnection(username=player.name)))
            welcome = await player.until(Welcome)
            assert isinstance(welcome, Welcome)
            tokens[player.name] = welcome.resume
        game_id = await _new_game(ann, bob)
        for ply, (mover, column) in enumerate(((bob, 3), (ann, 2))):
            await mover.send(encode(Move(game_id=game_id, column=column, ply=ply)))
            await ann.until(GameState)
            await bob.until(GameState)
        os.kill(deployment.processes["core"].pid, signal.SIGKILL)
        killed = trio.current_time()
        with trio.move_on_after(30):
            try:
                await bob.send(encode(Move(game_id=game_id, column=3, ply=2)))
                await bob.until(GameState)
                return Failover(
                    trio.current_time() - killed,
                    "the same game on the same sockets (the edges held the move; the standby "
                    "restored the game)",
                )
            except ConnectionClosed:
                pass
    with trio.move_on_after(30):
        while True:
            try:
                path = await _move_again(url_a, url_b, tokens, game_id)
                return Failover(trio.current_time() - killed, path)
            except Exception:  # the standby is not serving yet: try again shortly
                await trio.sleep(0.1)
    return Failover(None, "no move served within 30 s")


async def _new_game(ann: _Player, bob: _Player) -> str:
    await ann.send(encode(Challenge(opponent="bob")))
    await bob.until(Invitation)
    await bob.send(encode(Accept(challenger="ann")))
    started = await bob.until(GameStarted)
    assert isinstance(started, GameStarted)
    await ann.until(GameStarted)
    await ann.until(GameState)
    await bob.until(GameState)
    return started.game_id


async def _move_again(url_a: str, url_b: str, tokens: dict[str, str], game_id: str) -> str:
    with trio.fail_after(5):
        async with open_socket(url_a) as ws_a, open_socket(url_b) as ws_b:
            ann, bob = _Player(ws_a, "ann"), _Player(ws_b, "bob")
            resumed = True
            for player in (ann, bob):
                await player.send(
                    encode(NewConnection(username=player.name, resume=tokens[player.name]))
                )
                await player.until(Welcome)
                back = await player.until(GameStarted, UserList)
                resumed = resumed and isinstance(back, GameStarted) and back.game_id == game_id
            if resumed:
                await bob.send(encode(Move(game_id=game_id, column=3)))
                await bob.until(GameState)
                return "the same game resumed (the standby restored it)"
            new_game = await _new_game(ann, bob)
            await bob.send(encode(Move(game_id=new_game, column=3)))
            await bob.until(GameState)
            return "a new game (the standby did not restore the one in progress)"


def failover(directory: Path) -> Failover:
    print("failover ...", end=" ", flush=True)
    with cluster(directory, standby=True) as deployment:
        result = trio.run(_play_across_failover, deployment)
    print(f"{result.seconds} s: {result.path}")
    return result


# --------------------------------------------------------------------------- hops


@attrs.frozen
class ProbeMove:
    """One probe move: its game and ply, when it was sent and when each player had it."""

    game_id: str
    ply: int
    sent: float
    mover: float
    other: float


async def _probe_games(urls: tuple[str, ...], pairs: int, window: float) -> list[ProbeMove]:
    """``pairs`` games, a player on each edge, a move a second in each (staggered): the
    wall-clock times (``time.time``, Redis's MONITOR clock) of each move's hops."""
    url_a, url_b = urls
    done: list[ProbeMove] = []

    async def play(index: int) -> None:
        async with open_socket(url_a) as ws_a, open_socket(url_b) as ws_b:
            ann, bob = _Player(ws_a, f"pa{index}"), _Player(ws_b, f"pb{index}")
            for player in (ann, bob):
                await player.send(encode(NewConnection(username=player.name)))
                await player.until(Welcome)
            await trio.sleep(index / pairs)
            end = trio.current_time() + window
            while trio.current_time() < end:
                await ann.send(encode(Challenge(opponent=bob.name)))
                await bob.until(Invitation)
                await bob.send(encode(Accept(challenger=ann.name)))
                started = await bob.until(GameStarted)
                assert isinstance(started, GameStarted)
                for player in (ann, bob):
                    await player.until(GameState)
                first = (bob, ann) if started.player1 == bob.name else (ann, bob)
                # The first player wins on the bottom row at ply 6, the second stacks
                # column 6 meanwhile: seven moves, then a new game.
                for ply, column in enumerate((0, 6, 1, 6, 2, 6, 3)):
                    mover, other = first[ply % 2], first[1 - ply % 2]
                    sent = time.time()
                    await mover.send(encode(Move(game_id=started.game_id, column=column, ply=ply)))
                    await mover.until(GameState)
                    mover_at = time.time()
                    await other.until(GameState)
                    done.append(ProbeMove(started.game_id, ply, sent, mover_at, time.time()))
                    await trio.sleep(max(0.0, 1.0 - (time.time() - sent)))
                for player in (ann, bob):
                    await player.until(GameOver)

    async with trio.open_nursery() as nursery:
        for index in range(pairs):
            nursery.start_soon(play, index)
    return done


def _monitor_lines(path: Path) -> list[tuple[float, str, str]]:
    """MONITOR's lines: (time, command, the rest)."""
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        stamp, _, rest = line.partition(" ")
        _, _, command = rest.partition("] ")
        name, _, args = command.partition(" ")
        try:
            rows.append((float(stamp), name.strip('"').upper(), args))
        except ValueError:
            continue
    return rows


def _percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    values = sorted(values)

    def at(q: float) -> float:
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]

    return f"p50 {at(0.5):.2f} / p90 {at(0.9):.2f} / p99 {at(0.99):.2f} / max {at(1.0):.2f} ms"


def _open_loop_with_probes(
    deployment: Deployment, games: int, window: float, pairs: int, seed: int
) -> list[ProbeMove]:
    """The load tester's open loop of ``games`` at 1 move/s, and the probe games beside it."""
    args = ["--concurrent", str(games), "--duration", f"{window + 4:g}"]
    args += ["--move-rate", "1", "--seed", str(seed), "--stagger", "1"]
    urls = deployment.urls if len(deployment.urls) > 1 else deployment.urls * 2
    command = [sys.executable, "-m", "c4actors.cli", "loadtest", "games", *args]
    command += ["--url", urls[0], "--also-url", urls[1], "--send-rate", "0", "--quiet"]
    load = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        return trio.run(_probe_games, urls, pairs, window)
    finally:
        load.wait(timeout=window + 120)


def hops(directory: Path, games: int, window: float, pairs: int, seed: int) -> None:
    """Where a move's time goes across the cluster's hops (printed, not written): an open
    loop of ``games`` at 1 move/s from the load tester, ``pairs`` probe games of this
    process beside it, and Redis's MONITOR giving when each probe move's input entry
    (XADD) and the commit with its frames (EVALSHA) reached Redis; then the same without
    MONITOR against the cluster and against one process (the baseline)."""
    for deploy in (single, cluster):
        with deploy(directory) as deployment:
            before = {role: _scheduled(pid) for role, pid in deployment.pids.items()}
            probes = _open_loop_with_probes(deployment, games, window, pairs, seed)
            after = {role: _scheduled(pid) for role, pid in deployment.pids.items()}
            stalls = {role: _stalls(p.info.http_url) for role, p in deployment.processes.items()}
        print(f"{deployment.name}, no MONITOR: {len(probes)} probe moves")
        print(f"  round trip, mover:            {_percentiles([p.mover - p.sent for p in probes])}")
        print(f"  send -> the opponent has it:  {_percentiles([p.other - p.sent for p in probes])}")
        for role, text in stalls.items():
            print(f"  {role}: {text}")
        for role, (ran, waited, slices) in before.items():
            ran, waited = after[role][0] - ran, after[role][1] - waited
            slices = after[role][2] - slices
            print(
                f"  {role}: on a CPU {ran / 1e6:,.0f} ms, runnable but waiting for one "
                f"{waited / 1e6:,.0f} ms, {1e-3 * waited / max(slices, 1):.0f} us per wake-up"
            )
    with cluster(directory) as deployment:
        monitor_path = directory / "monitor.log"
        with monitor_path.open("w") as out:
            monitor = subprocess.Popen(
                ["redis-cli", "-p", str(deployment.redis_port), "monitor"],
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
            try:
                probes = _open_loop_with_probes(deployment, games, window, pairs, seed)
            finally:
                monitor.terminate()
                monitor.wait()
        stalls = {role: _stalls(p.info.http_url) for role, p in deployment.processes.items()}
    rows = _monitor_lines(monitor_path)
    xadds = [(t, args) for t, name, args in rows if name == "XADD" and "c4:inputs" in args]
    commits = [(t, args) for t, name, args in rows if name in ("EVALSHA", "EVAL")]
    to_xadd, to_commit, to_mover, to_other, total, other_total = [], [], [], [], [], []
    for probe in probes:
        needle = probe.game_id
        xadd = next((t for t, args in xadds if t >= probe.sent - 0.001 and needle in args), None)
        if xadd is None:
            continue
        commit = next((t for t, args in commits if t >= xadd and needle in args), None)
        if commit is None:
            continue
        to_xadd.append(xadd - probe.sent)
        to_commit.append(commit - xadd)
        to_mover.append(probe.mover - commit)
        to_other.append(probe.other - commit)
        total.append(probe.mover - probe.sent)
        other_total.append(probe.other - probe.sent)
    print(f"with MONITOR: {len(total)} of {len(probes)} probe moves matched, {games} games")
    print(f"  client send -> XADD at Redis (edge A):       {_percentiles(to_xadd)}")
    print(f"  XADD -> the commit's EVALSHA at Redis (core): {_percentiles(to_commit)}")
    print(f"  EVALSHA -> the mover has it (edge A):        {_percentiles(to_mover)}")
    print(f"  EVALSHA -> the opponent has it (edge B):     {_percentiles(to_other)}")
    print(f"  round trip, mover:                           {_percentiles(total)}")
    print(f"  send -> the opponent has it:                 {_percentiles(other_total)}")
    for role, text in stalls.items():
        print(f"  {role}: {text}")


def _scheduled(pid: int) -> tuple[int, int, int]:
    """A process's time on a CPU and waiting in a run queue (ns), and its time slices,
    summed over its threads (``/proc/PID/task/*/schedstat``): how long it waited for a CPU
    each time it woke up, which a round trip between processes pays at each hop."""
    ran = waited = slices = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            fields = [int(value) for value in path.read_text().split()[:3]]
        except (OSError, ValueError):
            continue
        ran, waited, slices = ran + fields[0], waited + fields[1], slices + fields[2]
    return ran, waited, slices


def _stalls(http_url: str) -> str:
    """A process's garbage collections and long event-loop steps (``/metrics``) so far."""
    try:
        with urllib.request.urlopen(f"{http_url}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError as error:
        return f"no metrics ({error})"
    counts: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(("c4_gc_seconds", "c4_loop_step_seconds")):
            counts[name] = float(value)
    parts = []
    for generation in ("0", "1", "2"):
        count = counts.get(f'c4_gc_seconds_count{{generation="{generation}"}}', 0)
        total = counts.get(f'c4_gc_seconds_sum{{generation="{generation}"}}', 0)
        parts.append(f"gen{generation} {count:.0f} x {1000 * total / max(count, 1):.2f} ms")
    steps = counts.get("c4_loop_step_seconds_count", 0)
    over = {
        limit: steps - counts.get(f'c4_loop_step_seconds_bucket{{le="{limit}"}}', steps)
        for limit in ("0.005", "0.01", "0.025", "0.05")
    }
    parts.append(
        f"loop steps {steps:.0f}, over 5/10/25/50 ms: "
        + "/".join(f"{value:.0f}" for value in over.values())
    )
    return ", ".join(parts)


# --------------------------------------------------------------------------- the section


def _p99(latency: LatencySummary | None) -> str:
    return "-" if latency is None else f"{latency.p99_ms:,.1f} ms"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def _ratio(value: float | None, baseline: float | None) -> str:
    if value is None or baseline is None or baseline <= 0:
        return "-"
    return f"{value / baseline:.2f}x"


VERDICT: Final = {True: "met", False: "**NOT MET**", None: "not measured"}


def sizes_label(args: argparse.Namespace) -> str:
    if args.quick:
        return "quick (`--quick`)"
    issue = [args.sizes, args.open_games, args.idle] == list(ISSUE_SIZES.values())
    return "the issue's" if issue else "reduced"


def sizes_text(args: argparse.Namespace) -> list[str]:
    """How the run was sized and how each step's window and teardown work (the section's
    words for what the options chose)."""
    label = sizes_label(args)
    if label == "the issue's":
        first = (
            "**Sizes.** The issue's: closed loops at 100 and 1,000 games, an open loop of "
            "1,000 games at 1 move/s, 10,000 idle users."
        )
    else:
        first = (
            f"**Sizes.** {label.capitalize()}: closed loops at {args.sizes[0]:,} and "
            f"{args.sizes[1]:,} games, an open loop of {args.open_games:,} games, "
            f"{args.idle:,} idle users (the issue's: 100 and 1,000, 1,000, 10,000)."
        )
    return [
        first,
        f"Each game step plays a warm-up of {args.warmup:g} s before its window "
        f"({args.open_warmup:g} s for the open loop): the games start spread over half of it "
        "and play on, so the window measures steady play (at 17:10 UTC a 10 s window without "
        "it measured mostly 1,000 games starting at once: 38 moves/s in the cluster, 71 "
        f"alone).  Idle users connect at {args.idle_ramp:g} a second at most (the load "
        "tester's ramp, 64 handshakes in flight), so all of them take at least "
        f"{args.idle / args.idle_ramp:.0f} s; each one's handshake (TCP, WebSocket, join) is "
        "timed.  At the end of every step the load tester resets its connections instead of "
        "closing each with a handshake (`--abort-at-end`): the figures are read before and "
        "the servers are killed next (10,000 close handshakes at once timed out by the "
        "thousand at 17:10).",
    ]


def closed_rows(loop: ClosedLoop) -> list[str]:
    single_ms = loop.single.total_ms
    total = loop.cluster.total_ms
    core = loop.cluster.per_process_ms.get("core")
    core_met = None if core is None or single_ms is None else core <= CORE_SHARE_TARGET * single_ms
    total_met = (
        None if total is None or single_ms is None else total <= TOTAL_RATIO_TARGET * single_ms
    )
    shares = ", ".join(
        f"{role} {_ms(value)} ({_ratio(value, single_ms)})"
        for role, value in loop.cluster.per_process_ms.items()
    )
    return [
        f"| Closed loop, {loop.games:,} games: moves/s | {loop.cluster.moves_per_s:,.0f} "
        f"| {loop.single.moves_per_s:,.0f} | "
        f"{_ratio(loop.cluster.moves_per_s, loop.single.moves_per_s)} | - |",
        f"| Closed loop, {loop.games:,} games: CPU per move, all processes | {_ms(total)} "
        f"| {_ms(single_ms)} | {_ratio(total, single_ms)} "
        f"| <= {TOTAL_RATIO_TARGET}x: {VERDICT[total_met]} |",
        f"| Closed loop, {loop.games:,} games: the core's CPU per move | {_ms(core)} "
        f"| {_ms(single_ms)} | {_ratio(core, single_ms)} | <= 1/3: {VERDICT[core_met]} |",
        f"| Closed loop, {loop.games:,} games: each process | {shares} | - | - | - |",
        *calls_rows(loop),
    ]


def calls_rows(loop: ClosedLoop) -> list[str]:
    """Redis round trips per move in the cluster (no baseline: one process has none)."""
    if loop.calls is None:
        return []
    counts = ", ".join(f"{name.upper()} {value:.3f}" for name, value in loop.calls.items())
    return [
        f"| Closed loop, {loop.games:,} games: Redis commands per move (window, about) "
        f"| {counts} | - | - | - |"
    ]


def open_cpu_rows(opened: OpenLoop) -> list[str]:
    """The open loop's CPU per move, all processes and each (no target: the closed loops
    carry the CPU targets; here each move pays the cluster's per-batch costs alone)."""
    if opened.single_cpu is None or opened.cluster_cpu is None:
        return []
    single_ms = opened.single_cpu.total_ms
    total = opened.cluster_cpu.total_ms
    shares = ", ".join(
        f"{role} {_ms(value)} ({_ratio(value, single_ms)})"
        for role, value in opened.cluster_cpu.per_process_ms.items()
    )
    return [
        f"| Open loop: CPU per move, all processes | {_ms(total)} | {_ms(single_ms)} "
        f"| {_ratio(total, single_ms)} | - |",
        f"| Open loop: each process | {shares} | - | - | - |",
        *open_wait_rows(opened),
    ]


def open_wait_rows(opened: OpenLoop) -> list[str]:
    """How long each process waited for a CPU in the open loop: the hops' waits the
    cluster's p99 pays five times over a move (issue 16, "The open loop's tail, a third
    pass"); none when the run measured none."""
    if not opened.single_waits and not opened.cluster_waits:
        return []

    def shares(waits: dict[str, float | None]) -> str:
        return ", ".join(
            f"{role} {'-' if value is None else f'{100 * value:.0f}%'}"
            for role, value in waits.items()
        )

    return [
        "| Open loop: waiting for a CPU (runnable, not running: share of the window) "
        f"| {shares(opened.cluster_waits)} | {shares(opened.single_waits)} | - | - |"
    ]


def markdown(
    args: argparse.Namespace,
    loops: list[ClosedLoop],
    opened: OpenLoop,
    idle_figures: Idle,
    churn_figures: Churn,
    failed_over: Failover,
    loads: tuple[str, str],
    started: datetime.datetime,
    elapsed: float,
) -> str:
    single_p99 = opened.single.p99_ms if opened.single else None
    cluster_p99 = opened.cluster.p99_ms if opened.cluster else None
    open_met = (
        None
        if single_p99 is None or cluster_p99 is None
        else cluster_p99 <= single_p99 + OPEN_P99_SLACK_MS
    )
    handshake_single = _p99_ms(idle_figures.single_handshake)
    churn_p99 = churn_figures.cluster.p99_ms if churn_figures.cluster else None
    churn_met = None if churn_p99 is None else churn_p99 < CHURN_P99_MS
    fail_met = None if failed_over.seconds is None else failed_over.seconds < FAILOVER_TARGET_S
    errors: dict[str, int] = {}
    parts: list[dict[str, int]] = [loop.errors for loop in loops]
    parts += [opened.errors, idle_figures.errors, churn_figures.errors]
    for part in parts:
        for kind, count in part.items():
            errors[kind] = errors.get(kind, 0) + count
    error_text = ", ".join(f"{kind} {count:,}" for kind, count in errors.items()) or "none"
    lines = [
        START_MARKER,
        "## A cluster: a core and two edges on one Redis",
        "",
        "`bench/cluster_bench.py` (in `nox -s bench`): `c4actors serve` alone (the baseline),",
        "then a core and two edges (`--redis`, `--role`, a fresh `redis-server` without",
        "persistence), with the same flags (flood limits lifted); the load tester spreads its",
        "connections over the edges, a game's two players always on different edges, and reads",
        "the CPU time of every server process over its window, `redis-server` included.  CPU",
        "per move is that CPU time divided by the moves in the window.  Nothing is pinned: on",
        "this machine the load tester and the cluster's four processes share "
        f"{os.cpu_count()} CPUs (with",
        "whatever else runs), so the closed loops' moves/s is what the machine allows, not what",
        "the cluster could do on its own cores; CPU per move is the figure least disturbed.",
        "",
        "| Figure | Cluster | One process (same run) | Ratio | Target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for loop in loops:
        lines += closed_rows(loop)
    lines += [
        f"| Open loop, {opened.games:,} games x 1 move/s: move round trip p50 / p99 "
        f"| {_pair(opened.cluster)} | {_pair(opened.single)} "
        f"| {_ratio(cluster_p99, single_p99)} | p99 <= +{OPEN_P99_SLACK_MS:g} ms: "
        f"{VERDICT[open_met]} |",
        f"| Open loop: moves sent late (schedule slips) | {opened.slips[1]:,} "
        f"| {opened.slips[0]:,} | - | - |",
        *open_cpu_rows(opened),
        f"| {idle_figures.users:,} idle users over two edges: all connected in "
        f"| {_seconds(idle_figures.cluster_seconds)} | {_seconds(idle_figures.single_seconds)} "
        f"| {_ratio(idle_figures.cluster_seconds, idle_figures.single_seconds)} | - |",
        f"| Idle: each user's handshake and join, p50 / p99 "
        f"| {_pair(idle_figures.cluster_handshake)} | {_pair(idle_figures.single_handshake)} "
        f"| {_ratio(_p99_ms(idle_figures.cluster_handshake), handshake_single)} "
        "| - |",
        idle_memory_row(idle_figures),
        f"| Churn, {churn_figures.watchers:,} watchers on both edges, "
        f"{churn_figures.join_rate:g} joins/s: join -> every watcher p50 / p99 "
        f"| {_pair(churn_figures.cluster)} | {_pair(churn_figures.single)} "
        f"| {_ratio(churn_p99, churn_figures.single.p99_ms if churn_figures.single else None)} "
        f"| p99 < 1 s: {VERDICT[churn_met]} |",
        f"| Core failover: SIGKILL -> a move served again | {_seconds(failed_over.seconds)} "
        f"| - | - | < {FAILOVER_TARGET_S:g} s: {VERDICT[fail_met]} |",
        f"| Errors | {error_text} | - | - | 0 |",
        "",
        f"Failover: {failed_over.path}.",
        "",
        *sizes_text(args),
        "",
        f"Run: {sizes_label(args)} sizes, "
        f"{started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s; windows of {args.window:g} s "
        f"(open loop {args.open_window:g} s) after warm-ups of {args.warmup:g} s "
        f"({args.open_warmup:g} s); load average before {loads[0]}, after {loads[1]}.",
        END_MARKER,
    ]
    return "\n".join(lines)


def idle_memory_row(figures: Idle) -> str:
    """The idle step's memory row: each process's growth over all the users, their sum,
    and the sum against the single process's (the cluster's memory per user as a ratio)."""
    parts = ", ".join(
        f"{role} {'-' if value is None else f'{value:.1f} KiB'}"
        for role, value in figures.cluster_kib.items()
    )
    total = figures.cluster_total_kib
    if total is not None:
        parts += f"; all processes {total:.1f} KiB"
    single = "-" if figures.single_kib is None else f"{figures.single_kib:.1f} KiB"
    return (
        "| Idle: memory per user (each process's growth over all the users: an edge holds half) "
        f"| {parts} | {single} | {_ratio(total, figures.single_kib)} | - |"
    )


def _p99_ms(latency: LatencySummary | None) -> float | None:
    return None if latency is None else latency.p99_ms


def _pair(latency: LatencySummary | None) -> str:
    if latency is None:
        return "-"
    return f"{latency.p50_ms:,.1f} / {latency.p99_ms:,.1f} ms"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # The issue's sizes (ISSUE_SIZES), one run in about 10 minutes on a shared 2-CPU machine.
    parser.add_argument("--sizes", type=int, nargs=2, default=[100, 1000], help="closed loops")
    parser.add_argument("--window", type=float, default=10.0, help="closed loops' window, s")
    parser.add_argument(
        "--warmup", type=float, default=6.0, help="closed loops: play before the window, s"
    )
    parser.add_argument("--open-games", type=int, default=1000)
    parser.add_argument(
        "--open-window", type=float, default=30.0, help="30 s: a p99 of some 30,000 moves"
    )
    parser.add_argument("--open-warmup", type=float, default=6.0)
    parser.add_argument("--idle", type=int, default=10_000, help="idle users")
    parser.add_argument(
        "--idle-ramp", type=float, default=500.0, help="idle users connecting per second, at most"
    )
    parser.add_argument("--watchers", type=int, default=500, help="churn's watchers")
    parser.add_argument("--join-rate", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="small sizes, short windows")
    parser.add_argument("--output", type=Path, default=DOCS / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--hops",
        type=int,
        metavar="PAIRS",
        help="only trace where a move's time goes: PAIRS probe games beside an open loop of "
        "--open-games (Redis MONITOR), printed",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.window, args.open_games, args.open_window = [20, 100], 4.0, 100, 5.0
        args.idle, args.watchers, args.warmup, args.open_warmup = 1000, 100, 2.0, 2.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    load_before = _loadavg()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="c4bench-cluster-") as name:
        directory = Path(name)
        if args.hops:
            hops(directory, args.open_games, args.open_window, args.hops, args.seed)
            return 0
        loops = [
            closed_loop(directory, games, args.window, args.warmup, args.seed)
            for games in args.sizes
        ]
        opened = open_loop(
            directory, args.open_games, args.open_window, args.open_warmup, args.seed
        )
        idle_figures = idle(directory, args.idle, 3.0, args.idle_ramp)
        churn_figures = churn(directory, args.watchers, args.join_rate, args.window)
        failed_over = failover(directory)
    section = markdown(
        args,
        loops,
        opened,
        idle_figures,
        churn_figures,
        failed_over,
        (load_before, _loadavg()),
        started,
        time.monotonic() - begun,
    )
    print(section)
    if not args.no_write:
        replace_section(args.output, section, START_MARKER, END_MARKER)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
