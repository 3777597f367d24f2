"""Addresses (issue 18): each view has its own path; Back and Forward move between views,
a reload keeps the view, a copied address opens the same view in another browser, and
the server answers any other path with 404."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game
from tests.e2e.test_accounts import register

pytestmark = pytest.mark.e2e


def _path(me: Player) -> str:
    path: str = me.page.evaluate("location.pathname")
    return path


def _expect_path(me: Player, path: str) -> None:
    expect(me.page).to_have_url(re.compile(re.escape(path) + "$"))


def test_every_view_has_an_address_that_back_forward_reload_and_a_copy_keep(
    people: People,
) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    register(ann, "Purple")
    register(bob, "Orange")
    _expect_path(ann, "/")

    # A game in progress: its address survives a reload, with the board as it was.
    start_game(bob, ann)  # ann moves first
    game_path = _path(ann)
    assert re.fullmatch(r"/game/[^/]+", game_path), game_path
    _expect_path(bob, game_path)
    play_moves(ann, bob, [0, 1])
    ann.page.reload()
    expect(ann.game).to_be_visible()
    expect(ann.filled_cells).to_have_count(2)
    _expect_path(ann, game_path)
    # Back during a game keeps the game on screen, and so does Forward.
    ann.page.go_back()
    expect(ann.game).to_be_visible()
    expect(ann.notice).to_have_text("Your game is still on: finish it or quit first.")
    _expect_path(ann, game_path)
    ann.page.go_forward()
    expect(ann.game).to_be_visible()
    expect(ann.filled_cells).to_have_count(2)
    play_moves(ann, bob, [0, 1, 0, 1, 0])
    expect(ann.result).to_have_text("You won by four in a row")
    ann.back_to_lobby()
    _expect_path(ann, "/")

    # The profile, then the replay, then the leaderboard: one address each.
    ann.page.get_by_role("button", name="My profile").click()
    expect(ann.by_id("profile-title")).to_have_text(ann.name)
    profile_path = f"/players/{ann.name}"
    _expect_path(ann, profile_path)
    ann.page.get_by_role("button", name=re.compile(f"^Replay the game against {bob.name}")).click()
    expect(ann.by_id("replay-title")).to_have_text(f"{ann.name} vs {bob.name}")
    replay_path = _path(ann)
    assert replay_path == "/replay/" + game_path.removeprefix("/game/"), replay_path
    ann.page.get_by_role("link", name="Leaderboard").click()
    board = ann.page.locator("#leaderboard-table tbody tr")
    expect(board.filter(has_text=ann.name)).to_contain_text("100%")
    expect(board.filter(has_text=bob.name)).to_contain_text("0%")
    _expect_path(ann, "/leaderboard")
    expect(ann.page.get_by_role("link", name="Leaderboard")).to_have_attribute(
        "aria-current", "page"
    )

    # Reload keeps each view.
    ann.page.reload()
    expect(board.filter(has_text=ann.name)).to_be_visible()

    # Back and Forward walk the views in order.
    ann.page.go_back()
    expect(ann.by_id("replay-title")).to_have_text(f"{ann.name} vs {bob.name}")
    _expect_path(ann, replay_path)
    ann.page.reload()
    expect(ann.by_id("replay-step")).to_have_text("Move 0 of 7")
    ann.page.go_back()
    expect(ann.by_id("profile-title")).to_have_text(ann.name)
    _expect_path(ann, profile_path)
    ann.page.reload()
    expect(ann.by_id("profile-title")).to_have_text(ann.name)
    ann.page.go_back()
    expect(ann.lobby).to_be_visible()
    _expect_path(ann, "/")
    ann.page.reload()
    expect(ann.lobby).to_be_visible()
    expect(ann.row(ann)).to_contain_text("(you)")
    ann.page.go_forward()
    expect(ann.by_id("profile-title")).to_have_text(ann.name)
    ann.page.go_forward()
    expect(ann.by_id("replay")).to_be_visible()
    _expect_path(ann, replay_path)
    ann.page.go_forward()
    expect(board.filter(has_text=ann.name)).to_be_visible()
    _expect_path(ann, "/leaderboard")

    # The same addresses, copied into another browser where nobody signed in.
    other = people.open("other")
    for path, shown in [
        (replay_path, other.by_id("replay-title")),
        (profile_path, other.by_id("profile-title")),
        ("/leaderboard", other.by_id("leaderboard-title")),
    ]:
        other.page.goto(other.url.rstrip("/") + path)
        expect(shown).to_be_visible()
        _expect_path(other, path)
    expect(
        other.page.locator("#leaderboard-table tbody tr").filter(has_text=ann.name)
    ).to_be_visible()
    # From there, the lobby is the first screen (the visitor has not joined).
    other.page.get_by_role("link", name="Lobby").click()
    expect(other.name_input).to_be_visible()
    _expect_path(other, "/")


def test_a_path_the_page_has_no_view_for_is_404(people: People) -> None:
    ann = people.open("ann")
    people.tolerate(ann, r"status of 404")  # Chromium logs the 404 this test asks for
    response = ann.page.goto(ann.url.rstrip("/") + "/no/such/page")
    assert response is not None and response.status == 404


def test_the_lobby_finds_players_by_name_and_status(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    dee = people.open("dee")
    for me in (ann, bob, cy, dee):
        me.join()
    start_game(cy, dee)
    for other in (bob, cy, dee):
        expect(ann.row(other)).to_be_visible()

    ann.page.get_by_label("Find a player").fill(bob.name.upper()[:4])
    expect(ann.row(bob)).to_be_visible()
    expect(ann.row(cy)).to_be_hidden()
    expect(ann.row(dee)).to_be_hidden()
    expect(ann.row(ann)).to_be_visible()  # one's own row stays

    ann.page.get_by_label("Find a player").fill("")
    ann.page.get_by_label("Status").select_option("Playing")
    expect(ann.row(bob)).to_be_hidden()
    expect(ann.row(cy)).to_be_visible()
    expect(ann.row(dee)).to_be_visible()

    ann.page.get_by_label("Find a player").fill(bob.name)
    expect(ann.by_id("filter-empty")).to_have_text("No listed player matches.")
    ann.page.get_by_label("Status").select_option("Anyone")
    expect(ann.row(bob)).to_be_visible()
    expect(ann.by_id("filter-empty")).to_be_hidden()
