"""The user actor over a fake socket and a fake lobby, in Trio time (``autojump_clock``).

The handshake deadline and the join answer are the connection's own business: the reader
applies them, the writer only writes.  A fake lobby (the test itself) reads the actor's
``Join`` and answers when the test says, so the deadline's suspension and restart are exact.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
import trio
import trio.testing

from c4actors.actors.game_inbox import GameInput, PlayMove
from c4actors.actors.lobby import Join, LobbyInput, SessionDenied, SessionGranted
from c4actors.actors.mailbox import JoinedGame
from c4actors.actors.user import ConnectionSettings, UserActor
from c4actors.connection_phase import Phase
from c4actors.lobby_state import Disconnected
from c4actors.metrics import Metrics
from c4actors.store import Account, Store, StoreError

TIMEOUT = 10.0


class FakeSocket:
    """Frames the test pushes in; frames the actor sent; how it was closed."""

    def __init__(self) -> None:
        self.push, self._frames = trio.open_memory_channel[str | bytes | None](16)
        self.sent: list[dict[str, Any]] = []
        self.closed = trio.Event()
        self.close_code: int | None = None
        self.closed_at: float | None = None

    async def receive(self) -> str | bytes | None:
        return await self._frames.receive()

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.close_code, self.closed_at = code, trio.current_time()
        self.closed.set()


class Accounts:
    """A store that knows no account, or fails while ``failing``."""

    def __init__(self) -> None:
        self.failing = False

    async def get_account(self, name: str) -> Account | None:
        if self.failing:
            raise StoreError("the disk is on fire")
        return None


class Harness:
    def __init__(self) -> None:
        self.socket = FakeSocket()
        self.accounts = Accounts()
        self.lobby_send, self.lobby = trio.open_memory_channel[LobbyInput](16)
        self.actor = UserActor(
            1,
            self.socket,
            self.lobby_send,
            cast(Store, self.accounts),
            Metrics(),
            ConnectionSettings(handshake_timeout=TIMEOUT),
            session=None,
        )

    async def hello(self, name: str) -> Join:
        await self.socket.push.send(json.dumps({"type": "new_connection", "username": name}))
        join = await self.lobby.receive()
        assert isinstance(join, Join) and join.event.username == name
        return join


@asynccontextmanager
async def running_actor() -> AsyncIterator[Harness]:
    harness = Harness()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(harness.actor.run)
        yield harness
        nursery.cancel_scope.cancel()


async def test_a_silent_socket_is_closed_when_the_handshake_deadline_passes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    async with running_actor() as harness:
        await harness.socket.closed.wait()
        assert harness.socket.close_code == 1008
        assert harness.socket.closed_at == start + TIMEOUT
        assert harness.actor.connection.phase is Phase.CLOSED


async def test_the_deadline_waits_while_the_lobby_decides_and_restarts_on_a_refusal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_actor() as harness:
        await trio.sleep(TIMEOUT - 1)
        join = await harness.hello("ann")
        assert harness.actor.connection.phase is Phase.JOINING
        await trio.sleep(3 * TIMEOUT)  # a slow lobby does not cost the client its handshake
        assert not harness.socket.closed.is_set()
        refused_at = trio.current_time()
        join.reply.send_nowait(SessionDenied())
        await harness.socket.closed.wait()
        assert harness.socket.closed_at == refused_at + TIMEOUT
        # The lobby refused, so it holds nothing to be told about.
        assert harness.lobby.statistics().current_buffer_used == 0


@pytest.mark.expect_error_logs
async def test_a_failed_account_lookup_keeps_the_deadline_it_had(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    async with running_actor() as harness:
        harness.accounts.failing = True
        await trio.sleep(TIMEOUT / 2)
        await harness.socket.push.send(json.dumps({"type": "new_connection", "username": "ann"}))
        await harness.socket.closed.wait()
        assert harness.socket.closed_at == start + TIMEOUT
        assert [f["code"] for f in harness.socket.sent] == ["store_unavailable"]


async def test_the_reader_applies_the_answer_before_it_reads_another_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_actor() as harness:
        join = await harness.hello("ann")
        # A move sent the moment the client sees welcome is read only after the answer.
        await harness.socket.push.send(json.dumps({"type": "move", "game_id": "g", "column": 3}))
        game, game_inbox = trio.open_memory_channel[GameInput](8)
        join.reply.send_nowait(SessionGranted("ann", JoinedGame("g", game)))
        move = await game_inbox.receive()
        assert isinstance(move, PlayMove) and (move.name, move.column) == ("ann", 3)
        assert harness.actor.connection.phase is Phase.IN_LOBBY
        await trio.sleep(3 * TIMEOUT)
        assert not harness.socket.closed.is_set(), "a session has no handshake deadline"


async def test_a_game_started_later_is_routed_by_the_reader_from_the_mailbox(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_actor() as harness:
        join = await harness.hello("ann")
        join.reply.send_nowait(SessionGranted("ann"))
        game, game_inbox = trio.open_memory_channel[GameInput](8)
        harness.actor.mailbox.route(JoinedGame("g2", game))
        await harness.socket.push.send(json.dumps({"type": "move", "game_id": "g2", "column": 0}))
        move = await game_inbox.receive()
        assert isinstance(move, PlayMove) and move.column == 0
        assert set(harness.actor.games) == {"g2"}


async def test_a_connection_that_ends_while_joining_tells_the_lobby(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Its Join may already be registered: the lobby must hear that it is gone."""
    async with running_actor() as harness:
        await harness.hello("ann")
        harness.actor.mailbox.close(1001, "server shutting down")
        with trio.fail_after(5):
            gone = await harness.lobby.receive()
        assert gone == Disconnected(1)
        await harness.socket.closed.wait()
        assert harness.actor.connection.phase is Phase.CLOSED
