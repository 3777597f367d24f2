"""The load tester: each scenario, tiny, against a real in-process server; the referee alone.

The scenario runs check that the figures are sane (things happened, latencies were recorded,
no error); the referee tests feed it fabricated wrong positions and results, and one run
corrupts a board on the way in to show that a wrong board ends as an error, not a statistic.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
import trio
from rich.console import Console
from trio.testing import MockClock
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Message, Request, TextMessage

from c4actors.actors.user import ConnectionSettings
from c4actors.cli import build_parser
from c4actors.loadtest import LoadSettings, run_load
from c4actors.loadtest.command import settings_from_args
from c4actors.loadtest.connection import (
    BROWSER_OFFER,
    CLOSE_TIMEOUT,
    Offer,
    connect,
    negotiated_extensions,
    open_socket,
)
from c4actors.loadtest.figures import summary_from_json
from c4actors.loadtest.frames import FrameDecoder, peek_type
from c4actors.loadtest.loadrun import LoadRun
from c4actors.loadtest.progress import render
from c4actors.loadtest.referee import GameReferee, RefereeError
from c4actors.loadtest.report import summary_rows
from c4actors.loadtest.settings import Scenario
from c4actors.rules import Board
from c4actors.time_controls import TimeControlRules
from c4actors.web import WebSettings
from protocol import (
    TYPE_NAMES,
    Cell,
    Colors,
    Error,
    GameOver,
    GameStarted,
    GameState,
    LobbyUpdate,
    NewConnection,
    ServerMessage,
    UserInfo,
    UserList,
    Welcome,
    decode_server,
    encode,
)
from tests.support import open_server

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


def quick(scenario: Scenario, url: str, **overrides: Any) -> LoadSettings:
    settings = LoadSettings(scenario=scenario, url=url, quiet=True, timeout=30.0)
    return attrs.evolve(settings, **overrides)


def assert_clean(summary: Any) -> None:
    assert summary.ok, summary.error_examples
    assert summary.errors == {}
    assert summary.handshake is not None and summary.handshake.count > 0
    assert summary.window_seconds > 0


# --------------------------------------------------------------------------- scenarios


async def test_games_by_count_plays_every_game_to_its_end() -> None:
    async with open_server() as server:
        summary = await run_load(quick("games", server.ws_url, concurrent=3, games=5))
    assert_clean(summary)
    games = summary.games
    assert games is not None
    assert games.games == 5 and games.ends.keys() <= {"four_in_a_row", "board_full"}
    assert games.moves >= 5 * 7 and games.moves_per_s > 0 and games.games_per_s > 0
    assert games.move_latency is not None and games.move_latency.count == games.moves
    assert 0 < games.move_latency.p50_ms <= games.move_latency.p99_ms <= games.move_latency.max_ms


async def test_timed_games_let_the_flag_fall_and_time_how_late_it_came() -> None:
    """Issue 14's benchmark: with ``--flag-after 2`` every game ends on time (the referee
    expects the waiting player's opponent to win by ``timeout``), each flag timed."""
    rules = TimeControlRules(min_base_seconds=0.5)
    async with open_server(time_controls=rules) as server:
        settings = quick(
            "games", server.ws_url, concurrent=1, games=3, time_control=(1.0, 0.0), flag_after=2
        )
        summary = await run_load(settings)
    assert_clean(summary)
    games = summary.games
    assert games is not None and games.ends == {"timeout": 3}
    assert games.time_control == (1.0, 0.0)
    lateness = games.flag_lateness
    assert lateness is not None and 2 <= lateness.count <= 3  # the last may close the window
    assert lateness.max_ms < 500
    bound = games.flag_lateness_bound
    assert bound is not None and bound.count == lateness.count
    assert bound.max_ms >= lateness.max_ms  # counted from an earlier due time


