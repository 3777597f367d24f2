"""Playing a game in the browser: a full game by mouse, refused moves, keyboard only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game

pytestmark = pytest.mark.e2e


def test_two_guests_play_a_full_game(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    for me, other in ((ann, bob), (bob, ann)):
        expect(me.row(me)).to_contain_text("(you)")
        expect(me.row(other)).to_have_attribute("data-state", "AVAILABLE")
        expect(me.row(other)).to_contain_text("available")

    start_game(ann, bob)
    # bob was challenged, so he is player 1 and opens; ann completes the bottom row.
    play_moves(bob, ann, [0, 2, 0, 3, 0, 4, 6, 5])

    for me in (ann, bob):
        expect(me.turn).to_have_text("Game over")
        expect(me.winning_cells).to_have_count(4)
        for col in (2, 3, 4, 5):
            expect(me.cell(5, col)).to_have_class(re.compile(r"\bwin\b"))
    expect(ann.result).to_have_text("You won by four in a row")
    expect(ann.result).to_have_attribute("data-outcome", "won")
    expect(bob.result).to_have_text(f"{ann.name} won by four in a row")
    expect(bob.result).to_have_attribute("data-outcome", "lost")
    assert (
        ann.board_rows()
        == bob.board_rows()
        == [
            ".......",
            ".......",
            ".......",
            "1......",
            "1......",
            "1.22221",
        ]
    )

    for me in (ann, bob):
        me.back_to_lobby()
    for me in (ann, bob):
        for who in (ann, bob):
            expect(me.row(who)).to_have_attribute("data-state", "AVAILABLE")
    # The result counts: W, L, D are the third to fifth cells of a row.
    expect(bob.row(ann).locator("td")).to_have_text(
        [f"{ann.name}", "available", "1", "0", "0", "Challenge"]
    )
    expect(ann.row(bob).locator("td")).to_have_text(
        [f"{bob.name}", "available", "0", "1", "0", "Challenge"]
    )


def test_refused_moves_show_a_message_and_change_nothing(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    empty = ["......."] * 6

    # Not your turn: bob (player 1) moves first.
    ann.click_column(3)
    expect(ann.game_message).to_have_text("Not your turn")
    assert ann.board_rows() == bob.board_rows() == empty
    expect(ann.turn).to_have_text(f"{bob.name}'s turn")
    # bob's move is the next one on both boards: ann's click never became a move.
    play_moves(bob, ann, [6])
    assert ann.board_rows() == bob.board_rows() == [*empty[:5], "......1"]

    # Column full: fill column 0 (alternating tokens, nobody wins); then it is ann's turn.
    play_moves(ann, bob, [0, 0, 0, 0, 0, 0])
    before = ann.board_rows()
    assert [row[0] for row in before] == ["1", "2", "1", "2", "1", "2"]
    expect(ann.page.get_by_role("button", name="Drop in column 1 (full)")).to_be_attached()
    ann.click_column(0)
    expect(ann.game_message).to_have_text("Column full")
    expect(ann.turn).to_have_text("Your turn")
    assert ann.board_rows() == bob.board_rows() == before

    # Play goes on, and the message goes away with the next move.
    play_moves(ann, bob, [1])
    expect(ann.game_message).to_have_text("")
    expect(bob.turn).to_have_text("Your turn")


def test_a_game_played_with_the_keyboard_only(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    for me in (ann, bob):
        # The name field has the focus when the page opens: type, then Enter.
        expect(me.name_input).to_be_focused()
        me.page.keyboard.type(me.name)
        me.page.keyboard.press("Enter")
        expect(me.greeting).to_have_text(f"Hello {me.name}")

    challenge = ann.page.get_by_role("button", name=f"Challenge {bob.name}", exact=True)
    ann.tab_to(challenge)
    ann.page.keyboard.press("Enter")
    accept = bob.page.get_by_role("button", name=f"Accept challenge from {ann.name}")
    expect(accept).to_be_visible()
    # Backwards from the page's end: through the lobby's controls, the header's (the site's
    # links, the sound toggle, a guest's Change name and Leave), to the dock.
    bob.tab_to(accept, backwards=True, presses=20)
    bob.page.keyboard.press("Enter")

    # The board has the focus when the game starts; its cursor starts in the middle.
    for me in (ann, bob):
        expect(me.game).to_be_visible()
        expect(me.board).to_be_focused()
    moves: list[tuple[Player, list[str], tuple[int, int]]] = [
        (bob, ["Enter"], (5, 3)),
        (ann, ["ArrowLeft", "Enter"], (5, 2)),
        (bob, ["Enter"], (4, 3)),
        (ann, ["Home", "Enter"], (5, 0)),
        (bob, [" "], (3, 3)),  # Space plays too
        (ann, ["End", "ArrowLeft", "ArrowRight", "Enter"], (5, 6)),
        (bob, ["4"], (2, 3)),  # a digit plays straight into that column
    ]
    for count, (mover, keys, (row, col)) in enumerate(moves, start=1):
        expect(mover.turn).to_have_text("Your turn")
        for key in keys:
            mover.page.keyboard.press(key)
        for me in (ann, bob):
            expect(me.filled_cells).to_have_count(count)
            expect(me.cell(row, col)).to_have_class(re.compile(r"\bfilled\b"))

    expect(bob.result).to_have_text("You won by four in a row")
    expect(ann.result).to_have_text(f"{bob.name} won by four in a row")
    for me in (ann, bob):
        back = me.page.get_by_role("button", name="Back to lobby")
        expect(back).to_be_focused()
        me.page.keyboard.press("Enter")
        expect(me.lobby).to_be_visible()
