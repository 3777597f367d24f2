"""A bounded lobby list in the browser: the count, and challenging unlisted players by name.

This module's server lists one user (``--lobby-list-limit 1``): the first to connect.
Everyone else is online but not listed, except to themself; they are reached through
the challenge-by-name form.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves
from tests.e2e.server_process import ServerProcess, running_server

pytestmark = pytest.mark.e2e

LIST_LIMIT = 1
GRACE = 1.0
ALONE_TIMEOUT_MS = 20_000
"""Players of the previous test may still be leaving (a game's players wait out the
grace period), and a change beyond the list reaches others only in a count-only
update, which the server sends every few seconds at most."""
BAD_CHARACTERS = "Use only letters, digits, _ and - (no spaces or other characters)."
NOT_LISTED = "Other players are online but not listed here: challenge one by name."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that lists a single user, so that three people are enough to overflow it."""
    db = tmp_path_factory.mktemp("server") / "c4actors.sqlite3"
    with running_server(grace=GRACE, db=db, lobby_list_limit=LIST_LIMIT) as server:
        yield server


def _first_in_lobby(people: People, name: str = "ann") -> Player:
    """``name`` joins, and waits until alone online: they hold the one listed place."""
    first = people.open(name)
    first.join()
    expect(first.online_count).to_have_text("1 online", timeout=ALONE_TIMEOUT_MS)
    return first


def test_an_unlisted_player_is_challenged_by_name_and_plays(people: People) -> None:
    ann = _first_in_lobby(people)
    bob = people.open("bob")
    bob.join()
    cy = people.open("cy")
    cy.join()

    # bob and cy see the one listed user (ann) and themself; ann sees only herself.
    for me in (bob, cy):
        expect(me.user_rows).to_have_count(2)
        expect(me.row(ann)).to_have_attribute("data-state", "AVAILABLE")
        expect(me.online_count).to_have_text("3 online · showing 2", timeout=ALONE_TIMEOUT_MS)
    expect(cy.row(bob)).to_have_count(0)
    expect(bob.row(cy)).to_have_count(0)
    expect(ann.user_rows).to_have_count(1)
    expect(ann.online_count).to_have_text("3 online · showing 1", timeout=ALONE_TIMEOUT_MS)
    expect(ann.by_id("lobby-empty")).to_have_text(NOT_LISTED)

    cy.challenge_by_name(bob.name)
    expect(cy.outgoing(bob)).to_contain_text(f"Waiting for {bob.name}…")
    expect(cy.challenge_name_input).to_have_value("")
    # Like the rows' buttons, the form waits until the invitation is answered.
    expect(cy.challenge_name_button).to_be_disabled()
    expect(cy.page.get_by_role("button", name=f"Challenge {ann.name}", exact=True)).to_be_disabled()

    # The invitation comes from someone bob's list does not show, and it stays when
    # bob's own row changes (a lobby_update that does not list cy either).
    expect(bob.row(bob)).to_have_attribute("data-state", "INVITATION_RECEIVED")
    expect(bob.incoming(cy)).to_contain_text(f"{cy.name} challenges you")
    expect(bob.row(cy)).to_have_count(0)
    # Holding an invitation, bob may still challenge someone else (that would decline it).
    expect(bob.challenge_name_button).to_be_enabled()
    expect(bob.page.get_by_role("button", name=f"Challenge {ann.name}", exact=True)).to_be_enabled()

    bob.accept(cy)
    for me, opponent in ((bob, cy), (cy, bob)):
        expect(me.game).to_be_visible()
        expect(me.by_id("opponent-line")).to_have_text(f"You are playing with {opponent.name}")
    play_moves(bob, cy, [3, 4])

    # The server's refusal of a challenge by name, in the page's words, under the form.
    ann.challenge_by_name(bob.name)
    expect(ann.challenge_name_error).to_have_text(
        f"{bob.name} is busy right now (playing, or answering another challenge)."
    )
    expect(ann.challenge_name_input).to_have_attribute("aria-invalid", "true")
    expect(ann.notice).to_be_hidden()
    expect(ann.outgoing(bob)).to_have_count(0)
    expect(ann.challenge_name_input).to_have_value(bob.name)
    expect(ann.challenge_name_button).to_be_enabled()


def test_the_form_refuses_bad_names_and_shows_the_servers_refusal(people: People) -> None:
    ann = people.open("ann")
    ann.join()
    refused = {
        "": "Please enter the name of a player to challenge.",
        "a" * 25: "That name is too long: at most 24 characters (it has 25).",
        "<b>x</b>": BAD_CHARACTERS,
        "bob smith": BAD_CHARACTERS,
        ann.name: "You can't challenge yourself.",
        ann.name.upper(): "You can't challenge yourself.",
    }
    for name, message in refused.items():
        ann.challenge_by_name(name)
        expect(ann.challenge_name_error).to_have_text(message)
        expect(ann.challenge_name_input).to_have_attribute("aria-invalid", "true")
        expect(ann.challenge_name_input).to_be_focused()
        # Refused in the page: nothing went to the server.
        expect(ann.notice).to_be_hidden()
        expect(ann.by_id("invitations")).to_be_hidden()
        expect(ann.row(ann)).to_have_attribute("data-state", "AVAILABLE")

    # Typing clears the message.
    ann.challenge_name_input.press_sequentially("z")
    expect(ann.challenge_name_error).to_have_text("")
    expect(ann.challenge_name_input).to_have_attribute("aria-invalid", "false")

    # A well-formed name nobody has: the server says so, and the page tells it in its own
    # words beside the form (never the server's text, "no user named 'x' is online").
    nobody = f"nobody_{people.suffix}"
    ann.challenge_by_name(nobody)
    expect(ann.challenge_name_error).to_have_text(f"{nobody} is not online.")
    expect(ann.challenge_name_input).to_have_attribute("aria-invalid", "true")
    expect(ann.notice).to_be_hidden()
    expect(ann.by_id("invitations")).to_be_hidden()
    expect(ann.challenge_name_button).to_be_enabled()


def test_an_unlisted_challengers_invitation_lasts_until_they_leave(people: People) -> None:
    ann = _first_in_lobby(people)
    bob = people.open("bob")
    bob.join()
    expect(ann.online_count).to_have_text("2 online · showing 1", timeout=ALONE_TIMEOUT_MS)

    # Case does not matter, as for the server: bob types ann's name in capitals.
    bob.challenge_by_name(ann.name.upper())
    expect(bob.outgoing(ann)).to_contain_text(f"Waiting for {ann.name}…")
    expect(ann.row(ann)).to_have_attribute("data-state", "INVITATION_RECEIVED")
    expect(ann.incoming(bob)).to_contain_text(f"{bob.name} challenges you")
    expect(ann.row(bob)).to_have_count(0)

    bob.context.close()
    expect(ann.incoming(bob)).to_have_count(0)
    expect(ann.notice).to_have_text(f"{bob.name} left")
    expect(ann.row(ann)).to_have_attribute("data-state", "AVAILABLE")
    expect(ann.online_count).to_have_text("1 online", timeout=ALONE_TIMEOUT_MS)