async def test_staggered_pairs_start_their_first_games_spread_over_the_stagger() -> None:
    """``--stagger 2``: pair i of 4 challenges 2 * i / 4 s after the window opens.  Four games
    that each end on a 1 s flag last about 1 s when all start at once; staggered, the window
    closes only after a game started at 1 s or later ends (the first pair may take the
    budget's last game before the fourth pair's turn at 1.5 s)."""
    rules = TimeControlRules(min_base_seconds=0.5)
    async with open_server(time_controls=rules) as server:
        settings = quick(
            "games",
            server.ws_url,
            concurrent=4,
            games=4,
            time_control=(1.0, 0.0),
            flag_after=2,
            stagger=2.0,
        )
        summary = await run_load(settings)
    assert_clean(summary)
    assert summary.games is not None and summary.games.ends == {"timeout": 4}
    assert summary.window_seconds >= 2.0
    parsed = settings_from_args(build_parser().parse_args(["loadtest", "games", "--stagger", "3"]))
    assert parsed.stagger == 3.0


async def test_moves_once_every_pair_is_playing_are_timed_apart_from_the_start() -> None:
    """Pairs' first challenges spread over 0.6 s (``--stagger``): the last of three pairs
    starts its first game 0.4 s or more into the window, and only moves written after that
    count in the steady figure; without a stagger every pair plays at once."""
    async with open_server() as server:
        spread = quick(
            "games", server.ws_url, concurrent=3, duration=1.5, move_rate=10.0, stagger=0.6
        )
        summary = await run_load(spread)
    assert_clean(summary)
    games = summary.games
    assert games is not None and games.move_latency is not None
    assert games.all_playing_after_s is not None and 0.4 <= games.all_playing_after_s < 1.5
    settled = games.settled_move_latency
    assert settled is not None and 0 < settled.count < games.move_latency.count
    assert settled.max_ms <= games.move_latency.max_ms
    assert "... once all playing" in dict(summary_rows(summary))


def test_time_control_option_parses_base_plus_increment() -> None:
    def parse(*extra: str) -> LoadSettings:
        return settings_from_args(build_parser().parse_args(["loadtest", "games", *extra]))

    assert parse("--time-control", "300+2").time_control == (300.0, 2.0)
    assert parse("--time-control", "60").time_control == (60.0, 0.0)
    assert parse().time_control is None
    for bad in ("0+1", "5+-1", "x+y"):
        with pytest.raises(SystemExit):
            parse("--time-control", bad)


@pytest.mark.parametrize(
    ("server_compresses", "client", "negotiated"),
    [
        (True, BROWSER_OFFER, ["permessage-deflate"]),
        (False, BROWSER_OFFER, []),  # the server's default policy declines
        (True, None, []),  # --compression off: nothing offered
    ],
)
async def test_the_offer_is_the_browsers_and_the_server_policy_decides(
    server_compresses: bool, client: Offer | None, negotiated: list[str]
) -> None:
    async with (
        open_server(web=WebSettings(compression=server_compresses)) as server,
        open_socket(server.ws_url, offer=client) as ws,
    ):
        assert negotiated_extensions(ws) == negotiated
        await ws.send_message(encode(NewConnection(username="deflated")))
        assert isinstance(decode_server(await ws.get_message()), Welcome)


async def test_games_run_compressed_end_to_end_by_default() -> None:
    """The default offer against a server that compresses: every frame inflated by the
    load tester's wsproto, every board checked."""
    async with open_server(web=WebSettings(compression=True)) as server:
        summary = await run_load(quick("games", server.ws_url, concurrent=2, games=3))
    assert_clean(summary)
    assert summary.settings["compression"] == "browser"
    assert summary.games is not None and summary.games.games == 3


