"""Play everyone can follow (issue 18): the move list, tokens marked by shape as well as
colour, and the whole board on a phone held sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game

pytestmark = pytest.mark.e2e

PHONE_LANDSCAPE = {"width": 844, "height": 390}


def _marks(me: Player) -> list[str]:
    """The mark drawn on each filled token (its ::before), as the page paints it."""
    marks: list[str] = me.page.locator("#board .token.p1, #board .token.p2").evaluate_all(
        """tokens => tokens.map(t => {
            const style = getComputedStyle(t, "::before");
            return `${style.content}|${style.borderTopStyle}`;
        })"""
    )
    return marks


def test_the_move_list_and_the_tokens_marks(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(bob, ann)  # ann moves first
    expect(ann.by_id("move-list-empty")).to_have_text("No moves yet.")
    play_moves(ann, bob, [3, 4, 3])
    for me in (ann, bob):
        expect(me.page.locator("#move-list li")).to_have_text(
            [f"{ann.name}: column 4", f"{bob.name}: column 5", f"{ann.name}: column 4"]
        )
        expect(me.by_id("move-list-empty")).to_be_hidden()
    # Each player's tokens carry their own mark, whatever the colours.
    p1 = ann.page.locator("#board .token.p1").first.evaluate(
        "t => getComputedStyle(t, '::before').borderRadius"
    )
    p2 = ann.page.locator("#board .token.p2").first.evaluate(
        "t => getComputedStyle(t, '::before').transform"
    )
    assert p1 == "50%", p1  # a ring
    assert p2 != "none", p2  # a diamond (a rotated square)
    assert all(mark.startswith('""|solid') for mark in _marks(ann)), _marks(ann)


def test_the_whole_board_fits_a_phone_held_sideways(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.page.set_viewport_size(PHONE_LANDSCAPE)
    ann.join()
    bob.join()
    start_game(bob, ann)
    play_moves(ann, bob, [3, 3])
    board = ann.page.locator("#game .board-wrap")
    expect(board).to_be_in_viewport(ratio=1)
    box = board.bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE_LANDSCAPE["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_LANDSCAPE["width"], box
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ann.page.screenshot(path=ARTIFACTS / "phone-landscape-game.png")
