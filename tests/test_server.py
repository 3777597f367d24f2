"""The whole server through real sockets: in-process server on an ephemeral port."""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs
import httpx
import pytest
import trio
from trio.testing import MockClock
from trio_websocket import ConnectionClosed

from c4actors.actors import game as game_module
from c4actors.rules import Board, Termination
from protocol import (
    Accept,
    Cancel,
    Challenge,
    Decline,
    Error,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationCancelled,
    InvitationDeclined,
    InvitationSent,
    Leave,
    LeftLobby,
    LobbyUpdate,
    Move,
    NewConnection,
    OpponentDisconnected,
    OpponentReconnected,
    Quit,
    Seek,
    TimeControl,
    Unseek,
    UserList,
    Welcome,
)
from tests.support import Client, connect, open_server, open_socket, start_game

DRAW_GAME = [4, 3, 6, 0, 1, 4, 5, 5, 1, 1, 5, 0, 1, 6, 0, 1, 5, 5, 1, 0, 4, 6]
DRAW_GAME += [3, 2, 6, 6, 0, 4, 6, 5, 2, 0, 4, 2, 4, 2, 2, 2, 3, 3, 3, 3]


async def play(
    first: Client,
    second: Client,
    game_id: str,
    columns: Sequence[int],
    earlier: Sequence[int] = (),
) -> GameState:
    """Play ``columns`` after the ``earlier`` moves (``first`` is player 1); check that both
    players see every state."""
    players = (first, second)
    board = Board.from_moves(earlier)
    state: GameState | None = None
    for column in columns:
        mover = players[board.turn - 1]
        await mover.send(Move(game_id=game_id, column=column))
        board = board.play(column)
        seen = [await first.expect(GameState), await second.expect(GameState)]
        assert seen[0] == seen[1]
        state = seen[0]
        assert state.board == board.to_rows()
        assert state.moves == list(board.moves)
        expected_next = None if board.is_over else players[board.turn - 1].name
        assert state.next == expected_next
    assert state is not None
    return state


async def expect_error(client: Client, code: str) -> Error:
    error = await client.expect_skipping(Error, LobbyUpdate)
    assert error.code == code, error
    return error


# --------------------------------------------------------------------------- games


async def test_two_users_play_to_a_win_and_return_to_the_lobby() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        # bob was challenged, so bob is player 1 and moves first.
        final = await play(bob, ann, game_id, [0, 1, 0, 1, 0, 1, 0])
        assert final.next is None
        assert final.last_move is not None and (final.last_move.row, final.last_move.column) == (
            2,
            0,
        )
        for client in (ann, bob):
            over = await client.expect(GameOver)
            assert over.result == "win" and over.winner == "bob"
            assert over.reason == "four_in_a_row"
            assert over.line is not None and sorted(over.line) == [(2, 0), (3, 0), (4, 0), (5, 0)]
            snapshot = await client.expect(UserList)
            users = {user.name: user for user in snapshot.users}
            assert users["bob"].state == users["ann"].state == "AVAILABLE"
            assert (users["bob"].wins, users["ann"].losses) == (1, 1)


async def test_two_users_play_to_a_draw() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await play(bob, ann, game_id, DRAW_GAME)
        for client in (ann, bob):
            over = await client.expect(GameOver)
            assert (over.result, over.winner, over.reason, over.line) == (
                "draw",
                None,
                "board_full",
                None,
            )


async def test_illegal_moves_are_refused_and_change_nothing() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await ann.send(Move(game_id=game_id, column=3))
        await expect_error(ann, "not_your_turn")
        await bob.send(Move(game_id=game_id, column=7))
        await expect_error(bob, "invalid_column")
        await bob.send(Move(game_id=game_id, column=-1))
        await expect_error(bob, "invalid_column")
        await bob.send_raw(f'{{"type":"move","game_id":"{game_id}","column":"3"}}')
        error = await expect_error(bob, "invalid_field")
        assert "column" in error.message
        for raw in ["3.5", "true", "null"]:
            await bob.send_raw(f'{{"type":"move","game_id":"{game_id}","column":{raw}}}')
            await expect_error(bob, "invalid_field")
        await bob.send(Move(game_id="not-a-game", column=3))
        await expect_error(bob, "unknown_game")
        await play(bob, ann, game_id, [0, 0, 0, 0, 0, 0])
        await bob.send(Move(game_id=game_id, column=0))
        await expect_error(bob, "column_full")
        state = await play(bob, ann, game_id, [1], earlier=[0] * 6)
        assert state.moves == [0, 0, 0, 0, 0, 0, 1]


async def test_moves_after_the_end_and_in_other_games() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cy") as cy,
        connect(server, "dee") as dee,
    ):
        game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
        other_game = await start_game(cy, dee, skip=(LobbyUpdate,))
        await ann.send(Move(game_id=other_game, column=0))
        await expect_error(ann, "unknown_game")
        await ann.send(Quit(game_id=other_game))
        await expect_error(ann, "unknown_game")
        await play(bob, ann, game_id, [0, 1, 0, 1, 0, 1, 0])
        await ann.expect(GameOver)
        await bob.expect(GameOver)
        await ann.expect(UserList)
        await ann.send(Move(game_id=game_id, column=2))
        await expect_error(ann, "game_over")
        await ann.send(Quit(game_id=game_id))
        await expect_error(ann, "game_over")
        # The other game was untouched by all this.
        state = await play(dee, cy, other_game, [3])
        assert state.moves == [3]