async def test_games_time_each_next_game_start_and_the_idle_gap_before_it() -> None:
    """Issue 17's fairness figures: 5 games over 3 pairs are 2 games after a pair's first, each
    timed from ``challenge`` to ``game_started``; the gap since ``game_over`` includes it."""
    async with open_server() as server:
        summary = await run_load(quick("games", server.ws_url, concurrent=3, games=5))
    assert_clean(summary)
    games = summary.games
    assert games is not None and games.start_latency is not None
    assert games.start_latency.count == 5 - 3
    assert 0 < games.start_latency.p50_ms <= games.start_latency.max_ms
    assert games.longest_idle_s is not None
    assert games.longest_idle_s * 1000 >= games.start_latency.max_ms
    assert (games.pairs_idle_over_1s > 0) == (games.longest_idle_s > 1.0)


async def test_the_same_seed_plays_the_same_games() -> None:
    """``--seed`` makes a run reproducible: one pair, eight games, twice, move for move."""

    async def play(seed: int) -> tuple[int, dict[str, int]]:
        # The server's rate limit lifted, so the bots need not pace themselves.
        unlimited = WebSettings(connection=ConnectionSettings(rate=0))
        async with open_server(web=unlimited) as server:
            settings = quick(
                "games", server.ws_url, concurrent=1, games=8, seed=seed, send_rate=0.0
            )
            summary = await run_load(settings)
        assert_clean(summary)
        assert summary.games is not None
        return summary.games.moves, summary.games.ends

    assert await play(11) == await play(11)


async def test_games_by_duration_quits_the_games_in_flight() -> None:
    async with open_server() as server:
        settings = quick("games", server.ws_url, concurrent=2, duration=1.0, server_pid=os.getpid())
        summary = await run_load(settings)
    assert_clean(summary)
    assert summary.games is not None and summary.games.moves > 0
    assert summary.games.ends.get("forfeit", 0) <= 2  # at most the games in flight
    assert summary.server is not None and summary.server.cpu_share is not None
    assert 0.9 < summary.window_seconds < 2.0


async def test_games_open_loop_paces_moves() -> None:
    async with open_server() as server:
        settings = quick("games", server.ws_url, concurrent=2, duration=1.0, move_rate=10.0)
        summary = await run_load(settings)
    assert_clean(summary)
    assert summary.games is not None and summary.games.move_latency is not None
    # Two games at 10 moves/s each for a second: about 20 moves, never a closed loop's rate.
    assert 5 <= summary.games.moves <= 30


async def test_the_warmup_runs_the_traffic_before_the_window_opens(
    autojump_clock: MockClock,
) -> None:
    """``--warmup 5``: the traffic starts when the last connection has settled and the window
    opens 5 s later (nothing before it counts); without it both open together."""
    for warmup, opens_after in ((5.0, 5.0), (0.0, 0.0)):
        run = LoadRun(quick("games", "ws://127.0.0.1:1/ws", concurrent=1, warmup=warmup))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run.run_until_window_closes)
            await trio.sleep(1)
            assert not run.traffic_open.is_set()
            settled = trio.current_time()
            run.connection_settled()
            run.connection_settled()
            assert run.traffic_open.is_set() and run.traffic_start == settled
            assert run.window_open.is_set() == (warmup == 0)
            assert not run.measuring or warmup == 0
            await run.window_open.wait()
            assert run.window_start == pytest.approx(settled + opens_after)
            run.close_window()


async def test_games_with_a_warmup_measure_only_the_window() -> None:
    """Open loop, 2 games at 10 moves/s: a second of warm-up, then a second measured; the
    moves counted are the window's (about 20), not the warm-up's too."""
    async with open_server() as server:
        settings = quick(
            "games", server.ws_url, concurrent=2, duration=1.0, move_rate=10.0, warmup=1.0
        )
        began = trio.current_time()
        summary = await run_load(settings)
    assert_clean(summary)
    assert trio.current_time() - began >= 2.0
    assert 0.9 <= summary.window_seconds <= 1.5
    assert summary.games is not None and 5 <= summary.games.moves <= 30
    parsed = settings_from_args(build_parser().parse_args(["loadtest", "games", "--warmup", "4"]))
    assert parsed.warmup == 4.0 and parsed.hard_limit >= 4.0 + 10.0


