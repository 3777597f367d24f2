"""Spectators through real sockets: watch and unwatch, every refusal, and a spectator who
sees each move, the players' chat and the end, but can never play."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from protocol import (
    Accept,
    Challenge,
    Chat,
    ChatMessage,
    Error,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    LobbyUpdate,
    Move,
    OpponentDisconnected,
    Quit,
    SpectatorCount,
    Unwatch,
    Unwatched,
    Watch,
    Watching,
)
from tests.support import Client, connect, open_server, start_game


async def expect_refusal(client: Client, code: str, ref: str = "watch") -> None:
    error = await client.expect_skipping(Error, LobbyUpdate)
    assert (error.code, error.ref) == (code, ref), error


async def watch(client: Client, game_id: str) -> Watching:
    await client.send(Watch(game_id=game_id))
    watching = await client.expect_skipping(Watching, LobbyUpdate)
    assert watching.game_id == game_id
    return watching


async def test_a_spectator_sees_the_players_every_move_the_chat_and_the_end() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
    ):
        game_id = await start_game(ann, bob)  # bob accepted: bob is player 1
        await bob.send(Move(game_id=game_id, column=3))
        for client in (ann, bob):
            await client.expect(GameState)
        watching = await watch(cat, game_id)
        assert (watching.player1, watching.player2, watching.spectators) == ("bob", "ann", 1)
        assert watching.colors.player1 != watching.colors.player2
        # The position as it is now, then every move as the players see it.
        now = await cat.expect(GameState)
        assert (now.moves, now.next) == ([3], "ann")
        # The players are told someone watches (the first change: at once).
        for client in (ann, bob):
            assert await client.expect(SpectatorCount) == SpectatorCount(
                game_id=game_id, spectators=1
            )
        moves = [(ann, 0), (bob, 3), (ann, 0), (bob, 3), (ann, 0)]
        for mover, column in moves:
            await mover.send(Move(game_id=game_id, column=column))
            states = [await client.expect(GameState) for client in (ann, bob, cat)]
            assert states[0] == states[1] == states[2]
        await ann.send(Chat(game_id=game_id, text="watch this"))
        for client in (ann, bob, cat):
            assert (await client.expect(ChatMessage)).text == "watch this"
        await bob.send(Move(game_id=game_id, column=3))  # four in column 3
        for client in (ann, bob, cat):
            # A spectator is in the lobby too: the players' return may be told it first.
            assert (await client.expect_skipping(GameState, LobbyUpdate)).next is None
            over = await client.expect_skipping(GameOver, LobbyUpdate)
            assert (over.winner, over.reason) == ("bob", "four_in_a_row")
        # The game is over: watching it again is refused as such.
        await cat.send(Watch(game_id=game_id))
        await expect_refusal(cat, "game_over")


async def test_a_spectator_can_never_move_or_quit() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
    ):
        game_id = await start_game(ann, bob)
        await watch(cat, game_id)
        await cat.expect(GameState)
        await cat.send(Move(game_id=game_id, column=0))
        await expect_refusal(cat, "unknown_game", "move")
        await cat.send(Quit(game_id=game_id))
        await expect_refusal(cat, "unknown_game", "quit")
        await cat.send(Chat(game_id=game_id, text="hi"))
        await expect_refusal(cat, "unknown_game", "chat")
        # The game went on untouched: bob (player 1) is still to move first.
        await bob.send(Move(game_id=game_id, column=2))
        for client in (ann, bob, cat):
            assert (await client.expect_skipping(GameState, SpectatorCount)).moves == [2]


async def test_unknown_games_and_unwatch() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
    ):
        await cat.send(Watch(game_id="no-such-game"))
        await expect_refusal(cat, "unknown_game")
        game_id = await start_game(ann, bob)
        await cat.send(Unwatch(game_id=game_id))
        await expect_refusal(cat, "not_watching", "unwatch")
        await watch(cat, game_id)
        await cat.expect(GameState)
        await cat.send(Unwatch(game_id=game_id))
        assert (await cat.expect_skipping(Unwatched, LobbyUpdate)).game_id == game_id
        await bob.send(Move(game_id=game_id, column=2))
        for client in (ann, bob):
            await client.expect_skipping(GameState, SpectatorCount)
        # No move reaches cat any more: its next frame answers its next request.
        await cat.send(Unwatch(game_id=game_id))
        await expect_refusal(cat, "not_watching", "unwatch")


async def test_the_limits_per_game_and_per_connection() -> None:
    async with (
        open_server(max_spectators=1, max_watching=1) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
        connect(server, "dan") as dan,
        connect(server, "eve") as eve,
        connect(server, "fay") as fay,
    ):
        first = await start_game(ann, bob)
        second = await start_game(eve, fay, skip=(LobbyUpdate,))
        await watch(cat, first)
        await cat.expect(GameState)
        await dan.send(Watch(game_id=first))
        await expect_refusal(dan, "too_many_spectators")
        await cat.send(Watch(game_id=second))
        await expect_refusal(cat, "watching_too_many")
        # Leaving one makes room on both counts.
        await cat.send(Unwatch(game_id=first))
        await cat.expect_skipping(Unwatched, LobbyUpdate)
        assert (await watch(dan, first)).spectators == 1
        await watch(cat, second)


async def test_starting_ones_own_game_ends_watching() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
        connect(server, "dan") as dan,
    ):
        game_id = await start_game(ann, bob)
        await watch(cat, game_id)
        await cat.expect(GameState)
        # A spectator is still in the lobby and can be challenged; its game ends its watching.
        await dan.send(Challenge(opponent="cat"))
        await cat.expect_skipping(Invitation, LobbyUpdate)
        await cat.send(Accept(challenger="dan"))
        # Two actors speak here (the old game and the new one): in either order.
        seen: dict[type, str] = {}
        while len(seen) < 3:
            message = await cat.expect_skipping(Unwatched | GameStarted | GameState, LobbyUpdate)  # type: ignore[arg-type]
            seen[type(message)] = message.game_id
        assert seen[Unwatched] == game_id
        own = seen[GameStarted]
        await bob.send(Move(game_id=game_id, column=2))
        for client in (ann, bob):
            await client.expect_skipping(GameState, SpectatorCount)
        await cat.send(Unwatch(game_id=game_id))
        await expect_refusal(cat, "not_watching", "unwatch")
        assert own != game_id


async def test_a_spectator_that_leaves_frees_its_place() -> None:
    async with (
        open_server(max_spectators=1) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "dan") as dan,
    ):
        game_id = await start_game(ann, bob)
        async with connect(server, "cat") as cat:
            await watch(cat, game_id)
        await bob.send(Move(game_id=game_id, column=2))
        for client in (ann, bob):
            await client.expect_skipping(GameState, SpectatorCount)
        # cat's leaving reaches the lobby in its own time: a bounded wait for it.
        for _ in range(50):
            await dan.send(Watch(game_id=game_id))
            answer = await dan.expect_skipping(Watching | Error, LobbyUpdate)  # type: ignore[arg-type]
            if isinstance(answer, Watching):
                break
            assert answer.code == "too_many_spectators"
            await trio.sleep(0.02)
        assert isinstance(answer, Watching) and answer.spectators == 1
        assert (await dan.expect(GameState)).moves == [2]


async def test_spectators_see_the_end_of_a_game_both_players_left(jump_clock: MockClock) -> None:
    """Both players gone past their grace period: the game is aborted, and although no
    player is there to be told, the spectators are (the bug: they heard nothing)."""
    async with (
        open_server(grace_seconds=20.0) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
    ):
        game_id = await start_game(ann, bob)
        await watch(cat, game_id)
        await cat.expect(GameState)
        await ann.ws.aclose()
        await bob.expect_skipping(OpponentDisconnected, SpectatorCount)
        await bob.ws.aclose()
        # Both disconnects handled by the lobby (only cat's mailbox is left), so both seats
        # are empty in the game's inbox before cat's next watch, answered after them.
        with trio.fail_after(10):
            while (await server.lobby.stats()).mailboxes > 1:  # noqa: ASYNC110
                await trio.sleep(0.01)
        await watch(cat, game_id)
        await cat.expect(GameState)
        jump_clock.jump(21)
        over = await cat.expect_skipping(GameOver, LobbyUpdate)
        assert (over.game_id, over.reason, over.winner) == (game_id, "aborted", None)
        # The game is over for the lobby too: watching it again is refused so.
        with trio.fail_after(10):
            while True:
                await cat.send(Watch(game_id=game_id))
                answer = await cat.expect_skipping(Error | Watching | GameState, LobbyUpdate)  # type: ignore[arg-type]
                if isinstance(answer, Error):
                    assert answer.code == "game_over"
                    break
