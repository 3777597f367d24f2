"""Time controls through real sockets: a timed challenge from invitation to flag, a refused
one, and the record with its time control (``GET /api/games/{id}``)."""

from __future__ import annotations

import httpx
import trio
from trio.testing import MockClock

from c4actors.game_record import GameRecord, GameResult, GameSetup, Player
from protocol import (
    Accept,
    Challenge,
    Clocks,
    Error,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    LobbyUpdate,
    Move,
    TimeControl,
)
from tests.support import connect, open_server

ONE_PLUS_TWO = TimeControl(base_seconds=60, increment_seconds=2)


async def test_a_timed_challenge_is_agreed_to_and_lost_on_time(jump_clock: MockClock) -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Challenge(opponent="bob", time_control=ONE_PLUS_TWO))
        sent = await ann.expect_skipping(InvitationSent, LobbyUpdate)
        invitation = await bob.expect_skipping(Invitation, LobbyUpdate)
        assert sent.time_control == invitation.time_control == ONE_PLUS_TWO
        await bob.send(Accept(challenger="ann"))
        for player in (bob, ann):
            started = await player.expect_skipping(GameStarted, LobbyUpdate)
            assert started.time_control == ONE_PLUS_TWO
            state = await player.expect(GameState)
            assert state.clocks == Clocks(player1=60, player2=60)
            assert state.seconds_to_move == 30  # the first-move limit
        game_id = started.game_id
        for mover, column in ((bob, 3), (ann, 3)):
            await mover.send(Move(game_id=game_id, column=column))
            for player in (bob, ann):
                state = await player.expect(GameState)
        assert state.clocks == Clocks(player1=60, player2=60) and state.next == "bob"
        jump_clock.jump(59)
        with trio.move_on_after(0.3) as waiting:
            early = await bob.receive()
        assert waiting.cancelled_caught, f"nothing before the flag, got {early!r}"
        jump_clock.jump(1)
        for player in (bob, ann):
            over = await player.expect(GameOver)
            assert (over.winner, over.reason) == ("ann", "timeout")


async def test_a_challenge_outside_the_bounds_is_refused() -> None:
    async with open_server() as server, connect(server, "ann") as ann, connect(server, "bob"):
        await ann.send(Challenge(opponent="bob", time_control=TimeControl(base_seconds=2)))
        error = await ann.expect_skipping(Error, LobbyUpdate)
        assert (error.code, error.ref) == ("invalid_time_control", "challenge")
        assert "15" in error.message


async def test_the_page_is_told_the_presets_and_a_stored_game_its_time_control() -> None:
    async with open_server() as server, httpx.AsyncClient(base_url=server.http_url) as http:
        config = (await http.get("/api/config")).json()["time_controls"]
        assert config["presets"][1] == {"base_seconds": 180, "increment_seconds": 2}
        assert config["min_base_seconds"] == 15
        setup = GameSetup(
            game_id="timed",
            player1=Player(name="ann", color="red", registered=True),
            player2=Player(name="bob", color="yellow"),
            time_control=ONE_PLUS_TWO,
        )
        result = GameResult(winner="ann", reason="timeout", moves=(3, 3))
        await server.store.record_game(
            GameRecord(setup=setup, result=result, started_at=1.0, ended_at=2.0)
        )
        game = (await http.get("/api/games/timed")).json()
        assert game["time_control"] == {"base_seconds": 60, "increment_seconds": 2}
        assert game["reason"] == "timeout"