@asynccontextmanager
async def open_silent_echo_server() -> AsyncIterator[str]:
    """A WebSocket server that echoes each connection's first message eleven times and then
    never reads again, so a client's close handshake waits for an answer that never comes."""
    streams: list[trio.SocketStream] = []

    async def handle(stream: trio.SocketStream) -> None:
        streams.append(stream)
        ws = WSConnection(ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some(65536))
            for event in ws.events():
                if isinstance(event, Request):
                    await stream.send_all(ws.send(AcceptConnection()))
                elif isinstance(event, TextMessage):
                    for _ in range(11):
                        await stream.send_all(ws.send(Message(data=event.data)))
                    await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), handle, 0
        )
        port = listeners[0].socket.getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/ws"
        finally:
            nursery.cancel_scope.cancel()


async def test_abort_at_end_drops_the_connections_without_the_close_handshake() -> None:
    """Against a server that never answers a close, each connection's handshake would wait
    out its 10 s timeout (``CLOSE_TIMEOUT``); with ``--abort-at-end`` the run ends at once."""
    async with open_silent_echo_server() as url:
        settings = quick(
            "idle", url, connections=3, duration=0.2, settle=0.0, echo_server=True,
            compression="off", abort_at_end=True,
        )  # fmt: skip
        with trio.fail_after(CLOSE_TIMEOUT / 2):
            summary = await run_load(settings)
    assert summary.errors == {} and summary.idle is not None and summary.idle.connected == 3


async def test_abort_at_end_frees_a_reader_waiting_to_deliver_an_unread_message() -> None:
    """A connection that stopped reading (a churn watcher after the window) has its reader
    task parked delivering the fifth message to a queue of four: the abort must free it, or
    leaving the connection waits for ever."""
    async with open_silent_echo_server() as url:
        run = LoadRun(quick("idle", url, abort_at_end=True, compression="off"))
        with trio.fail_after(CLOSE_TIMEOUT / 2):
            async with connect(run, None, ramp=False) as client:
                await client.send_text("unread")
                await trio.sleep(0.3)  # eleven echoes arrive, nobody reads them
                run.close_window()


async def test_an_open_loop_reports_its_slowest_moves_and_the_testers_own_loop() -> None:
    async with open_server() as server:
        settings = quick(
            "games",
            server.ws_url,
            concurrent=2,
            duration=1.0,
            move_rate=10.0,
            server_pid=os.getpid(),
        )
        summary = await run_load(settings)
        closed = await run_load(quick("games", server.ws_url, concurrent=2, duration=0.3))
    assert_clean(summary)
    games = summary.games
    assert games is not None and games.move_latency is not None
    assert games.tester_delay is not None and games.tester_delay.count == games.moves
    slowest = games.slowest_moves
    assert 1 <= len(slowest) <= 5
    assert slowest[0].round_trip_ms == pytest.approx(games.move_latency.max_ms)
    assert [move.round_trip_ms for move in slowest] == sorted(
        (move.round_trip_ms for move in slowest), reverse=True
    )
    assert all(0 <= move.at_s <= summary.window_seconds for move in slowest)
    assert summary.client_loop is not None and summary.client_loop.steps > games.moves
    assert summary.client_cpu_wait_share is not None and summary.client_cpu_wait_share >= 0
    assert summary.server is not None and summary.server.cpu_wait_share is not None
    rows = dict(summary_rows(summary))
    assert "Slowest move 1" in rows and "Load tester loop steps" in rows
    # The closed loop's figure is throughput: the tester does not time its own steps there.
    assert closed.client_loop is None and closed.games is not None
    assert closed.games.slowest_moves
    assert all(move.tester_longest_step_ms is None for move in closed.games.slowest_moves)