async def test_quit_forfeits() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await ann.send(Quit(game_id=game_id))
        for client in (ann, bob):
            over = await client.expect(GameOver)
            assert (over.result, over.winner, over.reason) == ("win", "bob", "forfeit")


# --------------------------------------------------------------------------- challenges


async def test_decline_and_cancel() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Challenge(opponent="bob"))
        assert await ann.expect_skipping(InvitationSent, LobbyUpdate) == InvitationSent(to="bob")
        assert await bob.expect_skipping(Invitation, LobbyUpdate) == Invitation(from_="ann")
        await bob.send(Decline(challenger="ann"))
        declined = await ann.expect_skipping(InvitationDeclined, LobbyUpdate)
        assert declined.by == "bob"
        # Declined: ann may not invite bob again for a while, but bob may invite ann.
        await ann.send(Challenge(opponent="bob"))
        await expect_error(ann, "declined_recently")
        await bob.send(Challenge(opponent="ann"))
        await bob.expect_skipping(InvitationSent, LobbyUpdate)
        await ann.expect_skipping(Invitation, LobbyUpdate)
        await bob.send(Cancel(opponent="ann"))
        cancelled = await ann.expect_skipping(InvitationCancelled, LobbyUpdate)
        assert cancelled == InvitationCancelled(by="bob", reason="cancelled")
        # Both are available again: a new challenge works.
        await bob.send(Challenge(opponent="ann"))
        await bob.expect_skipping(InvitationSent, LobbyUpdate)


async def test_leaving_cancels_an_invitation_in_both_directions() -> None:
    """The side that stays is told the invitation is off because the other left: never
    ``invitation_declined``, which would say the challenged user answered."""
    async with open_server() as server, connect(server, "ann") as ann:
        for leaver_is_challenged in (True, False):
            async with connect(server, "bob") as bob:
                await ann.send(Challenge(opponent="bob"))
                await ann.expect_skipping(InvitationSent, LobbyUpdate)
                await bob.expect_skipping(Invitation, LobbyUpdate)
                if not leaver_is_challenged:
                    await ann.ws.aclose()
                    notice = await bob.expect_skipping(InvitationCancelled, LobbyUpdate)
                    assert notice == InvitationCancelled(by="ann", reason="left")
            if leaver_is_challenged:
                notice = await ann.expect_skipping(InvitationCancelled, LobbyUpdate)
                assert notice == InvitationCancelled(by="bob", reason="left")


async def test_an_unanswered_invitation_expires_for_both_sides(jump_clock: MockClock) -> None:
    """The default timeout (60 s), passed by a jump of the clock: both sides are told, both
    are available again, and an answer after the expiry finds no invitation."""
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Challenge(opponent="bob"))
        await ann.expect_skipping(InvitationSent, LobbyUpdate)
        await bob.expect_skipping(Invitation, LobbyUpdate)
        # The lobby has the invitation: it expires 60 s from now at the latest.
        jump_clock.jump(60)
        notice = await ann.expect_skipping(InvitationCancelled, LobbyUpdate)
        assert notice == InvitationCancelled(by="bob", reason="expired")
        notice = await bob.expect_skipping(InvitationCancelled, LobbyUpdate)
        assert notice == InvitationCancelled(by="ann", reason="expired")
        await bob.send(Accept(challenger="ann"))
        error = await bob.expect_skipping(Error, LobbyUpdate)
        assert error.code == "no_invitation"
        # Both are available again, and an expiry is no decline: ann may invite at once.
        await ann.send(Challenge(opponent="bob"))
        await ann.expect_skipping(InvitationSent, LobbyUpdate)


async def test_invitations_never_expire_with_a_zero_timeout(jump_clock: MockClock) -> None:
    async with (
        open_server(invitation_timeout=None) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Challenge(opponent="bob"))
        await ann.expect_skipping(InvitationSent, LobbyUpdate)
        await bob.expect_skipping(Invitation, LobbyUpdate)
        jump_clock.jump(3600)
        await bob.send(Accept(challenger="ann"))
        assert (await bob.expect_skipping(GameStarted, LobbyUpdate)).player2 == "ann"


