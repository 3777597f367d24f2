"""Rematches through real sockets: every path (accept, decline, expiry, crossing offers,
spectators following) and every refusal (the opponent left, spam, the declined cooldown)."""

from __future__ import annotations

from trio.testing import MockClock

from protocol import (
    Accept,
    AnswerRematch,
    Challenge,
    Error,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    LeaveResult,
    LobbyUpdate,
    Move,
    Quit,
    Rematch,
    RematchCancelled,
    RematchDeclined,
    RematchOffered,
    SpectatorCount,
    TimeControl,
    Unwatch,
    Unwatched,
    UserList,
    Watch,
    Watching,
)
from tests.support import Client, connect, open_server, start_game

SKIP = (LobbyUpdate, UserList, SpectatorCount)


async def expect_error(client: Client, code: str, ref: str) -> None:
    error = await client.expect_skipping(Error, *SKIP)
    assert (error.code, error.ref) == (code, ref), error


async def finish(quitter: Client, other: Client, game_id: str) -> None:
    """``quitter`` forfeits; both read ``game_over`` and the lobby's snapshot after it (the
    lobby has the result screens once it sent that)."""
    await quitter.send(Quit(game_id=game_id))
    for client in (quitter, other):
        over = await client.expect_skipping(GameOver, SpectatorCount)
        assert over.game_id == game_id
        await client.expect_skipping(UserList, SpectatorCount)


async def offer(offerer: Client, other: Client, game_id: str, expires_in: float = 30.0) -> None:
    await offerer.send(Rematch(game_id=game_id))
    expected = RematchOffered(game_id=game_id, by=offerer.name, expires_in=expires_in)
    for client in (offerer, other):
        assert await client.expect_skipping(RematchOffered, *SKIP) == expected


async def rematch_started(client: Client, rematch_of: str) -> GameStarted:
    started = await client.expect_skipping(GameStarted, *SKIP)
    assert started.rematch_of == rematch_of
    await client.expect_skipping(GameState, SpectatorCount)
    return started


async def test_an_accepted_rematch_starts_at_once_seats_swapped_on_the_same_clock() -> None:
    three_two = TimeControl(base_seconds=180, increment_seconds=2)
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await ann.send(Challenge(opponent="bob", time_control=three_two))
        await ann.expect_skipping(InvitationSent, LobbyUpdate)
        await bob.expect_skipping(Invitation, LobbyUpdate)
        await bob.send(Accept(challenger="ann"))
        first = await bob.expect_skipping(GameStarted, LobbyUpdate)
        assert (first.player1, first.you, first.rematch_of) == ("bob", 1, None)
        await ann.expect_skipping(GameStarted, LobbyUpdate)
        for client in (ann, bob):
            await client.expect(GameState)
        await finish(ann, bob, first.game_id)
        await offer(ann, bob, first.game_id)
        await bob.send(AnswerRematch(game_id=first.game_id, accept=True))
        for_bob = await rematch_started(bob, first.game_id)
        for_ann = await rematch_started(ann, first.game_id)
        assert for_ann.game_id == for_bob.game_id != first.game_id
        # The seats swap: ann, who moved second, moves first now; the clock stays.
        assert (for_ann.player1, for_ann.player2, for_ann.you, for_bob.you) == ("ann", "bob", 1, 2)
        assert for_ann.time_control == for_bob.time_control == three_two
        await ann.send(Move(game_id=for_ann.game_id, column=3))
        for client in (ann, bob):
            assert (await client.expect(GameState)).moves == [3]


async def test_a_declined_offer_tells_both_and_the_offerer_waits_a_minute(
    jump_clock: MockClock,
) -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await finish(bob, ann, game_id)
        await offer(ann, bob, game_id)
        await bob.send(AnswerRematch(game_id=game_id, accept=False))
        for client in (ann, bob):
            declined = await client.expect_skipping(RematchDeclined, *SKIP)
            assert declined == RematchDeclined(game_id=game_id, by="bob")
        await ann.send(Rematch(game_id=game_id))
        await expect_error(ann, "declined_recently", "rematch")
        # The one who declined may still offer; ann declines in turn.
        await offer(bob, ann, game_id)
        await ann.send(AnswerRematch(game_id=game_id, accept=False))
        for client in (ann, bob):
            await client.expect_skipping(RematchDeclined, *SKIP)
        jump_clock.jump(60)
        await offer(ann, bob, game_id)


async def test_an_unanswered_offer_expires_for_both(jump_clock: MockClock) -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await finish(ann, bob, game_id)
        await offer(ann, bob, game_id)
        # The lobby holds the offer: it expires 30 s from now at the latest.
        jump_clock.jump(30)
        for client, other in ((ann, "bob"), (bob, "ann")):
            notice = await client.expect_skipping(RematchCancelled, *SKIP)
            assert notice == RematchCancelled(game_id=game_id, by=other, reason="expired")
        await bob.send(AnswerRematch(game_id=game_id, accept=True))
        await expect_error(bob, "no_rematch_offer", "answer_rematch")


async def test_the_timeout_is_an_option(jump_clock: MockClock) -> None:
    async with (
        open_server(rematch_timeout=None) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await finish(ann, bob, game_id)
        await offer(ann, bob, game_id, expires_in=None)  # type: ignore[arg-type]
        jump_clock.jump(3600)
        await bob.send(AnswerRematch(game_id=game_id, accept=True))
        await rematch_started(bob, game_id)


async def test_a_rematch_after_the_opponent_left_is_refused_with_a_clear_code() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cy") as cy,
    ):
        game_id = await start_game(ann, bob)
        await finish(ann, bob, game_id)
        await offer(ann, bob, game_id)
        # bob goes back to the lobby: ann's offer is off, and she is told why.
        await bob.send(LeaveResult(game_id=game_id))
        notice = await ann.expect_skipping(RematchCancelled, *SKIP)
        assert notice == RematchCancelled(game_id=game_id, by="bob", reason="left")
        await ann.send(Rematch(game_id=game_id))
        await expect_error(ann, "opponent_left", "rematch")
        await bob.send(Rematch(game_id=game_id))
        await expect_error(bob, "unknown_game", "rematch")
        # A stranger has no result screen there.
        await cy.send(Rematch(game_id=game_id))
        await expect_error(cy, "unknown_game", "rematch")