async def test_idle_reports_memory_per_connection() -> None:
    async with open_server() as server:
        settings = quick(
            "idle", server.ws_url, connections=20, duration=0.3, settle=0.1, server_pid=os.getpid()
        )
        summary = await run_load(settings)
    assert_clean(summary)
    idle = summary.idle
    assert idle is not None and idle.connected == 20
    assert idle.connect_all_seconds is not None and idle.connect_all_seconds > 0
    assert idle.rss_per_connection_kib is not None


async def test_churn_delivers_every_join_to_every_watcher() -> None:
    async with open_server() as server:
        settings = quick(
            "churn", server.ws_url, watchers=5, join_rate=10.0, lifetime=0.2, duration=0.6
        )
        summary = await run_load(settings)
    assert_clean(summary)
    churn = summary.churn
    assert churn is not None and churn.joins >= 3 and churn.undelivered == 0
    assert churn.all_watchers_latency is not None
    assert churn.all_watchers_latency.count == churn.joins
    assert churn.delivery_latency is not None
    assert churn.delivery_latency.count == churn.joins * 5
    assert churn.bytes_per_watcher_per_join is not None and churn.bytes_per_watcher_per_join > 0


async def test_churn_says_why_when_newcomers_are_beyond_the_lobby_list() -> None:
    async with open_server(lobby_list_limit=3) as server:
        settings = quick(
            "churn", server.ws_url, watchers=5, join_rate=10.0, lifetime=0.2, duration=0.6
        )
        summary = await run_load(settings)
    assert not summary.ok
    assert summary.errors.get("not_listed") == 1


async def run_command(*args: str) -> trio.CompletedProcess[bytes]:
    """``c4actors loadtest ...`` as a child process, the way an operator runs it."""
    command = [sys.executable, "-m", "c4actors.cli", "loadtest", *args]
    with trio.fail_after(60):
        return await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )


