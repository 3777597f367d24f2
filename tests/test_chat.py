"""Chat in a game through real sockets: delivery, every refusal, the window after the end,
and a server started with chat off."""

from __future__ import annotations

import time

from trio.testing import MockClock

from c4actors.chat_rules import BURST, ChatSettings
from protocol import (
    Chat,
    ChatMessage,
    Error,
    GameOver,
    GameState,
    LobbyUpdate,
    Move,
    Quit,
    UserList,
)
from tests.support import Client, connect, open_server, start_game


async def expect_error(client: Client, code: str) -> Error:
    error = await client.expect(Error)
    assert (error.code, error.ref) == (code, "chat"), error
    return error


async def test_a_message_reaches_both_players() -> None:
    async with open_server() as server, connect(server) as ann, connect(server, "bob") as bob:
        assert (await ann.join("ann")).chat is True
        game_id = await start_game(ann, bob)
        before = time.time()
        await bob.send(Chat(game_id=game_id, text="  good luck, ann! <b>é</b> "))
        for client in (ann, bob):
            line = await client.expect(ChatMessage)
            assert (line.game_id, line.from_, line.text) == (
                game_id,
                "bob",
                "good luck, ann! <b>é</b>",
            )
            assert before - 1 <= line.at <= time.time() + 1
        # The game goes on: chat changed nothing of it.
        await bob.send(Move(game_id=game_id, column=3))
        for client in (ann, bob):
            assert (await client.expect(GameState)).moves == [3]


async def test_refusals_are_told_to_the_sender_only() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await ann.send(Chat(game_id=game_id, text="x" * 141))
        await expect_error(ann, "chat_too_long")
        await ann.send(Chat(game_id=game_id, text="   "))
        await expect_error(ann, "chat_invalid")
        await ann.send(Chat(game_id=game_id, text="two\nlines"))
        await expect_error(ann, "chat_invalid")
        await ann.send(Chat(game_id=game_id, text="x" * 140))
        assert (await ann.expect(ChatMessage)).text == "x" * 140
        # bob saw only the accepted message: the refusals were never broadcast.
        assert (await bob.expect(ChatMessage)).text == "x" * 140


async def test_a_flood_is_dropped_and_the_sender_told() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        for text in ("hello", "good luck", "nice move", "oops")[:BURST]:
            await ann.send(Chat(game_id=game_id, text=text))
            assert (await ann.expect(ChatMessage)).text == text
            assert (await bob.expect(ChatMessage)).text == text
        await ann.send(Chat(game_id=game_id, text="one too many"))
        await expect_error(ann, "chat_flood")
        # bob's own voice is not ann's: he may speak; and he may not repeat himself.
        await bob.send(Chat(game_id=game_id, text="calm down"))
        assert (await bob.expect(ChatMessage)).text == "calm down"
        assert (await ann.expect(ChatMessage)).text == "calm down"
        await bob.send(Chat(game_id=game_id, text="Calm down!"))
        await expect_error(bob, "chat_flood")


async def test_only_the_players_may_chat() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cid") as cid,
    ):
        game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
        await cid.send(Chat(game_id=game_id, text="hello players"))
        while True:
            message = await cid.receive()
            if not isinstance(message, LobbyUpdate):
                break
        assert isinstance(message, Error)
        assert (message.code, message.ref) == ("unknown_game", "chat")
        await cid.send(Chat(game_id="no-such-game", text="hi"))
        await cid.expect_skipping(Error, LobbyUpdate)
        # Nothing reached the players: their next frame is the answer to their own chat.
        await ann.send(Chat(game_id=game_id, text="hi bob"))
        assert (await bob.expect(ChatMessage)).from_ == "ann"
        assert (await ann.expect(ChatMessage)).from_ == "ann"


async def test_the_chat_stays_open_after_the_end_then_closes(jump_clock: MockClock) -> None:
    chat = ChatSettings(after_game_seconds=60)
    async with (
        open_server(chat=chat) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Quit(game_id=game_id))
        for client in (ann, bob):
            await client.expect(GameOver)
            await client.expect(UserList)
        await ann.send(Chat(game_id=game_id, text="gg"))
        for client in (ann, bob):
            assert (await client.expect_skipping(ChatMessage, LobbyUpdate)).text == "gg"
        await bob.send(Move(game_id=game_id, column=0))
        error = await bob.expect_skipping(Error, LobbyUpdate)
        assert (error.code, error.ref) == ("game_over", "move")
        jump_clock.jump(61)
        await bob.send(Chat(game_id=game_id, text="wait, rematch?"))
        error = await bob.expect_skipping(Error, LobbyUpdate)
        assert error.code in ("chat_closed", "game_over")
        assert error.ref == "chat"


async def test_no_chat_after_the_end_when_the_window_is_zero() -> None:
    chat = ChatSettings(after_game_seconds=0)
    async with (
        open_server(chat=chat) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Quit(game_id=game_id))
        await ann.expect(GameOver)
        await ann.expect(UserList)
        await ann.send(Chat(game_id=game_id, text="gg"))
        error = await ann.expect_skipping(Error, LobbyUpdate)
        assert (error.code, error.ref) == ("game_over", "chat")


async def test_chat_off() -> None:
    async with (
        open_server(chat=ChatSettings(enabled=False)) as server,
        connect(server) as ann,
        connect(server, "bob") as bob,
    ):
        assert (await ann.join("ann")).chat is False
        game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
        await ann.send(Chat(game_id=game_id, text="hello"))
        await expect_error(ann, "chat_off")


async def test_the_chat_after_the_end_closes_once_both_players_start_another_game() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        old = await start_game(ann, bob)
        await bob.send(Quit(game_id=old))
        for client in (ann, bob):
            await client.expect(GameOver)
            await client.expect(UserList)
        new = await start_game(ann, bob)
        # Each player's next frame moves them on from the old game (their reader takes the
        # new game's route then); the chat of the old game is closed after both have.
        await bob.send(Move(game_id=new, column=3))
        for client in (ann, bob):
            await client.expect(GameState)
        await ann.send(Chat(game_id=old, text="gg"))
        error = await ann.expect(Error)
        assert (error.code, error.ref) in (("chat_closed", "chat"), ("game_over", "chat"))
