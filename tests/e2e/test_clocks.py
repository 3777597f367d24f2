"""Time in the browser: the move timer of an untimed game, and timed games lost on time.

This module's server gives the player to move 4 seconds in untimed games
(``--move-timeout 4``), so the page's countdown (shown in the last 30 s) is on from the
first second and the timeout comes quickly; and it accepts time controls from 1 second
(``--min-base-seconds 1``, the documented test-only way), so a custom clock of 0.05
minutes (3 s) stands in for the 1+0 preset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import play_moves, start_game
from tests.e2e.server_process import ServerProcess, running_server
from tests.e2e.test_accounts import register

pytestmark = pytest.mark.e2e

MOVE_TIMEOUT = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("server") / "c4actors.sqlite3"
    extra = ("--move-timeout", str(MOVE_TIMEOUT), "--min-base-seconds", "1")
    with running_server(grace=3.0, db=db, extra=extra) as server:
        yield server


def test_an_untimed_game_shows_the_move_timer_and_is_lost_on_time(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, [3, 3])
    timer_bob = bob.by_id("move-timer")
    timer_ann = ann.by_id("move-timer")
    expect(timer_bob).to_be_visible()
    expect(timer_bob).to_have_text(re.compile(r"^You have [0-4] s to move$"))
    expect(timer_ann).to_have_text(re.compile(rf"^{bob.name} has [0-4] s to move$"))
    # bob does not move: the server ends the game at the timeout.
    expect(bob.result).to_have_text(f"{ann.name} won — you ran out of time")
    expect(ann.result).to_have_text("You won — your opponent ran out of time")
    for me in (ann, bob):
        expect(me.by_id("move-timer")).to_be_hidden()
    expect(ann.result).to_have_attribute("data-outcome", "won")


def test_the_presets_are_offered_and_a_custom_clock_outside_the_bounds_is_explained(
    people: People,
) -> None:
    ann = people.open("ann")
    ann.join()
    select = ann.page.get_by_label("Time control")
    options = select.locator("option")
    expect(options).to_have_text(["Untimed", "1+0", "3+2", "5+0", "Custom…"])
    select.select_option(label="Custom…")
    ann.page.get_by_label("Minutes").fill("999")
    bob = people.open("bob")
    bob.join()
    ann.page.get_by_role("button", name=f"Challenge {bob.name}", exact=True).click()
    expect(ann.by_id("time-control-error")).to_have_text(re.compile(r"^The base time must be"))
    expect(bob.incoming(ann)).to_have_count(0)


def test_a_timed_game_shows_both_clocks_and_is_lost_on_time(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    ann.page.get_by_label("Time control").select_option(label="Custom…")
    ann.page.get_by_label("Minutes").fill("0.05")  # 3 s: a shortened 1+0
    ann.page.get_by_label("+ seconds").fill("0")
    ann.challenge(bob)
    expect(ann.outgoing(bob)).to_contain_text(f"Waiting for {bob.name}… (a 0:03+0 game)")
    expect(bob.incoming(ann)).to_contain_text(f"{ann.name} challenges you to a 0:03+0 game")
    bob.accept(ann)
    for me, other in ((ann, bob), (bob, ann)):
        expect(me.game).to_be_visible()
        expect(me.by_id("clocks")).to_be_visible()
        expect(me.by_id("clock-opp-label")).to_have_text(other.name)
        expect(me.by_id("clock-you-time")).to_have_text("3.0")
    # First moves are free: the clocks start after them.
    play_moves(bob, ann, [3, 3])
    expect(bob.by_id("clock-you")).to_have_class(re.compile(r"\brunning\b"))
    expect(bob.by_id("clock-you")).to_have_class(re.compile(r"\blow\b"))
    expect(ann.by_id("clock-opp")).to_have_class(re.compile(r"\brunning\b"))
    expect(ann.by_id("clock-you")).not_to_have_class(re.compile(r"\brunning\b"))
    # bob does not move again: his 3 s run out.
    expect(bob.result).to_have_text(f"{ann.name} won — you ran out of time")
    expect(ann.result).to_have_text("You won — your opponent ran out of time")
    expect(bob.by_id("clock-you-time")).to_have_text("0.0")


def test_the_replay_of_a_timed_game_shows_its_time_control(people: People) -> None:
    """Issue 14: timed games are recorded with their time control, and replays show it."""
    ann = people.open("ann")
    bob = people.open("bob")
    register(ann, "Purple")
    register(bob, "Orange")
    ann.page.get_by_label("Time control").select_option(label="3+2")
    ann.challenge(bob)
    expect(bob.incoming(ann)).to_contain_text(f"{ann.name} challenges you to a 3+2 game")
    bob.accept(ann)
    for me in (ann, bob):
        expect(me.by_id("clock-you-time")).to_have_text("3:00")
    play_moves(bob, ann, [0, 1, 0, 1, 0, 1, 0])
    expect(bob.result).to_have_text("You won by four in a row")
    bob.back_to_lobby()
    bob.page.get_by_role("button", name="My profile").click()
    replay = re.compile(f"^Replay the game against {ann.name}")
    bob.page.get_by_role("button", name=replay).click()
    expect(bob.by_id("replay-title")).to_have_text(f"{bob.name} vs {ann.name}")
    expect(bob.by_id("replay-clock")).to_have_text("Time control 3+2")
    expect(bob.by_id("replay-step")).to_have_text("Move 0 of 7")
    # The same from a copied address, in a browser where nobody signed in.
    path: str = bob.page.evaluate("location.pathname")
    other = people.open("other")
    other.page.goto(other.url.rstrip("/") + path)
    expect(other.by_id("replay-clock")).to_have_text("Time control 3+2")
