"""Test harness: a real server on an ephemeral port and typed trio-websocket clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import httpx
import trio
from trio_websocket import WebSocketConnection

from c4actors.loadtest.connection import open_socket
from c4actors.server import RunningServer, ServerSettings, run_server
from protocol import (
    Accept,
    Challenge,
    ClientMessage,
    GameStarted,
    NewConnection,
    ServerMessage,
    UserList,
    Welcome,
    decode_server,
    encode,
)

M = TypeVar("M")
TIMEOUT = 10.0


@asynccontextmanager
async def open_server(**overrides: Any) -> AsyncIterator[RunningServer]:
    settings = attrs.evolve(ServerSettings(port=0, lobby_tick=0.0), **overrides)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        running: RunningServer = await nursery.start(run_server, settings, stop)
        try:
            yield running
        finally:
            stop.set()


class Client:
    """One player's socket, speaking the typed protocol."""

    def __init__(self, ws: WebSocketConnection, name: str = "") -> None:
        self.ws = ws
        self.name = name
        self.token = ""

    async def send(self, message: ClientMessage) -> None:
        await self.ws.send_message(encode(message))

    async def send_raw(self, text: str | bytes) -> None:
        await self.ws.send_message(text)

    async def receive(self) -> ServerMessage:
        with trio.fail_after(TIMEOUT):
            text = await self.ws.get_message()
        assert isinstance(text, str)
        return decode_server(text)

    async def expect(self, kind: type[M]) -> M:
        message = await self.receive()
        assert isinstance(message, kind), f"{self.name}: expected {kind.__name__}, got {message!r}"
        return message

    async def expect_skipping(self, kind: type[M], *skip: type) -> M:
        """The next ``kind``, skipping any of ``skip`` (e.g. lobby updates) on the way."""
        while True:
            message = await self.receive()
            if isinstance(message, kind):
                return message
            assert isinstance(message, skip), (
                f"{self.name}: expected {kind.__name__}, got {message!r}"
            )

    async def join(self, name: str, resume: str | None = None) -> Welcome:
        self.name = name
        await self.send(NewConnection(username=name, resume=resume))
        welcome = await self.expect(Welcome)
        self.token = welcome.resume
        await self.expect(UserList)
        return welcome


@asynccontextmanager
async def connect(
    server: RunningServer, name: str | None = None, cookie: str | None = None
) -> AsyncIterator[Client]:
    headers = None if cookie is None else [(b"cookie", f"c4session={cookie}".encode())]
    async with open_socket(server.ws_url, headers=headers) as ws:
        client = Client(ws)
        if name is not None:
            await client.join(name)
        yield client


async def start_game(challenger: Client, challenged: Client, skip: tuple[type, ...] = ()) -> str:
    """Challenge, accept, and read both players' ``game_started`` and first ``game_state``."""
    from protocol import GameState, Invitation, InvitationSent, LobbyUpdate

    skip = (LobbyUpdate, *skip)
    await challenger.send(Challenge(opponent=challenged.name))
    await challenger.expect_skipping(InvitationSent, *skip)
    await challenged.expect_skipping(Invitation, *skip)
    await challenged.send(Accept(challenger=challenger.name))
    started = await challenged.expect_skipping(GameStarted, *skip)
    assert started.you == 1
    other = await challenger.expect_skipping(GameStarted, *skip)
    assert other.you == 2 and other.game_id == started.game_id
    await challenged.expect(GameState)
    await challenger.expect(GameState)
    return started.game_id


async def play_opening(player1: Client, player2: Client, game_id: str) -> None:
    """One move each (columns 0 then 1), so the game counts if it ends now: a game left before
    both players moved is not stored and changes no record."""
    from protocol import GameState, Move

    for mover, column in ((player1, 0), (player2, 1)):
        await mover.send(Move(game_id=game_id, column=column))
        for client in (player1, player2):
            await client.expect(GameState)


async def handshake_status(server: RunningServer, headers: dict[str, str] | None = None) -> int:
    """The HTTP status a WebSocket upgrade to ``/ws`` gets (101 when accepted).

    Raw, because trio-websocket's client leaks its socket when a handshake is refused."""
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {server.host}:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    stream = await trio.open_tcp_stream(server.host, server.port)
    async with stream:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await read_status(stream)


async def read_status(stream: trio.abc.ReceiveStream) -> int:
    """The status code of the HTTP response arriving on ``stream`` (its first line only)."""
    response = b""
    with trio.fail_after(TIMEOUT):
        while b"\r\n" not in response:
            chunk = await stream.receive_some(4096)
            if not chunk:
                break
            response += chunk
    return int(response.split(b" ", 2)[1])


async def metric_values(server: RunningServer) -> dict[str, float]:
    """``/metrics`` as ``{name-with-labels: value}`` (comment lines left out)."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        text = (await http.get("/metrics")).text
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