async def test_nobody_can_be_kept_busy_by_a_challenger_who_reinvites_at_once() -> None:
    """The attack: mallory re-invites bob the moment he declines, so bob, always holding an
    invitation, was refused ``not_available`` whenever he challenged anyone (ten tries,
    ten refusals).  Now mallory must wait after a decline, and bob challenging cy while
    holding an invitation declines it."""
    async with (
        open_server() as server,
        connect(server, "mallory") as mallory,
        connect(server, "bob") as bob,
        connect(server, "cy") as cy,
    ):
        for attempt in range(10):
            await mallory.send(Challenge(opponent="bob"))
            if attempt == 0:
                await mallory.expect_skipping(InvitationSent, LobbyUpdate)
                await bob.expect_skipping(Invitation, LobbyUpdate)
                await bob.send(Decline(challenger="mallory"))
                await mallory.expect_skipping(InvitationDeclined, LobbyUpdate)
                continue
            refused = await expect_error(mallory, "declined_recently")
            assert refused.ref == "challenge" and "60 s" in refused.message
            await bob.send(Challenge(opponent="cy"))
            assert await bob.expect_skipping(InvitationSent, LobbyUpdate) == InvitationSent(to="cy")
            await cy.expect_skipping(Invitation, LobbyUpdate)
            await bob.send(Cancel(opponent="cy"))
            await cy.expect_skipping(InvitationCancelled, LobbyUpdate)

        # Holding an invitation (from cy this time) is no reason to be refused either.
        await cy.send(Challenge(opponent="bob"))
        await cy.expect_skipping(InvitationSent, LobbyUpdate)
        await bob.expect_skipping(Invitation, LobbyUpdate)
        await bob.send(Challenge(opponent="mallory"))
        assert await bob.expect_skipping(InvitationSent, LobbyUpdate) == InvitationSent(
            to="mallory"
        )
        assert await cy.expect_skipping(InvitationDeclined, LobbyUpdate) == InvitationDeclined(
            by="bob"
        )
        await mallory.expect_skipping(Invitation, LobbyUpdate)


async def test_a_connection_starts_only_so_many_games_a_minute() -> None:
    """Games started and abandoned at once cost the store a record each: a connection may
    start only ``max_games_per_minute`` of them (30 by default)."""
    async with (
        open_server(max_games_per_minute=3) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        for _ in range(3):
            game_id = await start_game(ann, bob)
            await ann.send(Quit(game_id=game_id))
            for client in (ann, bob):
                await client.expect(GameOver)
                await client.expect_skipping(UserList, LobbyUpdate)
        await ann.send(Challenge(opponent="bob"))
        refused = await expect_error(ann, "too_many_games")
        assert refused.ref == "challenge" and "3 games a minute" in refused.message
        # bob's connection has started as many: bob cannot accept a new challenger either.
        async with connect(server, "cy") as cy:
            await cy.send(Challenge(opponent="bob"))
            await cy.expect_skipping(InvitationSent, LobbyUpdate)
            await bob.expect_skipping(Invitation, LobbyUpdate)
            await bob.send(Accept(challenger="cy"))
            await expect_error(bob, "too_many_games")


async def test_two_seekers_are_paired_into_a_game() -> None:
    """Play anyone: the first seeker waits (their row says SEEKING), the second is paired
    with them at once, and the one who waited moves first."""
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Seek())
        while True:  # the row change is the only answer to a seek that waits
            update = await bob.expect(LobbyUpdate)
            if any(u.name == "ann" and u.state == "SEEKING" for u in update.users):
                break
        await bob.send(Seek())
        started = {c.name: await c.expect_skipping(GameStarted, LobbyUpdate) for c in (ann, bob)}
        assert started["ann"].game_id == started["bob"].game_id
        assert (started["ann"].player1, started["ann"].you, started["bob"].you) == ("ann", 1, 2)
        for client in (ann, bob):
            assert (await client.expect(GameState)).next == "ann"
        await ann.send(Move(game_id=started["ann"].game_id, column=3))
        for client in (ann, bob):
            assert (await client.expect(GameState)).moves == [3]


async def test_a_guest_leaves_and_joins_again_under_another_name_on_the_same_socket() -> None:
    """``leave`` ends the session, not the socket: the invitation is called off as if ann
    had gone, a taken name is refused beside the open socket, and a free one joins."""
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Challenge(opponent="bob"))
        await ann.expect_skipping(InvitationSent, LobbyUpdate)
        await bob.expect_skipping(Invitation, LobbyUpdate)
        # Sent together: frames are handled in order, so the new names find no session.
        await ann.send(Leave())
        await ann.send(NewConnection(username="bob"))
        await ann.send(NewConnection(username="zed"))
        assert await ann.expect_skipping(LeftLobby, LobbyUpdate) == LeftLobby(username="ann")
        taken = await expect_error(ann, "name_taken")
        assert taken.ref == "new_connection"
        welcome = await ann.expect(Welcome)
        assert welcome.username == "zed"
        names = {user.name for user in (await ann.expect(UserList)).users}
        assert names == {"zed", "bob"}
        cancelled = await bob.expect_skipping(InvitationCancelled, LobbyUpdate)
        assert cancelled == InvitationCancelled(by="ann", reason="left")
        # zed plays as anyone does; a player cannot leave mid-game.
        ann.name = "zed"
        game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
        await ann.send(Leave())
        refused = await expect_error(ann, "not_available")
        assert refused.ref == "leave"
        await bob.send(Move(game_id=game_id, column=3))
        for client in (ann, bob):
            assert (await client.expect(GameState)).moves == [3]


