"""Time in the browser: the move timer of an untimed game and a game lost on time.

This module's server gives the player to move 4 seconds in untimed games
(``--move-timeout 4``), so the page's countdown (shown in the last 30 s) is on from the
first second and the timeout comes quickly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import play_moves, start_game
from tests.e2e.server_process import ServerProcess, running_server

pytestmark = pytest.mark.e2e

MOVE_TIMEOUT = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("server") / "c4actors.sqlite3"
    extra = ("--move-timeout", str(MOVE_TIMEOUT))
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