async def test_an_offer_ends_when_the_opponent_disconnects_or_challenges_someone_else() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "cy") as cy,
    ):
        for leave in ("challenge", "disconnect"):
            async with connect(server, "bob") as bob:
                game_id = await start_game(ann, bob)
                await finish(ann, bob, game_id)
                await offer(ann, bob, game_id)
                if leave == "challenge":
                    await bob.send(Challenge(opponent="cy"))
                    await cy.expect_skipping(Invitation, LobbyUpdate)
            notice = await ann.expect_skipping(RematchCancelled, *SKIP)
            assert notice == RematchCancelled(game_id=game_id, by="bob", reason="left")
            await ann.send(Rematch(game_id=game_id))
            await expect_error(ann, "opponent_left", "rematch")


async def test_both_accepting_at_once_start_one_game() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await finish(ann, bob, game_id)
        # Both press "Rematch" before either hears of the other's offer.
        await ann.send(Rematch(game_id=game_id))
        await bob.send(Rematch(game_id=game_id))
        started = []
        for client in (ann, bob):
            offered = await client.expect_skipping(RematchOffered, *SKIP)
            started.append(await rematch_started(client, game_id))
            assert offered.by in ("ann", "bob")
        assert started[0].game_id == started[1].game_id
        assert {started[0].you, started[1].you} == {1, 2}
        stats = await server.lobby.stats()
        assert (stats.games, stats.game_tasks) == (1, 1)
        # A late second press finds the players in their rematch.
        await ann.send(Rematch(game_id=game_id))
        await expect_error(ann, "not_available", "rematch")
        await bob.send(AnswerRematch(game_id=game_id, accept=True))
        await expect_error(bob, "no_rematch_offer", "answer_rematch")
        assert (await server.lobby.stats()).games == 1


async def test_offers_are_rate_limited(jump_clock: MockClock) -> None:
    async with (
        open_server(rematch_timeout=5.0) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await finish(ann, bob, game_id)
        for _ in range(2):
            await offer(ann, bob, game_id, expires_in=5.0)
            jump_clock.jump(5)
            for client in (ann, bob):
                await client.expect_skipping(RematchCancelled, *SKIP)
        await ann.send(Rematch(game_id=game_id))
        error = await ann.expect_skipping(Error, *SKIP)
        assert (error.code, error.ref) == ("rematch_offer_limit", "rematch")
        assert "wait 50 s" in error.message
        # Spam while an offer is pending is refused too.
        await offer(bob, ann, game_id, expires_in=5.0)
        await bob.send(Rematch(game_id=game_id))
        await expect_error(bob, "already_offered", "rematch")
        # A minute after her first offer, ann may offer again.
        jump_clock.jump(50)
        for client in (ann, bob):
            await client.expect_skipping(RematchCancelled, *SKIP)
        await offer(ann, bob, game_id, expires_in=5.0)


async def test_no_rematch_during_a_game_and_no_answer_without_an_offer() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await ann.send(Rematch(game_id=game_id))
        await expect_error(ann, "not_available", "rematch")
        await finish(ann, bob, game_id)
        await bob.send(AnswerRematch(game_id=game_id, accept=True))
        await expect_error(bob, "no_rematch_offer", "answer_rematch")
        await offer(bob, ann, game_id)
        # bob cannot answer his own offer.
        await bob.send(AnswerRematch(game_id=game_id, accept=True))
        await expect_error(bob, "no_rematch_offer", "answer_rematch")


async def test_spectators_follow_the_players_into_the_rematch() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat") as cat,
        connect(server, "dan") as dan,
    ):
        game_id = await start_game(ann, bob)
        for spectator in (cat, dan):
            await spectator.send(Watch(game_id=game_id))
            await spectator.expect_skipping(Watching, LobbyUpdate)
            await spectator.expect(GameState)
        # dan stops watching before the end: he does not follow.
        await dan.send(Unwatch(game_id=game_id))
        await dan.expect_skipping(Unwatched, LobbyUpdate)
        await finish(ann, bob, game_id)
        assert (await cat.expect_skipping(GameOver, LobbyUpdate)).game_id == game_id
        await offer(bob, ann, game_id)
        await ann.send(AnswerRematch(game_id=game_id, accept=True))
        started = await rematch_started(ann, game_id)
        await rematch_started(bob, game_id)
        # cat is a spectator of the rematch without asking, and told why.
        watching = await cat.expect_skipping(Watching, LobbyUpdate)
        assert (watching.game_id, watching.rematch_of) == (started.game_id, game_id)
        assert (watching.player1, watching.player2) == ("ann", "bob")
        assert (await cat.expect(GameState)).game_id == started.game_id
        await ann.send(Move(game_id=started.game_id, column=2))
        for client in (ann, bob, cat):
            assert (await client.expect_skipping(GameState, SpectatorCount)).moves == [2]
        # dan's next frame is the answer to his own request, not a ``watching``.
        await dan.send(Rematch(game_id=game_id))
        error = await dan.expect_skipping(Error, LobbyUpdate)
        assert error.code == "unknown_game"