async def test_a_socket_that_left_and_stays_silent_is_closed_at_the_handshake_deadline(
    jump_clock: MockClock,
) -> None:
    """After ``leave`` the socket is as new: it must join again within the handshake timeout."""
    async with open_server() as server, connect(server, "ann") as ann:
        await ann.send(Leave())
        await ann.expect_skipping(LeftLobby, LobbyUpdate)
        jump_clock.jump(10)
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
            await ann.ws.get_message()
        assert closed.value.reason.code == 1008
        assert closed.value.reason.reason == "no new_connection received in time"


async def test_seekers_are_paired_by_time_control() -> None:
    """Play anyone at 3+2 waits for another 3+2 seeker: an untimed seeker is not a partner;
    the waiting seeker's row says which clock they wait for, and the game is on it."""
    three_two = TimeControl(base_seconds=180, increment_seconds=2)
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cy") as cy,
    ):
        await ann.send(Seek(time_control=three_two))
        while True:
            update = await cy.expect(LobbyUpdate)
            rows = {u.name: u for u in update.users}
            if "ann" in rows:
                assert rows["ann"].state == "SEEKING" and rows["ann"].time_control == three_two
                break
        await bob.send(Seek())  # untimed: waits too
        while True:
            update = await cy.expect(LobbyUpdate)
            rows = {u.name: u for u in update.users}
            if "bob" in rows:
                assert rows["bob"].state == "SEEKING" and rows["bob"].time_control is None
                break
        await cy.send(Seek(time_control=TimeControl(base_seconds=1)))
        assert (await expect_error(cy, "invalid_time_control")).ref == "seek"
        await cy.send(Seek(time_control=three_two))
        started = {c.name: await c.expect_skipping(GameStarted, LobbyUpdate) for c in (ann, cy)}
        assert started["ann"].game_id == started["cy"].game_id
        assert (started["ann"].player1, started["ann"].player2) == ("ann", "cy")
        assert started["ann"].time_control == started["cy"].time_control == three_two
        for client in (ann, cy):
            state = await client.expect(GameState)
            assert state.clocks is not None
        # bob still waits, untimed.
        await bob.send(Seek())
        assert (await expect_error(bob, "already_seeking")).ref == "seek"


async def test_seek_refusals_and_the_games_cap() -> None:
    """Seeking twice, seeking while playing and leaving a pool one is not in get clear
    codes; a seek counts against the games cap like a challenge."""
    async with (
        open_server(max_games_per_minute=1) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Unseek())
        assert (await expect_error(ann, "not_seeking")).ref == "unseek"
        await ann.send(Seek())
        await ann.send(Seek())
        assert (await expect_error(ann, "already_seeking")).ref == "seek"
        await ann.send(Unseek())
        await ann.send(Seek())
        await bob.send(Seek())
        game_id = (await ann.expect_skipping(GameStarted, LobbyUpdate)).game_id
        await bob.expect_skipping(GameStarted, LobbyUpdate)
        for client in (ann, bob):
            await client.expect(GameState)
        await bob.send(Seek())
        assert (await expect_error(bob, "not_available")).ref == "seek"
        await ann.send(Quit(game_id=game_id))
        for client in (ann, bob):
            await client.expect(GameOver)
            await client.expect_skipping(UserList, LobbyUpdate)
        await ann.send(Seek())
        refused = await expect_error(ann, "too_many_games")
        assert refused.ref == "seek" and "one game a minute" in refused.message


async def test_a_seeker_who_leaves_is_not_paired() -> None:
    async with open_server() as server, connect(server, "bob") as bob:
        async with connect(server, "ann") as ann:
            await ann.send(Seek())
            await ann.send(Challenge(opponent="ann"))  # answered after the seek
            await expect_error(ann, "self_challenge")
        async with connect(server, "cy") as cy:
            await bob.send(Seek())
            await cy.send(Seek())
            started = await cy.expect_skipping(GameStarted, LobbyUpdate)
            assert (started.player1, started.player2) == ("bob", "cy")


async def test_challenge_refusals() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cy") as cy,
    ):
        await ann.send(Challenge(opponent="ANN"))
        await expect_error(ann, "self_challenge")
        await ann.send(Challenge(opponent="nobody"))
        await expect_error(ann, "unknown_user")
        await ann.send(Challenge(opponent="bob"))
        await ann.expect_skipping(InvitationSent, LobbyUpdate)
        await bob.expect_skipping(Invitation, LobbyUpdate)
        await cy.send(Challenge(opponent="bob"))
        await expect_error(cy, "not_available")
        await cy.send(Accept(challenger="ann"))
        await expect_error(cy, "no_invitation")
        await bob.send(Cancel(opponent="ann"))
        await expect_error(bob, "no_invitation")
        await ann.send(Challenge(opponent="cy"))
        await expect_error(ann, "not_available")


