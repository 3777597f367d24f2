"""Watching a game in the browser: a third person finds it in the lobby's list of games in
progress, watches it to its end and sees the result; a fourth opens the game's address."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game

pytestmark = pytest.mark.e2e


def live_game(me: Player, first: Player, second: Player):  # type: ignore[no-untyped-def]
    """The row of the game ``first`` (player 1) plays against ``second`` in ``me``'s list."""
    return (
        me.by_id("live-games-list")
        .locator("li.live-game")
        .filter(has_text=f"{first.name} vs {second.name}")
    )


def test_a_third_person_watches_from_the_list_to_the_end(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    for me in (ann, bob, cy):
        me.join()
    start_game(ann, bob)  # bob accepted: bob moves first
    play_moves(bob, ann, [3, 0])
    row = live_game(cy, bob, ann)
    expect(row).to_contain_text("2 moves")
    row.get_by_role("button", name=f"Watch {bob.name} against {ann.name}").click()
    watch = cy.by_id("watch")
    expect(watch).to_be_visible()
    expect(cy.by_id("watch-title")).to_have_text(f"{bob.name} vs {ann.name}")
    expect(cy.by_id("watch-player1")).to_have_text(f"{bob.name} (moves first)")
    expect(cy.by_id("watch-player2")).to_have_text(ann.name)
    expect(cy.by_id("watch-spectators")).to_have_text("1 watching")
    expect(watch.locator(".token.p1, .token.p2")).to_have_count(2)
    expect(cy.page).to_have_url(re.compile(r"/game/[^/]+$"))
    # The players are told someone watches.
    for me in (ann, bob):
        expect(me.by_id("spectator-count")).to_have_text("1 watching")
    # The lobby's list (kept up to date while watching) counts the spectator too.
    expect(row).to_contain_text("1 watching")
    # The rest of the game, every move seen by the spectator; four in column 3 for bob.
    play_moves(bob, ann, [3, 0, 3, 0, 3])
    expect(watch.locator(".token.p1, .token.p2")).to_have_count(7)
    expect(cy.by_id("watch-moves").locator("li")).to_have_count(7)
    expect(cy.by_id("watch-result")).to_have_text(f"{bob.name} won by four in a row")
    expect(watch.locator(".cell.win")).to_have_count(4)
    # Back to the lobby: the game has left the list.
    cy.page.get_by_role("button", name="Back to lobby").click()
    expect(cy.lobby).to_be_visible()
    expect(live_game(cy, bob, ann)).to_have_count(0)


def test_a_games_address_opens_watching_for_someone_else(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, [2])
    address = bob.page.url
    assert re.search(r"/game/[^/]+$", address), address
    dee = people.open("dee")
    dee.page.goto(address)
    # The first screen first (no session yet); the game's address is remembered.
    dee.submit_name(dee.name)
    expect(dee.greeting).to_have_text(f"Hello {dee.name}")
    watch = dee.by_id("watch")
    expect(watch).to_be_visible()
    expect(dee.by_id("watch-title")).to_have_text(f"{bob.name} vs {ann.name}")
    expect(dee.page).to_have_url(address)
    expect(watch.locator(".token.p1, .token.p2")).to_have_count(1)
    # The players chat; the spectator sees it, and then the end (a forfeit).
    chat = ann.by_id("chat-input")
    chat.fill("good luck")
    chat.press("Enter")
    expect(dee.by_id("watch-chat-log")).to_contain_text(f"{ann.name}: good luck")
    ann.quit_game()
    expect(dee.by_id("watch-result")).to_have_text(f"{bob.name} won by forfeit")
    # Stop watching is the way back at any time; after the end it reads "Back to lobby".
    dee.page.get_by_role("button", name="Back to lobby").click()
    expect(dee.lobby).to_be_visible()
