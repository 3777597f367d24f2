"""Play anyone: two people who press it with the same time control are paired into a game;
the lobby shows who waits, and for which clock."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People

pytestmark = pytest.mark.e2e


def test_two_people_are_paired_by_play_anyone(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    for me in (ann, bob, cy):
        me.join()

    play_anyone = ann.page.get_by_role("button", name="Play anyone", exact=True)
    play_anyone.click()
    expect(ann.by_id("seek-status")).to_have_text("Looking for an opponent…")
    expect(ann.row(ann)).to_have_attribute("data-state", "SEEKING")
    # The others see who waits, and cannot challenge a seeker: Play anyone pairs them.
    expect(bob.row(ann)).to_contain_text("looking for a game")
    expect(bob.online_count).to_have_text("3 online · 1 looking for a game")
    expect(bob.by_id("seek-status")).to_have_text(
        "Someone is waiting for an untimed game: press Play anyone to play them now."
    )
    expect(bob.page.get_by_role("button", name=f"Challenge {ann.name}")).to_be_disabled()

    # Stopping takes ann out of the pool.
    ann.page.get_by_role("button", name="Stop looking", exact=True).click()
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")
    expect(bob.online_count).to_have_text("3 online")
    expect(ann.by_id("seek-status")).to_have_text("")

    play_anyone.click()
    expect(bob.row(ann)).to_have_attribute("data-state", "SEEKING")
    bob.page.get_by_role("button", name="Play anyone", exact=True).click()
    for me, opponent in ((ann, bob), (bob, ann)):
        expect(me.game).to_be_visible()
        expect(me.by_id("opponent-line")).to_have_text(f"You are playing with {opponent.name}")
    # ann waited, so ann moves first.
    expect(ann.turn).to_have_text("Your turn")
    expect(bob.turn).to_have_text(f"{ann.name}'s turn")
    for player in (ann, bob):
        expect(cy.row(player)).to_have_attribute("data-state", "PLAYING")
    expect(cy.online_count).to_have_text("3 online")


def test_play_anyone_pairs_only_the_same_time_control(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    for me in (ann, bob, cy):
        me.join()

    ann.page.get_by_label("Time control").select_option(label="3+2")
    ann.page.get_by_role("button", name="Play anyone", exact=True).click()
    expect(ann.by_id("seek-status")).to_have_text("Looking for an opponent for a 3+2 game…")
    expect(bob.row(ann)).to_contain_text("looking for a game (3+2)")
    # bob's picker says untimed: the page says who waits for what.
    expect(bob.by_id("seek-status")).to_have_text(
        "Waiting to play: 1 for 3+2. Pick that time control and press Play anyone to play them now."
    )
    # An untimed seek does not pair with a 3+2 one: bob waits too.
    bob.page.get_by_role("button", name="Play anyone", exact=True).click()
    expect(bob.by_id("seek-status")).to_have_text("Looking for an opponent…")
    expect(cy.online_count).to_have_text("3 online · 2 looking for a game")
    expect(cy.by_id("seek-status")).to_have_text(
        "Someone is waiting for an untimed game: press Play anyone to play them now."
    )
    cy.page.get_by_label("Time control").select_option(label="3+2")
    expect(cy.by_id("seek-status")).to_have_text(
        "Someone is waiting for a 3+2 game: press Play anyone to play them now."
    )
    cy.page.get_by_role("button", name="Play anyone", exact=True).click()
    for me, opponent in ((ann, cy), (cy, ann)):
        expect(me.game).to_be_visible()
        expect(me.by_id("opponent-line")).to_have_text(f"You are playing with {opponent.name}")
        expect(me.by_id("clocks")).to_be_visible()
        expect(me.by_id("clock-you-time")).to_have_text("3:00")
    expect(ann.turn).to_have_text("Your turn")
    # bob still waits, untimed.
    expect(bob.row(bob)).to_have_attribute("data-state", "SEEKING")
    expect(bob.row(ann)).to_have_attribute("data-state", "PLAYING")