async def test_lobby_updates_follow_changes_but_skip_players() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        # With --lobby-tick 0 every change is its own update (ann also hears of her own join).
        assert (await ann.expect(LobbyUpdate)).users[0].name == "ann"
        update = await ann.expect(LobbyUpdate)
        assert [u.name for u in update.users] == ["bob"] and update.left == []
        assert (await bob.expect(LobbyUpdate)).users[0].name == "bob"
        async with connect(server, "watcher") as watcher:
            await ann.expect(LobbyUpdate)
            await bob.expect(LobbyUpdate)
            await watcher.expect(LobbyUpdate)
            await start_game(ann, bob)
            states: dict[str, str] = {}
            while states.get("ann") != "PLAYING" or states.get("bob") != "PLAYING":
                for user in (await watcher.expect(LobbyUpdate)).users:
                    states[user.name] = user.state
            async with connect(server, "late"):
                update = await watcher.expect(LobbyUpdate)
                assert [u.name for u in update.users] == ["late"]
            update = await watcher.expect(LobbyUpdate)
            assert update == LobbyUpdate(users=[], left=["late"], online=3)
            # The players heard nothing of "late": their next message is their game's.
            game_id = (await ann.send(Quit(game_id="x")), None)[1]
            await expect_error(ann, "unknown_game")
            del game_id


async def test_lobby_tick_coalesces_changes(jump_clock: MockClock) -> None:
    """Every change within one tick becomes one ``lobby_update``, sent when the tick ends.

    The tick is long (30 s) and passes by a jump of the clock, so however slow the joins,
    they all fall in one tick: nothing depends on the machine's speed."""
    tick = 30.0
    async with open_server(lobby_tick=tick) as server, connect(server, "watcher") as watcher:
        # The watcher has its user_list: the lobby handled the join and armed the tick.
        jump_clock.jump(tick)
        assert (await watcher.expect(LobbyUpdate)).users[0].name == "watcher"
        async with connect(server, "a1"), connect(server, "a2"):
            pass
        with trio.fail_after(10):
            while (await server.lobby.stats()).users > 1:  # noqa: ASYNC110
                await trio.sleep(0.01)  # until the lobby has handled both departures
        async with connect(server, "b1"):
            jump_clock.jump(tick)
            update = await watcher.expect(LobbyUpdate)
            assert {u.name for u in update.users} == {"b1"}
            assert set(update.left) == {"a1", "a2"}


# --------------------------------------------------------------------------- sessions


async def test_welcome_contract_and_name_rules() -> None:
    async with open_server() as server, connect(server) as ann:
        await ann.send(NewConnection(username="Ann_1"))
        welcome = await ann.expect(Welcome)
        assert welcome.username == "Ann_1" and welcome.protocol == 1
        assert welcome.account is False and len(welcome.resume) >= 16
        users = (await ann.expect(UserList)).users
        assert [(u.name, u.state, u.registered) for u in users] == [("Ann_1", "AVAILABLE", False)]
        await ann.send(NewConnection(username="again"))
        await expect_error(ann, "already_connected")
        async with connect(server) as other:
            await other.send(Challenge(opponent="Ann_1"))
            await expect_error(other, "not_connected")
            await other.send(Move(game_id="g", column=1))
            await expect_error(other, "not_connected")
            await other.send(NewConnection(username="ann_1"))
            await expect_error(other, "name_taken")
            for bad in ["", "x" * 25, "<b>x</b>", "a b"]:
                await other.send(NewConnection(username=bad))
                await expect_error(other, "invalid_name")
            await other.join("x" * 24)


async def test_malformed_frames_get_errors_and_the_connection_survives() -> None:
    async with open_server() as server, connect(server, "ann") as ann:
        cases = {
            "not json": "bad_json",
            "[1, 2]": "bad_message",
            '{"username": "x"}': "unknown_type",
            '{"type": "dance"}': "unknown_type",
            '{"type": "challenge"}': "invalid_field",
            '{"type": "challenge", "opponent": "bob", "extra": 1}': "invalid_field",
            "x" * 4096: "bad_json",
        }
        for frame, code in cases.items():
            await ann.send_raw(frame)
            await expect_error(ann, code)
        await ann.send_raw(b"\x00\x01binary")
        await expect_error(ann, "bad_message")
        await ann.send(Challenge(opponent="ann"))
        await expect_error(ann, "self_challenge")


async def test_frames_over_the_size_limit_close_the_connection() -> None:
    async with open_server() as server, connect(server, "ann") as ann:
        await ann.send_raw("é" * 2049)  # 2049 characters, 4098 bytes
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                assert isinstance(await ann.receive(), LobbyUpdate)
        assert closed.value.reason.code == 1009
        assert closed.value.reason.reason == "message too large: the limit is 4096 bytes"


async def test_disconnect_with_no_grace_forfeits_at_once() -> None:
    async with open_server(grace_seconds=0) as server, connect(server, "ann") as ann:
        async with connect(server, "bob") as bob:
            await start_game(ann, bob)
        with trio.fail_after(2):
            over = await ann.expect(GameOver)
        assert (over.winner, over.reason) == ("ann", "disconnect")
        snapshot = await ann.expect(UserList)
        assert [u.name for u in snapshot.users] == ["ann"]


async def test_disconnect_after_the_grace_period_forfeits(jump_clock: MockClock) -> None:
    """The default grace period (20 s), passed by a jump of the clock."""
    async with open_server(grace_seconds=20) as server, connect(server, "ann") as ann:
        async with connect(server, "bob") as bob:
            game_id = await start_game(ann, bob)
        notice = await ann.expect(OpponentDisconnected)
        assert notice == OpponentDisconnected(game_id=game_id, grace_seconds=20)
        # The notice went out when the game armed its deadline: 20 s from now at the latest.
        jump_clock.jump(20)
        over = await ann.expect(GameOver)
        assert (over.winner, over.reason) == ("ann", "disconnect")


