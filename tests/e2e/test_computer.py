"""Playing the computer from the page, at every level, and a game's analysis in the replay."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player

pytestmark = pytest.mark.e2e

LEVELS = {"beginner": "Beginner", "casual": "Casual", "strong": "Strong", "perfect": "Perfect"}


def play_the_computer(me: Player, level: str, first: str) -> None:
    me.page.locator("#computer summary").click()
    me.page.get_by_label("Level").select_option(level)
    me.page.get_by_label("Who moves first").select_option(first)
    me.page.get_by_role("button", name="Start the game", exact=True).click()
    expect(me.game).to_be_visible()
    expect(me.by_id("opponent-line")).to_have_text(f"You are playing with Computer ({level})")


def play_until_over(me: Player) -> None:
    """Drop in the leftmost column with room, each turn, until the game ends (fast: the
    computer wins quickly against that)."""
    for _ in range(21):
        expect(me.turn).to_have_text(re.compile(r"^(Your turn|Game over)$"))
        if me.turn.text_content() == "Game over":
            return
        before = me.filled_cells.count()
        for col in range(7):
            button = me.page.get_by_role("button", name=f"Drop in column {col + 1}", exact=True)
            if button.count() == 1:
                button.click()
                break
        expect(me.filled_cells).not_to_have_count(before)
    expect(me.turn).to_have_text("Game over")


@pytest.mark.parametrize("level", list(LEVELS))
def test_a_game_against_each_level(people: People, level: str) -> None:
    me = people.open(f"solo_{level}")
    me.join()
    note = me.by_id("computer-note")
    expect(note).to_contain_text("perfect play as the first player always wins")
    first = "computer" if level == "perfect" else "you"
    play_the_computer(me, level, first)
    if first == "computer":
        # The computer opens: its token is on the board before ours.
        expect(me.filled_cells).to_have_count(1)
    play_until_over(me)
    expect(me.result).to_have_text(f"Computer ({level}) won by four in a row")
    # Against the computer nothing counts: the lobby row still shows no games.
    me.back_to_lobby()
    expect(me.row(me)).to_have_attribute("data-state", "AVAILABLE")


def test_an_analysis_shown_in_the_replay(people: People) -> None:
    me = people.open("analyst")
    me.join()
    play_the_computer(me, "casual", "you")
    play_until_over(me)
    see = me.page.get_by_role("button", name="See the analysis", exact=True)
    expect(see).to_be_visible()
    see.click()
    expect(me.by_id("replay")).to_be_visible()
    panel = me.by_id("analysis")
    # Computed on the server (progress first), then the chart and the notes.
    expect(me.by_id("analysis-body")).to_be_visible(timeout=60_000)
    expect(me.by_id("analysis-chart").locator("polyline")).to_have_count(1)
    expect(panel).to_contain_text("Perfect-play analysis")
    # The board shows the empty position: the note tells what perfect play gives player 1.
    expect(me.by_id("analysis-before")).to_contain_text(f"With perfect play {me.name} wins")
    expect(me.by_id("analysis-best")).to_have_text("Best: column 4.")
    # The leftmost column first gave the win away.
    me.page.get_by_role("button", name="Forward").click()
    expect(me.by_id("analysis-grade")).to_have_text(re.compile(r"^Move 1: (Mistake|Blunder)"))
    lost = me.by_id("analysis-lost")
    expect(lost).to_have_text(re.compile(rf"^Where {me.name} lost it: move \d+$"))
    lost.click()
    number = int((lost.text_content() or "").rsplit(" ", 1)[1])
    expect(me.by_id("replay-step")).to_have_text(re.compile(rf"^Move {number} of \d+$"))
    expect(me.by_id("analysis-grade")).to_contain_text("the game was lost here")
