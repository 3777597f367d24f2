"""Draw offers and aborts in the browser: a declined offer, a draw by agreement, an abort."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game

pytestmark = pytest.mark.e2e


def button(me: Player, name: str) -> Locator:
    return me.page.get_by_role("button", name=name, exact=True)


def test_a_declined_offer_then_a_draw_by_agreement(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, [0, 1])
    for me in (ann, bob):
        expect(button(me, "Abort")).to_be_hidden()  # both have moved

    button(ann, "Offer draw").click()
    expect(bob.by_id("draw-offer")).to_contain_text(f"{ann.name} offers a draw.")
    expect(ann.by_id("draw-offer")).to_contain_text("You offered a draw.")
    button(bob, "Decline").click()
    expect(ann.by_id("draw-offer")).to_contain_text(f"{bob.name} declined your draw offer.")
    expect(bob.by_id("draw-offer")).to_be_hidden()
    # Too soon for another offer: the page says what the server refused.
    button(ann, "Offer draw").click()
    expect(ann.game_message).to_have_text(
        "You have offered a draw recently: play a few moves first."
    )

    button(bob, "Offer draw").click()
    expect(ann.by_id("draw-offer")).to_contain_text(f"{bob.name} offers a draw.")
    button(ann, "Accept draw").click()
    for me in (ann, bob):
        expect(me.result).to_have_text("Draw by agreement")
        expect(button(me, "Offer draw")).to_be_hidden()
    for me in (ann, bob):
        me.back_to_lobby()
    # A draw that counts: D is the fifth cell of a row.
    expect(bob.row(ann).locator("td").nth(4)).to_have_text("1")


def test_an_abort_before_both_moved(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, [3])
    button(ann, "Abort").click()
    for me in (ann, bob):
        expect(me.result).to_have_text("Game aborted — no one's record changes")
        expect(button(me, "Abort")).to_be_hidden()
    for me in (ann, bob):
        me.back_to_lobby()
    expect(bob.row(ann).locator("td").nth(2)).to_have_text("0")
    expect(bob.row(ann).locator("td").nth(3)).to_have_text("0")
    expect(bob.row(ann).locator("td").nth(4)).to_have_text("0")
