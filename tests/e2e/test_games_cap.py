"""The games-per-minute cap in the browser: the refusal reads clearly, and the invitation
stays answerable.

This module's server lets a connection start one game a minute
(``--max-games-per-minute 1``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import start_game
from tests.e2e.server_process import ServerProcess, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("server") / "c4actors.sqlite3"
    with running_server(grace=1.0, db=db, extra=("--max-games-per-minute", "1")) as server:
        yield server


def test_an_accept_over_the_cap_is_refused_and_the_invitation_can_still_be_answered(
    people: People,
) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    for me in (ann, bob, cy):
        me.join()
    start_game(ann, bob)
    ann.quit_game()
    bob.back_to_lobby()

    cy.challenge(bob)
    expect(bob.incoming(cy)).to_contain_text(f"{cy.name} challenges you")
    bob.accept(cy)
    # Said inside the invitation it concerns, in the page's words.
    expect(bob.incoming(cy).get_by_role("alert")).to_have_text(
        re.compile(
            r"^You have started many games in a short time: wait \d+ seconds? before the next\.$"
        )
    )
    # Still pending: bob can answer it (here, decline), and cy hears so.
    bob.decline(cy)
    expect(cy.notice).to_have_text(f"{bob.name} declined your challenge")
    expect(bob.incoming(cy)).to_have_count(0)
