"""The lobby's list of games in progress through real sockets: opt-in, live, bounded.

The test server runs with ``lobby_tick=0``: every change goes out at once, so each step's
``game_list_update`` can be awaited in order.
"""

from __future__ import annotations

from protocol import (
    Error,
    FollowGames,
    GameList,
    GameListUpdate,
    GameOver,
    GameState,
    LobbyUpdate,
    Move,
    Quit,
    SpectatorCount,
    UnfollowGames,
    Unwatch,
    UserList,
    Watch,
    Watching,
)
from tests.support import Client, connect, open_server, start_game


async def follow(client: Client) -> GameList:
    await client.send(FollowGames())
    return await client.expect_skipping(GameList, LobbyUpdate)


async def next_update(client: Client) -> GameListUpdate:
    return await client.expect_skipping(GameListUpdate, LobbyUpdate)


async def test_a_client_that_never_asks_gets_nothing_of_the_list() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Move(game_id=game_id, column=3))
        for client in (ann, bob):
            await client.expect(GameState)
        # cat's next frame after the lobby's own news answers its request: no list came.
        await cat.send(Unwatch(game_id=game_id))
        error = await cat.expect_skipping(Error, LobbyUpdate)
        assert error.code == "not_watching"


async def test_the_list_shows_each_game_its_moves_and_spectators_live() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
        connect(server, "dan") as dan,
    ):
        assert await follow(cat) == GameList(games=[], total=0)
        game_id = await start_game(ann, bob)  # bob accepted: bob is player 1
        update = await next_update(cat)
        [row] = update.games
        assert (row.game_id, row.player1, row.player2) == (game_id, "bob", "ann")
        assert (row.moves, row.spectators, update.ended, update.total) == (0, 0, [], 1)
        assert row.colors.player1 != row.colors.player2
        await bob.send(Move(game_id=game_id, column=3))
        assert (await next_update(cat)).games[0].moves == 1
        await dan.send(Watch(game_id=game_id))
        await dan.expect_skipping(Watching, LobbyUpdate)
        await dan.expect(GameState)
        assert (await next_update(cat)).games[0].spectators == 1
        # A newcomer to the list gets the game as it is now.
        snapshot = await follow(dan)
        assert snapshot.total == 1
        assert (snapshot.games[0].moves, snapshot.games[0].spectators) == (1, 1)
        await dan.send(Unwatch(game_id=game_id))
        assert (await next_update(cat)).games[0].spectators == 0
        await ann.send(Quit(game_id=game_id))
        assert await next_update(cat) == GameListUpdate(games=[], ended=[game_id], total=0)


async def test_the_list_is_bounded_and_a_freed_place_goes_to_the_oldest_unlisted_game() -> None:
    async with (
        open_server(lobby_list_limit=1) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
        connect(server, "dan") as dan,
        connect(server, "eve") as eve,
    ):
        await follow(eve)
        first = await start_game(ann, bob)
        assert (await next_update(eve)).total == 1
        second = await start_game(cat, dan, skip=(GameListUpdate,))
        # Counted, not listed: a count-only update.
        assert await next_update(eve) == GameListUpdate(games=[], ended=[], total=2)
        snapshot = await follow(eve)
        assert [g.game_id for g in snapshot.games] == [first] and snapshot.total == 2
        await dan.send(Move(game_id=second, column=0))  # an unlisted game's move: no news
        await ann.send(Quit(game_id=first))
        update = await next_update(eve)
        assert update.ended == [first] and update.total == 1
        assert [(g.game_id, g.moves) for g in update.games] == [(second, 1)]


async def test_a_player_hears_nothing_of_the_list_during_its_game_and_a_snapshot_after() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
        connect(server, "dan") as dan,
    ):
        await follow(ann)
        game_id = await start_game(ann, bob, skip=(GameListUpdate,))
        # Another game starts and moves while ann plays: nothing reaches her.
        other = await start_game(cat, dan)
        await dan.send(Move(game_id=other, column=0))
        await bob.send(Move(game_id=game_id, column=3))
        assert (await ann.expect_skipping(GameState, SpectatorCount)).moves == [3]
        await ann.send(Quit(game_id=game_id))
        assert (await ann.expect(GameOver)).winner == "bob"
        await ann.expect(UserList)
        snapshot = await ann.expect(GameList)
        assert [(g.game_id, g.moves) for g in snapshot.games] == [(other, 1)]
        # bob never asked: his user_list comes alone.
        await bob.expect_skipping(GameOver, GameState)
        await bob.expect(UserList)
        await bob.send(Unwatch(game_id=other))
        assert (await bob.expect_skipping(Error, LobbyUpdate)).code == "not_watching"


async def test_unfollowing_stops_the_updates() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
    ):
        await follow(cat)
        await cat.send(UnfollowGames())
        await cat.send(UnfollowGames())  # harmless again
        game_id = await start_game(ann, bob)
        await cat.send(Unwatch(game_id=game_id))
        assert (await cat.expect_skipping(Error, LobbyUpdate)).code == "not_watching"