async def test_a_player_who_stops_moving_loses_on_time(jump_clock: MockClock) -> None:
    """Untimed games cannot be stalled: the default --move-timeout (120 s), passed by a jump
    of the clock once both players saw the deadline."""
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(bob, ann)  # ann moves first
        state = await play(ann, bob, game_id, [3, 4])
        assert (state.next, state.seconds_to_move) == ("ann", 120.0)
        jump_clock.jump(119)
        with trio.move_on_after(0.3) as waiting:
            early = await ann.receive()
        assert waiting.cancelled_caught, f"nothing before the deadline, got {early!r}"
        jump_clock.jump(1)
        for player in (ann, bob):
            over = await player.expect(GameOver)
            assert (over.winner, over.reason) == ("bob", "timeout")


async def test_reconnect_within_grace_resumes_the_exact_game() -> None:
    async with open_server(grace_seconds=30) as server, connect(server, "ann") as ann:
        async with connect(server, "bob") as bob:
            game_id = await start_game(ann, bob)
            before = await play(bob, ann, game_id, [3, 3, 4])
            token = bob.token
        await ann.expect(OpponentDisconnected)
        async with connect(server) as bob_again:
            # The name is reserved while bob is away.
            await bob_again.send(NewConnection(username="bob"))
            await expect_error(bob_again, "name_taken")
            await bob_again.send(NewConnection(username="bob", resume=token))
            assert (await bob_again.expect(Welcome)).resume != token
            await bob_again.expect(UserList)
            started = await bob_again.expect(GameStarted)
            assert (started.game_id, started.you, started.player1) == (game_id, 1, "bob")
            resumed = await bob_again.expect(GameState)
            # The same position; the time left to move has only run down since.
            assert attrs.evolve(resumed, seconds_to_move=before.seconds_to_move) == before
            assert resumed.seconds_to_move is not None and before.seconds_to_move is not None
            assert 0 < resumed.seconds_to_move <= before.seconds_to_move
            assert await ann.expect(OpponentReconnected) == OpponentReconnected(game_id=game_id)
            bob_again.name = "bob"
            state = await play(bob_again, ann, game_id, [5], earlier=[3, 3, 4])
            assert state.moves == [3, 3, 4, 5]


async def test_a_move_resent_after_a_reconnect_is_not_played_twice() -> None:
    """The page queues a move while offline and sends it once back: if the first copy was
    played before the drop (and answered since), its ``ply`` makes the copy ``stale_move``."""
    async with open_server(grace_seconds=30) as server, connect(server, "ann") as ann:
        async with connect(server, "bob") as bob:
            game_id = await start_game(ann, bob)
            token = bob.token
            await bob.send(Move(game_id=game_id, column=3, ply=0))
        # bob's socket closed before he read the answer: he cannot know the move was played
        assert (await ann.expect(GameState)).moves == [3]
        await ann.expect(OpponentDisconnected)
        await ann.send(Move(game_id=game_id, column=4, ply=1))
        assert (await ann.expect(GameState)).moves == [3, 4]
        async with connect(server) as bob_again:
            await bob_again.send(NewConnection(username="bob", resume=token))
            await bob_again.expect(Welcome)
            await bob_again.send(Move(game_id=game_id, column=3, ply=0))  # the resent copy
            await bob_again.expect(UserList)
            await bob_again.expect(GameStarted)
            assert (await bob_again.expect(GameState)).moves == [3, 4]
            error = await bob_again.expect(Error)
            assert (error.code, error.ref) == ("stale_move", "move")
            await ann.expect(OpponentReconnected)
            await bob_again.send(Move(game_id=game_id, column=5, ply=2))
            for player in (bob_again, ann):  # nothing was played in between
                assert (await player.expect(GameState)).moves == [3, 4, 5]


async def test_a_move_sent_as_soon_as_a_resumed_welcome_arrives_reaches_the_game() -> None:
    async with open_server(grace_seconds=30) as server, connect(server, "ann") as ann:
        async with connect(server, "bob") as bob:
            game_id = await start_game(ann, bob)
            token = bob.token
        await ann.expect(OpponentDisconnected)
        async with connect(server) as bob_again:
            await bob_again.send(NewConnection(username="bob", resume=token))
            await bob_again.expect(Welcome)
            # Before reading anything else: the game must already route this move.
            await bob_again.send(Move(game_id=game_id, column=6))
            await bob_again.expect(UserList)
            await bob_again.expect(GameStarted)
            await bob_again.expect(GameState)
            state = await bob_again.expect(GameState)
            assert state.moves == [6]


