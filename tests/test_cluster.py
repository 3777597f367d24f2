"""The protocol across a cluster of real processes (a core and two edges, a real Redis):
the two players of a game on different edges see exactly the frames a single server sends.

Each scenario runs against ``c4actors serve`` alone, then against the cluster; every frame
each client reads is recorded, random values (game ids, resume tokens, wall-clock times)
are named by order of appearance, and the two recordings must be equal."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
import trio
from trio_websocket import WebSocketConnection

from c4actors.loadtest.connection import open_socket
from c4actors.server_process import ServerProcess
from protocol import (
    Accept,
    Challenge,
    Chat,
    ChatMessage,
    ClientMessage,
    FollowGames,
    GameList,
    GameListUpdate,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    LobbyUpdate,
    Move,
    NewConnection,
    Quit,
    ServerMessage,
    SpectatorCount,
    UserList,
    Watch,
    Watching,
    Welcome,
    decode_server,
    encode,
)
from tests.cluster_processes import Cluster, running_cluster
from tests.redis_server import RedisServer

M = TypeVar("M")
TIMEOUT = 10.0
WIN = [3, 2, 3, 2, 3, 2, 3]  # the first player wins with four in column 3


class Recorder:
    """One client's socket: every frame it reads is kept, in order."""

    def __init__(self, ws: WebSocketConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.frames: list[str] = []

    async def send(self, message: ClientMessage) -> None:
        await self.ws.send_message(encode(message))

    async def receive(self) -> ServerMessage:
        with trio.fail_after(TIMEOUT):
            text = await self.ws.get_message()
        assert isinstance(text, str)
        self.frames.append(text)
        return decode_server(text)

    async def until(self, kind: type[M]) -> M:
        """Read up to the next ``kind`` (lobby updates on the way are recorded too)."""
        while True:
            message = await self.receive()
            if isinstance(message, kind):
                return message


Connect = Callable[[int, str], Awaitable[Recorder]]
Scenario = Callable[[Connect], Awaitable[None]]


def _normalised(frames: list[str]) -> list[Any]:
    """The frames with their random values named in order of appearance: game ids (wherever
    they are), resume tokens; times (chat, time left to move) blanked."""
    names: dict[str, str] = {}

    def name(kind: str, value: str) -> str:
        return names.setdefault(value, f"<{kind}{len(names)}>")

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(item) for item in value]
        if not isinstance(value, dict):
            return value
        result = {key: walk(item) for key, item in value.items()}
        if "game_id" in result:
            result["game_id"] = name("game", result["game_id"])
        if result.get("type") == "game_list_update":
            result["ended"] = [name("game", game) for game in value["ended"]]
        if result.get("type") == "welcome":
            result["resume"] = name("token", result["resume"])
        if result.get("type") == "chat_message":
            result["at"] = "<time>"
        if result.get("seconds_to_move") is not None:
            # Time left, counted down from the turn's start to this frame: it depends on how
            # long the frame took, so only its presence is compared.
            result["seconds_to_move"] = "<seconds>"
        return result

    return [walk(json.loads(frame)) for frame in frames]


def _kind(frame: Any) -> str:
    return f"{frame.get('type')}"


async def record(urls: tuple[str, str], scenario: Scenario, prefix: str) -> dict[str, list[Any]]:
    """Run ``scenario``; its ``connect(edge, name)`` joins ``prefix + name`` through
    ``urls[edge]``."""
    recorders: list[Recorder] = []
    async with trio.open_nursery() as nursery:
        sockets: list[trio.Event] = []

        async def connect(edge: int, name: str) -> Recorder:
            opened: trio.MemorySendChannel[Recorder]
            opened, receive = trio.open_memory_channel[Recorder](1)
            done = trio.Event()
            sockets.append(done)

            async def hold() -> None:
                async with open_socket(urls[edge]) as ws:
                    recorder = Recorder(ws, prefix + name)
                    recorders.append(recorder)
                    await opened.send(recorder)
                    await done.wait()

            nursery.start_soon(hold)
            recorder = await receive.receive()
            await recorder.send(NewConnection(username=recorder.name))
            await recorder.until(Welcome)
            await recorder.until(UserList)
            return recorder

        await scenario(connect)
        for done in sockets:
            done.set()
    return {recorder.name: _normalised(recorder.frames) for recorder in recorders}


@attrs.frozen
class Targets:
    single: tuple[str, str]
    """``c4actors serve`` alone: both players connect to it."""
    cluster: Cluster


