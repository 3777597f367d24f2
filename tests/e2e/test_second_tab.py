"""A registered player who opens a second tab takes the session over there (issue 18): the
first tab says where it went and offers to take it back, in the lobby or in a game; the
opponent sees nothing, and moving it back and forth loses nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game
from tests.e2e.test_accounts import expect_signed_in, register

pytestmark = pytest.mark.e2e

MOVED_TO_A_TAB = "You are now playing in another tab of this browser. Play here to take it back."


def _second_tab(me: Player) -> Player:
    """The same person opens the site in another tab of the same browser (same cookies)."""
    tab = Player(me.context, me.context.new_page(), me.name, me.url)
    tab.open()
    return tab


def _expect_moved_away(tab: Player) -> Player:
    expect(tab.by_id("entry-account-error")).to_have_text(MOVED_TO_A_TAB)
    play_here = tab.page.get_by_role("button", name=f"Play as {tab.name}")
    expect(play_here).to_be_focused()
    expect(tab.game).to_be_hidden()
    expect(tab.greeting).to_be_hidden()
    return tab


def test_a_second_tab_takes_the_lobby_session_and_the_first_takes_it_back(
    people: People,
) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    register(ann, "Purple")
    bob.join()
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")

    tab = _second_tab(ann)
    expect_signed_in(tab)
    _expect_moved_away(ann)
    # bob still sees one ann, available, and can challenge her in the tab she uses now.
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")
    bob.challenge(ann)
    expect(tab.incoming(bob)).to_be_visible()

    # Taking it back brings the pending invitation along, and the tab says where it went.
    ann.page.get_by_role("button", name=f"Play as {ann.name}").click()
    expect_signed_in(ann)
    expect(ann.incoming(bob)).to_be_visible()
    _expect_moved_away(tab)
    ann.accept(bob)
    expect(ann.game).to_be_visible()
    expect(bob.game).to_be_visible()


def test_a_second_tab_takes_a_game_over_and_the_first_takes_it_back(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    register(ann, "Purple")
    bob.join()
    start_game(bob, ann)  # ann moves first
    play_moves(ann, bob, [3, 3])
    board = ann.board_rows()

    tab = _second_tab(ann)
    expect(tab.game).to_be_visible()
    expect(tab.filled_cells).to_have_count(2)
    assert tab.board_rows() == board
    expect(tab.turn).to_have_text("Your turn")
    _expect_moved_away(ann)
    # The opponent sees nothing: the game never paused.
    expect(bob.opponent_banner).to_be_hidden()
    play_moves(tab, bob, [4, 4])

    ann.page.get_by_role("button", name=f"Play as {ann.name}").click()
    expect(ann.game).to_be_visible()
    expect(ann.filled_cells).to_have_count(4)
    assert ann.board_rows() == bob.board_rows()
    _expect_moved_away(tab)
    expect(bob.opponent_banner).to_be_hidden()
    play_moves(ann, bob, [5, 5, 2])
    expect(ann.result).to_have_text("You won by four in a row")
    expect(bob.result).to_have_text(f"{ann.name} won by four in a row")
