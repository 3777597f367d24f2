"""Limits and operations on a live server: rate limits, connection caps, metrics, TCP options.

The limits themselves, without a server, are in ``test_limits.py``."""

from __future__ import annotations

import socket

import pytest
from hypercorn.config import Config
from trio.testing import MockClock
from trio_websocket import ConnectionClosed

from c4actors.actors.user import ConnectionSettings
from c4actors.server import open_listening_sockets
from c4actors.web import WebSettings
from protocol import Challenge, Error, GameState, LobbyUpdate, Move
from tests.support import connect, handshake_status, metric_values, open_server, start_game


async def test_flooding_is_rate_limited_then_disconnected(frozen_clock: MockClock) -> None:
    """With the clock still, the bucket never refills: 30 requests on a burst of 5 are 25
    drops, past the 20 that close the connection, however slowly this machine sends them."""
    settings = WebSettings(connection=ConnectionSettings(rate=5, burst=5, abuse_limit=20))
    async with (
        open_server(web=settings) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        for _ in range(30):
            await ann.send(Challenge(opponent="ann"))
        codes: list[str] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = await ann.receive()
                if isinstance(message, Error):
                    codes.append(message.code)
        assert closed.value.reason.code == 1008
        assert "rate limit" in (closed.value.reason.reason or "")
        assert "rate_limited" in codes and "self_challenge" in codes
        # Others are unaffected.
        await bob.send(Move(game_id="nope", column=1))
        assert (await bob.expect_skipping(Error, LobbyUpdate)).code == "unknown_game"


async def test_connection_caps_refuse_the_handshake() -> None:
    async with (
        open_server(web=WebSettings(max_per_address=2)) as server,
        connect(server, "a1"),
        connect(server, "a2"),
    ):
        assert await handshake_status(server) == 429
    async with open_server(web=WebSettings(max_connections=1)) as server, connect(server, "a1"):
        assert await handshake_status(server) == 503


async def test_metrics_endpoint() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Move(game_id=game_id, column=9))
        assert (await bob.expect(Error)).code == "invalid_column"
        await bob.send(Move(game_id=game_id, column=3))
        await ann.expect(GameState)
        await bob.expect(GameState)
        values = await metric_values(server)
        assert values["c4_connections"] == 2
        assert values["c4_users"] == 2 and values["c4_games_active"] == 1
        assert values['c4_errors_total{code="invalid_column"}'] == 1
        assert values["c4_messages_in_total"] >= 6
        assert values["c4_move_seconds_count"] == 2


def test_connections_inherit_keepalive_and_a_user_timeout() -> None:
    """Half-open peers and peers that stopped reading are cut off by TCP itself."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    sockets = open_listening_sockets(config)
    listener = sockets.insecure_sockets[0]
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        interval = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
        probes = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
        assert idle + interval * probes <= 30, "a vanished peer is noticed within ~30 s"
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000
    finally:
        for sock in (accepted, client, listener):
            sock.close()
