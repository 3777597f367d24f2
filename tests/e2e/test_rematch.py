"""Rematch from the result screen in the browser: the offer reaches the other player's
result screen, the rematch starts for both with the seats swapped; a decline and a
departure are told to the one who offered."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game

pytestmark = pytest.mark.e2e

WIN_FOR_FIRST = [0, 1, 0, 1, 0, 1, 0]
"""The first player wins in column 0."""


def button(me: Player, name: str) -> Locator:
    return me.page.get_by_role("button", name=name, exact=True)


def test_a_rematch_from_the_result_screen_swaps_the_seats(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)  # bob accepted: bob moves first
    play_moves(bob, ann, WIN_FOR_FIRST)
    expect(bob.result).to_contain_text("You won")
    expect(ann.result).to_contain_text(f"{bob.name} won")

    # ann, who lost moving second, asks for a rematch from the result screen.
    button(ann, "Rematch").click()
    expect(ann.by_id("rematch-offer-text")).to_have_text(
        f"You offered {bob.name} a rematch: waiting for the answer."
    )
    # bob sees it on his result screen (and in the notice), with the keyboard on Accept.
    expect(bob.by_id("rematch-offer-text")).to_have_text(f"{ann.name} offers a rematch.")
    expect(bob.notice).to_have_text(f"{ann.name} offers a rematch.")
    expect(button(bob, "Accept rematch")).to_be_focused()
    bob.page.keyboard.press("Enter")

    # A new game at once, for both, the seats swapped: ann moves first now.
    for me in (ann, bob):
        expect(me.filled_cells).to_have_count(0)
        expect(me.result).to_be_hidden()
        expect(me.by_id("rematch-offer")).to_be_hidden()
        expect(button(me, "Rematch")).to_be_hidden()
    expect(ann.turn).to_have_text("Your turn")
    expect(ann.by_id("legend-you")).to_have_text("You (move first)")
    expect(bob.turn).to_have_text(f"{ann.name}'s turn")
    expect(ann.notice).to_have_text(f"Rematch with {bob.name}: you move first.")
    play_moves(ann, bob, [3])


def test_a_declined_rematch_and_an_opponent_who_left(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, WIN_FOR_FIRST)

    button(ann, "Rematch").click()
    expect(bob.by_id("rematch-offer-text")).to_have_text(f"{ann.name} offers a rematch.")
    button(bob, "Decline rematch").click()
    expect(ann.by_id("rematch-offer-text")).to_have_text(f"{bob.name} declined the rematch.")
    expect(bob.by_id("rematch-offer")).to_be_hidden()
    # Asking again at once: the page says why not.
    button(ann, "Rematch").click()
    expect(ann.game_message).to_contain_text(
        f"{bob.name} declined your rematch: you can offer again in"
    )

    # bob offers in turn, then goes back to the lobby: ann is told, and cannot ask again.
    button(bob, "Rematch").click()
    expect(ann.by_id("rematch-offer-text")).to_have_text(f"{bob.name} offers a rematch.")
    bob.back_to_lobby()
    expect(ann.by_id("rematch-offer-text")).to_have_text(
        f"{bob.name} has left: no rematch (challenge them from the lobby)."
    )
    expect(button(ann, "Rematch")).to_be_hidden()


def test_spectators_follow_into_the_rematch_unless_they_went_back(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    dee = people.open("dee")
    for me in (ann, bob, cy, dee):
        me.join()
    start_game(ann, bob)  # bob moves first
    play_moves(bob, ann, [0])
    for spectator in (cy, dee):
        spectator.page.get_by_role("button", name=f"Watch {bob.name} against {ann.name}").click()
        expect(spectator.by_id("watch-title")).to_have_text(f"{bob.name} vs {ann.name}")
    play_moves(ann, bob, [1, 0, 1, 0, 1, 0])
    for spectator in (cy, dee):
        expect(spectator.by_id("watch-result")).to_have_text(f"{bob.name} won by four in a row")
    # dee goes back to the lobby; cy stays on the finished game.
    dee.page.get_by_role("button", name="Back to lobby").click()
    expect(dee.lobby).to_be_visible()

    button(ann, "Rematch").click()
    expect(bob.by_id("rematch-offer-text")).to_have_text(f"{ann.name} offers a rematch.")
    button(bob, "Accept rematch").click()
    expect(ann.turn).to_have_text("Your turn")
    # cy is watching the rematch, seats swapped, and told so.
    expect(cy.by_id("watch-title")).to_have_text(f"{ann.name} vs {bob.name}")
    expect(cy.by_id("watch-player1")).to_have_text(f"{ann.name} (moves first)")
    expect(cy.notice).to_have_text(
        f"Rematch: {ann.name} against {bob.name}, {ann.name} moves first."
    )
    play_moves(ann, bob, [3])
    expect(cy.by_id("watch").locator(".token.p1, .token.p2")).to_have_count(1)
    # dee was left in the lobby, where the rematch is listed like any game.
    expect(dee.lobby).to_be_visible()
    expect(dee.by_id("watch")).to_be_hidden()
