"""Faults in a cluster of real processes on a real Redis: an edge killed with SIGKILL in
the middle of a game, and Redis itself killed and restarted.

Each test starts its own Redis, core and two edges (``tests/cluster_processes.py``), the
two players on different edges."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import trio

from c4actors.cluster.bus_links import FAREWELL_KEEP, frames_stream
from c4actors.server import RunningServer
from c4actors.server_process import ServerProcess
from protocol import (
    GameOver,
    GameStarted,
    GameState,
    LobbyUpdate,
    Move,
    NewConnection,
    OpponentDisconnected,
    OpponentReconnected,
    UserList,
    Welcome,
)
from tests.cluster_processes import Cluster, running_cluster
from tests.redis_server import RedisServer, command
from tests.support import Client, connect, start_game

WIN = [3, 2, 3, 2, 3, 2, 3]  # the first mover wins in column 3


def address(process: ServerProcess) -> RunningServer:
    return RunningServer(process.info.host, process.info.port, None, None)  # type: ignore[arg-type]


def edge_name(process: ServerProcess) -> str:
    """The name the edge process started under (its log says it)."""
    started = re.search(r"cluster process started role=edge name=(\S+)", process.log())
    assert started is not None
    return started[1]


def expires_in(redis: RedisServer, key: str) -> float:
    """Seconds before Redis removes ``key`` (-1: never, -2: no such key)."""
    reply = command(redis.port, "PTTL", key).split(b"\r\n")[0]
    milliseconds = int(reply.lstrip(b":"))
    return milliseconds / 1000 if milliseconds >= 0 else milliseconds


def errors(cluster: Cluster) -> list[str]:
    return [line for line in cluster.log().splitlines() if " ERROR " in line or "Traceback" in line]


async def moves(first: Client, second: Client, game_id: str, plies: range) -> None:
    """Play ``WIN``'s moves at ``plies`` (``first`` moves first), each seen by both."""
    players = (first, second)
    for ply in plies:
        await players[ply % 2].send(Move(game_id=game_id, column=WIN[ply], ply=ply))
        for player in players:
            state = await player.expect_skipping(GameState, LobbyUpdate)
            assert len(state.moves) == ply + 1


async def test_a_player_on_a_killed_edge_resumes_through_the_other(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with running_cluster(
        redis_server.url, tmp_path / "c4.sqlite3", extra=["--grace", "60"]
    ) as cluster:
        dying, staying = cluster.edges
        async with connect(address(staying), "bob") as bob:
            async with connect(address(dying), "ann") as ann:
                game_id = await start_game(bob, ann, skip=(LobbyUpdate,))  # ann moves first
                await moves(ann, bob, game_id, range(3))
                token = ann.token
                os.kill(dying.pid, signal.SIGKILL)
                dying.wait()
            # The core hears the edge no more: ann's opponent is told.
            with trio.fail_after(15):
                gone = await bob.expect_skipping(OpponentDisconnected, LobbyUpdate)
            assert gone.game_id == game_id
            # The dead edge's stream of batches goes (it held up to 10,000 for ever).
            stream = frames_stream(edge_name(dying))
            assert 0 < expires_in(redis_server, stream) <= FAREWELL_KEEP
            # The page comes back through another edge with its token, at the same position.
            async with connect(address(staying)) as again:
                again.name = "ann"
                await again.send(NewConnection(username="ann", resume=token))
                await again.expect(Welcome)
                await again.expect(UserList)
                assert (await again.expect(GameStarted)).game_id == game_id
                assert (await again.expect(GameState)).moves == WIN[:3]
                await bob.expect_skipping(OpponentReconnected, LobbyUpdate)
                await moves(again, bob, game_id, range(3, len(WIN)))
                over = await again.expect(GameOver)
                assert (over.winner, over.reason) == ("ann", "four_in_a_row")
        assert errors(cluster) == []


async def test_a_game_goes_on_across_a_redis_restart(
    tmp_path: Path, persistent_redis_server: RedisServer
) -> None:
    redis = persistent_redis_server
    with running_cluster(redis.url, tmp_path / "c4.sqlite3") as cluster:
        async with (
            connect(address(cluster.edges[0]), "ann") as ann,
            connect(address(cluster.edges[1]), "bob") as bob,
        ):
            game_id = await start_game(bob, ann, skip=(LobbyUpdate,))
            await moves(ann, bob, game_id, range(2))
            redis.kill()
            # A move while Redis is down waits on its edge, and is played once it is back.
            await ann.send(Move(game_id=game_id, column=WIN[2], ply=2))
            await trio.sleep(2 * 4.0)  # longer than an edge may stay silent
            await trio.to_thread.run_sync(redis.restart)
            for player in (ann, bob):
                with trio.fail_after(15):
                    try:
                        state = await player.expect_skipping(GameState, LobbyUpdate)
                    except BaseException:
                        print(cluster.log())
                        raise
                assert state.moves == WIN[:3]
            await moves(ann, bob, game_id, range(3, len(WIN)))
            over = await ann.expect(GameOver)
            assert (over.winner, over.reason) == ("ann", "four_in_a_row")
        assert errors(cluster) == []
        assert "bus unavailable" in cluster.log()  # the outage was seen, and said in one line
