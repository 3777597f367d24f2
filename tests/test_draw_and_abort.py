"""Draw offers and aborts through real sockets: every path and every refusal."""

from __future__ import annotations

from protocol import (
    Abort,
    AnswerDraw,
    DrawDeclined,
    DrawOffered,
    Error,
    GameOver,
    GameState,
    LobbyUpdate,
    Move,
    OfferDraw,
    UserList,
)
from tests.support import Client, connect, open_server, play_opening, start_game


async def expect_error(client: Client, code: str, ref: str) -> None:
    error = await client.expect(Error)
    assert (error.code, error.ref) == (code, ref), error


async def move(mover: Client, other: Client, game_id: str, column: int) -> None:
    await mover.send(Move(game_id=game_id, column=column))
    for client in (mover, other):
        await client.expect(GameState)


async def test_a_draw_by_agreement_counts_as_a_draw() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)  # bob is player 1
        await play_opening(bob, ann, game_id)
        await ann.send(OfferDraw(game_id=game_id))
        for client in (ann, bob):
            assert await client.expect(DrawOffered) == DrawOffered(game_id=game_id, by="ann")
        await bob.send(AnswerDraw(game_id=game_id, accept=True))
        for client in (ann, bob):
            over = await client.expect(GameOver)
            assert (over.result, over.winner, over.reason) == ("draw", None, "agreement")
        snapshot = await ann.expect(UserList)
        rows = {row.name: row for row in snapshot.users}
        assert (rows["ann"].draws, rows["bob"].draws) == (1, 1)


async def test_decline_lapse_and_offer_limits() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await play_opening(bob, ann, game_id)  # 2 plies: bob's turn
        # No offer yet: nothing to answer.
        await bob.send(AnswerDraw(game_id=game_id, accept=True))
        await expect_error(bob, "no_draw_offer", "answer_draw")
        await ann.send(OfferDraw(game_id=game_id))
        for client in (ann, bob):
            await client.expect(DrawOffered)
        # Spam: a second offer while the first is pending, or right after, is refused.
        await ann.send(OfferDraw(game_id=game_id))
        await expect_error(ann, "draw_offer_limit", "offer_draw")
        # ann cannot answer her own offer.
        await ann.send(AnswerDraw(game_id=game_id, accept=True))
        await expect_error(ann, "no_draw_offer", "answer_draw")
        await bob.send(AnswerDraw(game_id=game_id, accept=False))
        for client in (ann, bob):
            assert await client.expect(DrawDeclined) == DrawDeclined(game_id=game_id, by="bob")
        await ann.send(OfferDraw(game_id=game_id))
        await expect_error(ann, "draw_offer_limit", "offer_draw")
        # bob offers; ann's move lapses it.
        await bob.send(OfferDraw(game_id=game_id))
        for client in (ann, bob):
            await client.expect(DrawOffered)
        await move(bob, ann, game_id, 3)
        await move(ann, bob, game_id, 3)
        await ann.send(AnswerDraw(game_id=game_id, accept=True))
        await expect_error(ann, "no_draw_offer", "answer_draw")
        # Four plies after her first offer, ann may offer again; bob's offering back accepts.
        await move(bob, ann, game_id, 4)
        await ann.send(OfferDraw(game_id=game_id))
        await expect_error(ann, "draw_offer_limit", "offer_draw")  # 3 plies since
        await move(ann, bob, game_id, 4)
        await ann.send(OfferDraw(game_id=game_id))
        for client in (ann, bob):
            await client.expect(DrawOffered)
        await bob.send(OfferDraw(game_id=game_id))
        for client in (ann, bob):
            assert (await client.expect(GameOver)).reason == "agreement"
        await ann.expect(UserList)
        await ann.send(OfferDraw(game_id=game_id))
        error = await ann.expect_skipping(Error, LobbyUpdate)
        assert error.code == "game_over"


async def test_abort_before_both_moved_changes_no_record() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await move(bob, ann, game_id, 0)
        await ann.send(Abort(game_id=game_id))
        for client in (ann, bob):
            over = await client.expect(GameOver)
            assert (over.result, over.winner, over.reason) == ("draw", None, "aborted")
        snapshot = await bob.expect(UserList)
        for row in snapshot.users:
            assert (row.wins, row.losses, row.draws) == (0, 0, 0)


async def test_no_abort_after_both_moved_and_strangers_cannot_offer() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cy") as cy,
    ):
        game_id = await start_game(ann, bob)
        await play_opening(bob, ann, game_id)
        await ann.send(Abort(game_id=game_id))
        await expect_error(ann, "cannot_abort", "abort")
        for request, ref in (
            (OfferDraw(game_id=game_id), "offer_draw"),
            (AnswerDraw(game_id=game_id, accept=True), "answer_draw"),
            (Abort(game_id=game_id), "abort"),
        ):
            await cy.send(request)
            error = await cy.expect_skipping(Error, LobbyUpdate)
            assert (error.code, error.ref) == ("unknown_game", ref)
        # The game went on untouched.
        await move(bob, ann, game_id, 5)