async def test_the_command_writes_json_and_exits_0_when_clean(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    async with open_server() as server:
        done = await run_command(
            "games", "--url", server.ws_url, "--concurrent", "2", "--games", "4", "--quiet",
            "--json", str(figures),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert b"Moves/s" in done.stdout
    summary = summary_from_json(json.loads(figures.read_text()))
    assert summary.ok and summary.games is not None and summary.games.games >= 4


async def test_the_command_exits_1_when_an_error_occurred(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    async with open_server(lobby_list_limit=2) as server:
        done = await run_command(
            "churn", "--url", server.ws_url, "--watchers", "3", "--join-rate", "10",
            "--lifetime", "0.2", "--duration", "0.5", "--quiet", "--json", str(figures),
        )  # fmt: skip
    assert done.returncode == 1
    assert b"not_listed" in done.stdout
    assert summary_from_json(json.loads(figures.read_text())).errors.get("not_listed") == 1


def load_bench_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def open_echo_server() -> AsyncIterator[str]:
    echo = load_bench_module("echo_server")
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        config = echo.make_config("127.0.0.1", 0)
        binds = await nursery.start(echo._serve_app, echo.EchoApp(), config, stop.wait)
        try:
            yield binds[0].replace("http://", "ws://") + "/ws"
        finally:
            stop.set()


async def test_echo_round_trips_against_the_bench_echo_app() -> None:
    async with open_echo_server() as url:
        summary = await run_load(quick("echo", url, connections=4, duration=0.5, send_rate=0))
        idle = await run_load(quick("idle", url, connections=5, duration=0.2, echo_server=True))
    assert_clean(summary)
    assert summary.echo is not None and summary.echo.round_trips > 10
    assert summary.echo.latency is not None
    assert_clean(idle)
    assert idle.idle is not None and idle.idle.connected == 5


async def test_the_echo_baseline_declines_the_browser_offer_like_the_game_server() -> None:
    async with open_echo_server() as url, open_socket(url, offer=BROWSER_OFFER) as ws:
        assert negotiated_extensions(ws) == []
        await ws.send_message("ping")
        assert await ws.get_message() == "ping"


async def test_a_refused_connection_is_an_error_and_the_run_still_ends() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    summary = await run_load(quick("games", f"ws://127.0.0.1:{port}/ws", concurrent=1))
    assert not summary.ok
    assert summary.errors.keys() == {"connect_failed"}  # the pair stops at the first


# --------------------------------------------------------------------------- wrong boards


class CorruptingDecoder(FrameDecoder):
    """Flips one cell of the third ``game_state`` it decodes, as a buggy server would."""

    def __init__(self) -> None:
        super().__init__()
        self.states = 0

    def decode(self, text: str) -> ServerMessage:
        message = super().decode(text)
        if isinstance(message, GameState):
            self.states += 1
            if self.states == 3:
                rows = list(message.board)
                rows[0] = "2" + rows[0][1:]
                return attrs.evolve(message, board=rows)
        return message


async def test_a_wrong_board_from_the_server_is_counted_as_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("c4actors.loadtest.loadrun.FrameDecoder", CorruptingDecoder)
    async with open_server() as server:
        summary = await run_load(quick("games", server.ws_url, concurrent=1, games=2))
    assert not summary.ok
    assert summary.errors.get("wrong_board") == 1


STARTED = GameStarted(
    game_id="g1",
    player1="ann",
    player2="bob",
    colors=Colors(player1="#ff0000", player2="#ffff00"),
    you=1,
)


def state_after(played: list[int], **changes: Any) -> GameState:
    """The state a correct server sends after ``played``, with ``changes`` applied."""
    board = Board.from_moves(played)
    last = board.last_move
    state = GameState(
        game_id="g1",
        board=board.to_rows(),
        moves=played,
        next=None if board.is_over else ("ann", "bob")[board.turn - 1],
        last_move=None if last is None else Cell(row=last[0], column=last[1]),
    )
    return attrs.evolve(state, **changes)


def referee_after(moves: list[int]) -> GameReferee:
    referee = GameReferee(STARTED)
    for count in range(len(moves) + 1):
        referee.check_state(state_after(moves[:count]))
    return referee


def test_referee_accepts_a_correct_game() -> None:
    moves = [3, 4, 3, 4, 3, 4, 3]
    referee = referee_after(moves)
    win = Board.from_moves(moves).outcome
    assert win.line is not None
    over = GameOver(
        game_id="g1",
        result="win",
        winner="ann",
        reason="four_in_a_row",
        line=[(row, column) for row, column in win.line],
    )
    referee.check_over(over)


@pytest.mark.parametrize(
    "wrong",
    [
        {"board": [".......", ".......", ".......", ".......", ".......", "...2..."]},
        {"board": [".......", ".......", ".......", ".......", ".......", "..1...."]},
        {"moves": [2]},
        {"next": "ann"},
        {"last_move": Cell(row=4, column=3)},
        {"game_id": "g2"},
    ],
)
def test_referee_rejects_a_wrong_state(wrong: dict[str, Any]) -> None:
    referee = referee_after([])
    with pytest.raises(RefereeError) as caught:
        referee.check_state(state_after([3], **wrong))
    assert caught.value.kind == "wrong_board"


def test_referee_rejects_an_illegal_or_skipped_move() -> None:
    referee = referee_after([0, 0, 0, 0, 0, 0])
    with pytest.raises(RefereeError, match="illegal"):
        referee.check_state(state_after([0, 0, 0, 0, 0], moves=[0, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(RefereeError):
        referee_after([3]).check_state(state_after([3, 4, 5]))


@pytest.mark.parametrize(
    ("over", "forfeited_by"),
    [
        # The game is won by ann: bob is not the winner, and it is not a draw.
        (GameOver(game_id="g1", result="win", winner="bob", reason="four_in_a_row"), None),
        (GameOver(game_id="g1", result="draw", winner=None, reason="board_full"), None),
        # A line that is not ann's four.
        (
            GameOver(
                game_id="g1",
                result="win",
                winner="ann",
                reason="four_in_a_row",
                line=[(5, 4), (4, 4), (3, 4), (2, 4)],
            ),
            None,
        ),
        (GameOver(game_id="g1", result="win", winner="ann", reason="forfeit"), "bob"),
    ],
)
def test_referee_rejects_a_wrong_result(over: GameOver, forfeited_by: str | None) -> None:
    referee = referee_after([3, 4, 3, 4, 3, 4, 3])
    with pytest.raises(RefereeError) as caught:
        referee.check_over(over, forfeited_by)
    assert caught.value.kind == "wrong_result"


def test_referee_expects_a_forfeit_only_from_the_player_who_quit() -> None:
    referee = referee_after([3, 4])
    forfeit = GameOver(game_id="g1", result="win", winner="bob", reason="forfeit")
    referee.check_over(forfeit, forfeited_by="ann")
    with pytest.raises(RefereeError):
        referee.check_over(forfeit, forfeited_by=None)
    with pytest.raises(RefereeError):
        referee.check_over(forfeit, forfeited_by="bob")


# --------------------------------------------------------------------------- small parts


@pytest.mark.parametrize(
    "message",
    [
        Welcome(username="ann", resume="token"),
        UserList(users=[UserInfo(name="type", state="AVAILABLE")], online=1),
        LobbyUpdate(users=[], left=["ann"], online=0),
        Error(code="bad_json", message='a "type":"quote" inside'),
        state_after([3]),
    ],
)
def test_peek_type_reads_the_tag_of_any_server_message(message: ServerMessage) -> None:
    assert peek_type(encode(message)) == TYPE_NAMES[type(message)]


def test_command_line_options_become_settings() -> None:
    args = build_parser().parse_args(
        ["loadtest", "games", "--concurrent", "7", "--games", "9", "--move-rate", "1", "--quiet"]
    )
    settings = settings_from_args(args)
    assert (settings.scenario, settings.concurrent, settings.games) == ("games", 7, 9)
    assert settings.move_rate == 1.0 and settings.quiet and settings.window is None
    assert settings.connection_count == 14


async def test_the_progress_display_shows_connections_games_rate_p99_and_errors() -> None:
    run = LoadRun(quick("games", "ws://127.0.0.1:1/ws", concurrent=5))
    run.stats.connections_open = 7
    run.stats.games_in_flight = 3
    console = Console(record=True, width=120)
    console.print(render(run, 1234.4, 0.0123))
    text = console.export_text()
    for heading in ("phase", "connections", "games in flight", "moves/s", "p99 (ms)", "errors"):
        assert heading in text
    assert "ramping up" in text and "7/10" in text and "1,234" in text and "12.3" in text


def test_the_tester_runs_with_the_servers_collector_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: the tester times every reply, and CPython's default collector in it (full
    collections of 300 ms over 2,000 connections) was in the open loop's figures."""
    import gc

    from c4actors.gc_policy import THRESHOLDS, CollectOnTime
    from c4actors.loadtest import command

    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    def fake_run(function: Any, *args: Any, instruments: Any = ()) -> Any:
        seen.update(threshold=gc.get_threshold(), frozen=gc.get_freeze_count(), inst=instruments)
        raise Stop

    monkeypatch.setattr(command.trio, "run", fake_run)
    before = gc.get_threshold()
    args = build_parser().parse_args(["loadtest", "echo", "--url", "ws://127.0.0.1:9/ws"])
    with pytest.raises(Stop):
        command.run_loadtest(args)
    assert seen["threshold"] == THRESHOLDS and seen["frozen"] > 0
    assert any(isinstance(i, CollectOnTime) for i in seen["inst"])
    assert gc.get_threshold() == before
