"""Analyses through real sockets: progress then the analysis, stored with the game and
served by the API; computed in worker processes; every refusal (unknown game, one at a
time, a few an hour, a full pool)."""

from __future__ import annotations

import os
import time

import httpx
import trio
import trio.testing

from c4actors.compute_pool import LaneSettings, PoolSettings
from protocol import (
    Analyse,
    Analysis,
    AnalysisProgress,
    Error,
    GameOver,
    GameState,
    LobbyUpdate,
    Move,
    UserList,
)
from tests.support import Client, connect, open_server, start_game

# Player 1 (bob, who accepted) stacks column 0 and wins at ply 7; ann answers in column 1.
QUICK_WIN = (0, 1, 0, 1, 0, 1, 0)


async def play_quick_game(ann: Client, bob: Client) -> str:
    game_id = await start_game(ann, bob)
    for ply, column in enumerate(QUICK_WIN):
        mover = bob if ply % 2 == 0 else ann
        await mover.send(Move(game_id=game_id, column=column))
        for client in (ann, bob):
            await client.expect(GameState)
    for client in (ann, bob):
        await client.expect(GameOver)
        await client.expect_skipping(UserList, LobbyUpdate)
    return game_id


async def refusal(client: Client, code: str) -> Error:
    error = await client.expect_skipping(Error, LobbyUpdate, AnalysisProgress)
    assert (error.code, error.ref) == (code, "analyse"), error
    return error


async def test_an_analysis_with_progress_stored_and_served() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await play_quick_game(ann, bob)
        await ann.send(Analyse(game_id=game_id))
        progress = []
        while not isinstance(message := await ann.receive(), Analysis):
            if isinstance(message, AnalysisProgress):
                progress.append((message.done, message.total))
            else:
                assert isinstance(message, LobbyUpdate), message
        assert progress[0][0] > 0 and progress[-1] == (7, 7)
        assert [done for done, _ in progress] == sorted(done for done, _ in progress)
        analysis = message
        assert analysis.game_id == game_id
        assert [note.column for note in analysis.moves] == list(QUICK_WIN)
        assert [note.ply for note in analysis.moves] == list(range(1, 8))
        # The first move in the corner gives the win away (the centre is the only win).
        first = analysis.moves[0]
        assert first.before.outcome == "win" and first.best == [3]
        assert first.after.outcome != "win" and first.grade in ("mistake", "blunder")
        # The last move wins at once: the best there is.
        assert analysis.moves[-1].grade == "best"
        assert analysis.moves[-1].after.outcome == "win" and analysis.moves[-1].after.plies == 1
        # ann (player 2) lost it: the move after which she never held a draw again.
        assert analysis.lost_at is not None and analysis.lost_at % 2 == 0
        # Computed in worker processes, never in this (the event loop's) process.
        assert server.analyst is not None and server.analyst.worked_in
        assert all(ran.pid != os.getpid() for ran in server.analyst.worked_in)
        # Stored with the game: the API serves it, and asking again costs no computing.
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            stored = (await http.get(f"/api/games/{game_id}/analysis")).json()
            assert stored["lost_at"] == analysis.lost_at and len(stored["moves"]) == 7
            missing = await http.get("/api/games/nope/analysis")
            assert (missing.status_code, missing.json()["error"]) == (404, "unknown_game")
        await bob.send(Analyse(game_id=game_id))
        again = await bob.expect_skipping(Analysis, LobbyUpdate)
        assert again == analysis


async def test_not_analysed_yet_is_its_own_answer() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await play_quick_game(ann, bob)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            response = await http.get(f"/api/games/{game_id}/analysis")
        assert (response.status_code, response.json()["error"]) == (404, "not_analysed")


async def test_an_unknown_game_is_refused() -> None:
    async with open_server() as server, connect(server, "ann") as ann:
        await ann.send(Analyse(game_id="no-such-game"))
        await refusal(ann, "unknown_game")


async def test_one_at_a_time_and_a_few_an_hour() -> None:
    async with (
        open_server(analyses_per_hour=1) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        first = await play_quick_game(ann, bob)
        second = await play_quick_game(ann, bob)
        await ann.send(Analyse(game_id=first))
        await ann.send(Analyse(game_id=second))
        await refusal(ann, "analysis_running")
        await ann.expect_skipping(Analysis, LobbyUpdate, AnalysisProgress)
        await ann.send(Analyse(game_id=second))
        error = await refusal(ann, "analysis_limit")
        assert "1 analyses an hour" in error.message
        # An answer from the store is free: the limit does not apply to it.
        await ann.send(Analyse(game_id=first))
        await ann.expect_skipping(Analysis, LobbyUpdate)


async def test_a_full_pool_is_busy_and_says_so() -> None:
    lanes = PoolSettings(analysis=LaneSettings(workers=1, queue=0, timeout=30.0))
    async with (
        open_server(compute=lanes) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await play_quick_game(ann, bob)
        assert server.compute is not None
        pool = server.compute
        async with trio.open_nursery() as nursery:
            # Someone else's analysis holds the only worker.
            nursery.start_soon(pool.run, "analysis", time.sleep, 3.0)
            await trio.testing.wait_all_tasks_blocked(0.05)
            await ann.send(Analyse(game_id=game_id))
            await refusal(ann, "busy")
            nursery.cancel_scope.cancel()
        # Once it is free, the same request goes through.
        await ann.send(Analyse(game_id=game_id))
        await ann.expect_skipping(Analysis, LobbyUpdate, AnalysisProgress)
