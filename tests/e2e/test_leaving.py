"""Leaving a game early: quitting (a forfeit) and closing the tab (a disconnect)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import play_moves, start_game
from tests.e2e.server_process import DEFAULT_GRACE

pytestmark = pytest.mark.e2e


def test_a_player_quits_and_the_other_wins_by_forfeit(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, [3, 3])

    # Changing one's mind in the dialog keeps the game going.
    ann.page.get_by_role("button", name="Quit", exact=True).click()
    dialog = ann.page.get_by_role("dialog", name="Quit and forfeit?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Keep playing").click()
    expect(dialog).to_be_hidden()
    expect(ann.result).to_be_hidden()
    play_moves(bob, ann, [4])

    ann.quit_game()
    expect(bob.result).to_have_text("You won by forfeit")
    expect(bob.result).to_have_attribute("data-outcome", "won")
    expect(ann.result).to_have_text(f"{bob.name} won by forfeit")
    expect(ann.result).to_have_attribute("data-outcome", "lost")
    for me in (ann, bob):
        expect(me.turn).to_have_text("Game over")
        expect(me.winning_cells).to_have_count(0)
        expect(me.filled_cells).to_have_count(3)
        me.back_to_lobby()
        expect(me.row(ann)).to_have_attribute("data-state", "AVAILABLE")


def test_closing_the_tab_mid_game_loses_after_the_grace_period(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, [3, 4])

    closed = time.monotonic()
    ann.page.close()
    expect(bob.opponent_banner).to_have_text(re.compile(r"^Opponent disconnected, [1-3] s$"))
    expect(bob.result).to_have_text("You won — opponent disconnected")
    expect(bob.result).to_have_attribute("data-outcome", "won")
    # The win came when the grace period ran out, not when the tab closed.
    assert time.monotonic() - closed >= DEFAULT_GRACE
    expect(bob.opponent_banner).to_be_hidden()

    bob.back_to_lobby()
    expect(bob.row(bob)).to_have_attribute("data-state", "AVAILABLE")
    expect(bob.row(ann)).to_have_count(0)
    expect(bob.row(bob).locator("td").nth(2)).to_have_text("1")