async def test_resume_token_takes_over_a_socket_that_is_still_open() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        async with connect(server) as ann_again:
            await ann_again.send(NewConnection(username="ann", resume=ann.token))
            await ann_again.expect(Welcome)
            await ann_again.expect(UserList)
            assert (await ann_again.expect(GameStarted)).game_id == game_id
            await ann_again.expect(GameState)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ann.ws.get_message()
            assert closed.value.reason.code == 4000
            assert closed.value.reason.reason is not None and closed.value.reason.reason != ""
            ann_again.name = "ann"
            await play(bob, ann_again, game_id, [2])
            # The opponent never saw a disconnect: the takeover was seamless.
            await bob.send(Quit(game_id=game_id))
            assert (await bob.expect(GameOver)).winner == "ann"


async def test_max_message_bytes_is_the_one_limit_and_it_counts_bytes() -> None:
    """``--max-message-bytes`` can raise the limit: no second, fixed cap in the codec; and
    every check counts UTF-8 bytes, so a frame of fewer characters can still be over it."""
    from c4actors.actors.user import ConnectionSettings
    from c4actors.web import WebSettings

    web = WebSettings(connection=ConnectionSettings(max_message_bytes=16384))
    async with (
        open_server(web=web) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        padded = '{"type":"challenge","opponent":"bob"}' + " " * 5000
        assert len(padded) > 5000
        await ann.send_raw(padded)
        assert await ann.expect_skipping(InvitationSent, LobbyUpdate) == InvitationSent(to="bob")
        await bob.expect_skipping(Invitation, LobbyUpdate)
        wide = '{"type":"cancel","opponent":"' + "é" * 8190 + '"}'
        assert len(wide) < 16384 < len(wide.encode())
        await ann.send_raw(wide)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ann.receive()
        assert closed.value.reason.code == 1009
        assert closed.value.reason.reason == "message too large: the limit is 16384 bytes"


async def test_handshake_timeout_closes_silent_sockets(jump_clock: MockClock) -> None:
    """The default handshake timeout (10 s), passed by a jump of the clock."""
    from c4actors.actors.user import ConnectionSettings

    timeout = ConnectionSettings().handshake_timeout
    assert timeout == 10
    async with open_server() as server, open_socket(server.ws_url) as ws:
        client = Client(ws)
        # An answer shows the connection reads, so its handshake deadline is armed; a request
        # other than new_connection does not move it.
        await client.send(Challenge(opponent="x"))
        assert (await client.expect(Error)).code == "not_connected"
        jump_clock.jump(timeout)
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
            await ws.get_message()
        assert closed.value.reason.code == 1008
        assert closed.value.reason.reason == "no new_connection received in time"


# --------------------------------------------------------------------------- scale and faults


async def play_random_game(
    server_url_holder: object, first: Client, second: Client, seed: int
) -> GameOver:
    """Both players play random legal moves; every state and the result are checked."""
    rng = random.Random(seed)
    game_id = await start_game(second, first, skip=(LobbyUpdate,))
    board = Board.empty()
    players = (first, second)
    while not board.is_over:
        column = rng.choice(board.legal_columns())
        await players[board.turn - 1].send(Move(game_id=game_id, column=column))
        board = board.play(column)
        for client in players:
            state = await client.expect(GameState)
            assert state.board == board.to_rows() and state.moves == list(board.moves)
    overs = [await client.expect(GameOver) for client in players]
    assert overs[0] == overs[1]
    outcome = board.outcome
    if outcome.termination is Termination.WIN:
        assert outcome.winner is not None
        assert overs[0].winner == players[outcome.winner - 1].name
        assert overs[0].line is not None and outcome.line is not None
        assert sorted(overs[0].line) == sorted(outcome.line)
    else:
        assert overs[0].result == "draw"
    return overs[0]


async def test_one_hundred_concurrent_games() -> None:
    results: list[GameOver] = []
    async with open_server(lobby_tick=0.05) as server:

        async def one_game(index: int) -> None:
            async with (
                connect(server, f"p{index}a") as first,
                connect(server, f"p{index}b") as second,
            ):
                results.append(await play_random_game(server, first, second, seed=index))

        async with trio.open_nursery() as nursery:
            for index in range(100):
                nursery.start_soon(one_game, index)
        stats = await server.lobby.stats()
        assert stats.games == 0
    assert len(results) == 100
    assert len({over.game_id for over in results}) == 100
    # Unguessable: at least 96 random bits each (16 URL-safe base64 characters), no sequence.
    assert all(len(over.game_id) >= 16 for over in results)
    assert len({over.game_id[:4] for over in results}) > 50


@pytest.mark.expect_error_logs
async def test_an_exception_in_one_game_ends_only_that_game(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = game_module.GameActor._handle
    doomed: set[str] = set()

    def flaky_handle(self: game_module.GameActor, item: game_module.GameInput) -> None:
        if self.game_id in doomed:
            raise RuntimeError("injected fault")
        original(self, item)

    monkeypatch.setattr(game_module.GameActor, "_handle", flaky_handle)
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cy") as cy,
        connect(server, "dee") as dee,
    ):
        broken = await start_game(ann, bob, skip=(LobbyUpdate,))
        healthy = await start_game(cy, dee, skip=(LobbyUpdate,))
        doomed.add(broken)
        await bob.send(Move(game_id=broken, column=0))
        for client in (ann, bob):
            assert (await client.expect(Error)).code == "internal_error"
            over = await client.expect(GameOver)
            assert (over.result, over.winner, over.reason) == ("draw", None, "aborted")
            users = {u.name: u for u in (await client.expect(UserList)).users}
            assert users["ann"].state == "AVAILABLE"
            assert (users["ann"].wins, users["ann"].losses, users["ann"].draws) == (0, 0, 0)
        await play(dee, cy, healthy, [0, 1, 0, 1, 0, 1, 0])
        assert (await cy.expect(GameOver)).winner == "dee"
        # The crashed game's players can start a new game.
        await start_game(ann, bob, skip=(LobbyUpdate,))


# --------------------------------------------------------------------------- HTTP


async def test_http_endpoints() -> None:
    async with (
        open_server() as server,
        connect(server, "ann"),
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>" in page.text and 'charset="utf-8"' in page.text.lower()
        for path, kind in [("/static/app.js", "javascript"), ("/static/style.css", "css")]:
            response = await http.get(path)
            assert response.status_code == 200 and kind in response.headers["content-type"]
            assert response.headers["cache-control"] == "no-cache"
            assert "etag" in response.headers
        assert (await http.get("/static/nope.js")).status_code == 404
        users = (await http.get("/userlist")).json()
        assert users == [
            {
                "name": "ann",
                "state": "AVAILABLE",
                "wins": 0,
                "losses": 0,
                "draws": 0,
                "registered": False,
            }
        ]
        health = (await http.get("/healthz")).json()
        assert health["status"] == "ok" and health["users"] == 1


async def test_shutdown_closes_clients_with_a_reason() -> None:
    async with open_server() as server, connect(server, "ann") as ann:
        closing = trio.Event()

        async def read_until_closed() -> None:
            error = await ann.expect_skipping(Error, LobbyUpdate)
            assert error.code == "server_shutdown"
            with pytest.raises(ConnectionClosed) as closed:
                await ann.ws.get_message()
            assert closed.value.reason.code == 1001
            closing.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_until_closed)
            from c4actors.actors.lobby import Shutdown

            await server.lobby.inbox.send(Shutdown())
        assert closing.is_set()


async def test_a_bounded_lobby_lists_the_first_users_and_counts_everyone() -> None:
    """With a list of one, later users are counted, not listed; they still play by name, and
    the next in line takes the place of a listed user who leaves."""
    async with open_server(lobby_list_limit=1) as server:
        async with connect(server, "bob") as bob, connect(server, "cy") as cy:
            async with connect(server) as ann:
                await ann.send(NewConnection(username="ann"))
                await ann.expect(Welcome)
                snapshot = await ann.expect(UserList)
                # The list (bob), then ann's own row; the count says who else is there.
                assert ([u.name for u in snapshot.users], snapshot.online) == (["bob", "ann"], 3)
                for watcher in (bob, cy):
                    update = await watcher.expect(LobbyUpdate)
                    while update.online != 3:
                        update = await watcher.expect(LobbyUpdate)
                    assert update == LobbyUpdate(users=[], left=[], online=3)
            while (await cy.expect(LobbyUpdate)).online != 2:  # ann left
                pass
            # Unlisted users play by name; each is told their own row, nobody else is.
            async with connect(server, "dee") as dee:
                await cy.send(Challenge(opponent="DEE"))
                assert await cy.expect_skipping(InvitationSent, LobbyUpdate) == InvitationSent(
                    to="dee"
                )
                own = await cy.expect(LobbyUpdate)
                assert (own.users[0].name, own.users[0].state) == ("cy", "INVITATION_SENT")
                invitation = await dee.expect_skipping(Invitation, LobbyUpdate)
                assert invitation == Invitation(from_="cy")
                own = await dee.expect(LobbyUpdate)
                assert (own.users[0].name, own.users[0].state) == ("dee", "INVITATION_RECEIVED")
                await dee.send(Accept(challenger="cy"))
                started = await dee.expect_skipping(GameStarted, LobbyUpdate)
                assert (started.player1, started.player2) == ("dee", "cy")
                await bob.send(Quit(game_id=started.game_id))
                # bob heard only counts meanwhile: his next message answers his request.
                error = await bob.expect_skipping(Error, LobbyUpdate)
                assert error.code in {"unknown_game", "not_in_game"}
        # bob, listed, left; cy and dee are away from their game.  cy, the next in join
        # order, took bob's place.
        with trio.fail_after(10):
            while "bob" in {user.name for user in await server.lobby.snapshot()}:  # noqa: ASYNC110
                await trio.sleep(0.01)
        async with connect(server) as eve:
            await eve.send(NewConnection(username="eve"))
            await eve.expect(Welcome)
            snapshot = await eve.expect(UserList)
            assert [(u.name, u.state) for u in snapshot.users] == [
                ("cy", "PLAYING"),
                ("eve", "AVAILABLE"),
            ]
            assert snapshot.online == 3
            # The HTTP view of the lobby is bounded the same way.
            async with httpx.AsyncClient(base_url=server.http_url) as http:
                listed = (await http.get("/userlist")).json()
            assert [user["name"] for user in listed] == ["cy"]