@pytest.fixture(scope="module")
def targets(redis_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    """One server and one cluster (a Redis, a core, two edges) for the module's scenarios,
    started side by side; each scenario uses names of its own."""
    redis = RedisServer.start(redis_binary)
    db = tmp_path_factory.mktemp("single") / "c4.sqlite3"
    args = ["--port", "0", "--db", str(db), "--lobby-tick", "0", "--secret", "x"]
    single = ServerProcess(args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with running_cluster(redis.url, tmp_path_factory.mktemp("cluster") / "c4.sqlite3") as up:
            single.wait_ready()
            yield Targets((single.ws_url, single.ws_url), up)
    finally:
        single.kill()
        redis.stop()


_prefixes = itertools.count()


async def check(targets: Targets, scenario: Scenario) -> None:
    """The frames of ``scenario`` from the cluster (players on the edges it says) equal
    those from the single server."""
    prefix = f"u{next(_prefixes)}"
    cluster = targets.cluster
    alone = await record(targets.single, scenario, prefix)
    spread = await record((cluster.edges[0].ws_url, cluster.edges[1].ws_url), scenario, prefix)
    for name in alone:
        assert [_kind(frame) for frame in spread[name]] == [_kind(frame) for frame in alone[name]]
        assert spread[name] == alone[name], name
    assert spread.keys() == alone.keys()
    assert "Traceback" not in cluster.log(), cluster.log()


async def play_to_a_win(first: Recorder, second: Recorder, game_id: str) -> GameOver:
    players = (first, second)
    for ply, column in enumerate(WIN):
        await players[ply % 2].send(Move(game_id=game_id, column=column))
        for player in players:
            await player.until(GameState)
    over = await first.until(GameOver)
    assert over == await second.until(GameOver)
    return over


async def start(challenger: Recorder, challenged: Recorder) -> str:
    await challenger.send(Challenge(opponent=challenged.name))
    await challenger.until(InvitationSent)
    await challenged.until(Invitation)
    await challenged.send(Accept(challenger=challenger.name))
    started = await challenged.until(GameStarted)
    await challenger.until(GameStarted)
    for player in (challenged, challenger):
        await player.until(GameState)
    return started.game_id


async def test_a_game_across_two_edges_sends_the_frames_of_one_server(
    targets: Targets,
) -> None:
    async def scenario(connect: Connect) -> None:
        ann = await connect(0, "ann")
        bob = await connect(1, "bob")
        await ann.until(LobbyUpdate)  # bob joined
        game_id = await start(ann, bob)  # bob accepted: he moves first
        await ann.send(Chat(game_id=game_id, text="good luck"))
        for player in (ann, bob):
            assert (await player.until(ChatMessage)).text == "good luck"
        over = await play_to_a_win(bob, ann, game_id)
        assert over.winner == bob.name
        for player in (ann, bob):
            await player.until(UserList)  # back in the lobby

    await check(targets, scenario)


async def test_quit_and_a_third_user_watching_the_lobby(
    targets: Targets,
) -> None:
    async def scenario(connect: Connect) -> None:
        ann = await connect(0, "ann")
        bob = await connect(1, "bob")
        await ann.until(LobbyUpdate)
        cat = await connect(1, "cat")
        for player in (ann, bob):
            await player.until(LobbyUpdate)  # cat joined
        game_id = await start(bob, ann)
        await cat.until(LobbyUpdate)  # ann and bob are playing
        await ann.send(Move(game_id=game_id, column=0))
        for player in (ann, bob):
            await player.until(GameState)
        await bob.send(Quit(game_id=game_id))
        over = await ann.until(GameOver)
        assert (over.winner, over.reason) == (ann.name, "forfeit")
        assert over == await bob.until(GameOver)
        for player in (ann, bob):
            await player.until(UserList)
        await cat.until(LobbyUpdate)  # back in the lobby

    await check(targets, scenario)


async def test_a_spectator_and_a_follower_of_the_games_list_on_other_edges(
    targets: Targets,
) -> None:
    async def scenario(connect: Connect) -> None:
        ann = await connect(0, "ann")
        bob = await connect(1, "bob")
        await ann.until(LobbyUpdate)
        cat = await connect(0, "cat")  # follows the games list
        for client in (ann, bob):
            await client.until(LobbyUpdate)
        dan = await connect(1, "dan")  # watches the game
        for client in (ann, bob, cat):
            await client.until(LobbyUpdate)
        await cat.send(FollowGames())
        assert (await cat.until(GameList)).total == 0
        game_id = await start(ann, bob)  # bob moves first
        assert (await cat.until(GameListUpdate)).total == 1
        await dan.send(Watch(game_id=game_id))
        assert (await dan.until(Watching)).spectators == 1
        await dan.until(GameState)
        for player in (ann, bob):
            assert (await player.until(SpectatorCount)).spectators == 1
        assert (await cat.until(GameListUpdate)).games[0].spectators == 1
        await bob.send(Move(game_id=game_id, column=3, ply=0))
        for client in (ann, bob, dan):
            assert (await client.until(GameState)).moves == [3]
        assert (await cat.until(GameListUpdate)).games[0].moves == 1
        await bob.send(Quit(game_id=game_id))
        for client in (ann, bob, dan):
            assert (await client.until(GameOver)).reason == "forfeit"
        assert (await cat.until(GameListUpdate)).total == 0

    await check(targets, scenario)
