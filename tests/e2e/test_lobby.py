"""The lobby in the browser: names, invitations, and watching other players."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves

pytestmark = pytest.mark.e2e

BAD_CHARACTERS = "Use only letters, digits, _ and - (no spaces or other characters)."


def _both_available(ann: Player, bob: Player) -> None:
    for me in (ann, bob):
        for who in (ann, bob):
            expect(me.row(who)).to_have_attribute("data-state", "AVAILABLE")
        expect(me.by_id("invitations")).to_be_hidden()


def test_declined_and_cancelled_challenges(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()

    ann.challenge(bob)
    expect(bob.incoming(ann)).to_contain_text(f"{ann.name} challenges you")
    bob.decline(ann)
    expect(ann.notice).to_have_text(f"{bob.name} declined your challenge")
    expect(ann.outgoing(bob)).to_have_count(0)
    expect(bob.incoming(ann)).to_have_count(0)
    _both_available(ann, bob)

    # Declined, ann may not invite bob again for a while (the server says so), but bob may.
    ann.page.get_by_role("button", name=f"Challenge {bob.name}", exact=True).click()
    expect(ann.row(bob).get_by_role("alert")).to_have_text(
        re.compile(
            rf"^{bob.name} declined your challenge: you can challenge them again in \d+ seconds?\.$"
        )
    )
    bob.challenge(ann)
    expect(ann.incoming(bob)).to_contain_text(f"{bob.name} challenges you")
    bob.cancel_challenge(ann)
    expect(ann.incoming(bob)).to_have_count(0)
    expect(ann.notice).to_have_text(f"{bob.name} cancelled the challenge")
    expect(bob.outgoing(ann)).to_have_count(0)
    _both_available(ann, bob)


def test_holding_an_invitation_one_may_challenge_someone_else_which_declines_it(
    people: People,
) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    for me in (ann, bob, cy):
        me.join()

    ann.challenge(bob)
    expect(bob.incoming(ann)).to_contain_text(f"{ann.name} challenges you")
    bob.challenge(cy)
    expect(bob.incoming(ann)).to_have_count(0)
    expect(ann.notice).to_have_text(f"{bob.name} declined your challenge")
    expect(ann.outgoing(bob)).to_have_count(0)
    expect(cy.incoming(bob)).to_contain_text(f"{bob.name} challenges you")


def test_a_challenged_user_who_leaves_is_said_to_have_left_not_to_have_declined(
    people: People,
) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()

    ann.challenge(bob)
    expect(bob.incoming(ann)).to_contain_text(f"{ann.name} challenges you")
    bob.context.close()
    expect(ann.notice).to_have_text(f"{bob.name} left")
    expect(ann.outgoing(bob)).to_have_count(0)
    expect(ann.row(ann)).to_have_attribute("data-state", "AVAILABLE")


def test_a_third_user_sees_the_players_states_change_live(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    cy = people.open("cy")
    cy.join()
    ann.join()
    bob.join()

    def states(ann_state: str, ann_label: str, bob_state: str, bob_label: str) -> None:
        expect(cy.row(ann)).to_have_attribute("data-state", ann_state)
        expect(cy.row(ann)).to_contain_text(ann_label)
        expect(cy.row(bob)).to_have_attribute("data-state", bob_state)
        expect(cy.row(bob)).to_contain_text(bob_label)

    # cy was there first: ann and bob appear on cy's page as they join.
    states("AVAILABLE", "available", "AVAILABLE", "available")
    ann.challenge(bob)
    states("INVITATION_SENT", "inviting", "INVITATION_RECEIVED", "invited")
    for who in (ann, bob):
        challenge = cy.page.get_by_role("button", name=f"Challenge {who.name}", exact=True)
        expect(challenge).to_be_disabled()

    bob.accept(ann)
    expect(ann.game).to_be_visible()
    states("PLAYING", "playing", "PLAYING", "playing")

    # Both move first: a game left before that is not counted (issue 11 item 10).
    play_moves(bob, ann, [3, 3])
    ann.quit_game()
    expect(bob.result).to_have_text("You won by forfeit")
    # Back to available as soon as the game ends, while both still look at the result.
    states("AVAILABLE", "available", "AVAILABLE", "available")
    expect(cy.row(bob).locator("td")).to_have_text(
        [bob.name, "available", "1", "0", "0", "Challenge"]
    )
    expect(cy.row(ann).locator("td")).to_have_text(
        [ann.name, "available", "0", "1", "0", "Challenge"]
    )
    expect(cy.page.get_by_role("button", name=f"Challenge {ann.name}", exact=True)).to_be_enabled()

    # And a player who leaves disappears from cy's lobby.
    bob.context.close()
    expect(cy.row(bob)).to_have_count(0)
    expect(cy.row(ann)).to_have_count(1)


def test_names_the_rules_refuse(people: People) -> None:
    ann = people.open("ann")
    refused = {
        "": "Please enter a name.",
        "a" * 25: "That name is too long: at most 24 characters (it has 25).",
        "<b>x</b>": BAD_CHARACTERS,
        "ann smith": BAD_CHARACTERS,
        " ann": BAD_CHARACTERS,
    }
    for name, message in refused.items():
        ann.submit_name(name)
        expect(ann.name_error).to_have_text(message)
        expect(ann.name_input).to_have_attribute("aria-invalid", "true")
        expect(ann.name_input).to_be_focused()
        expect(ann.greeting).to_be_hidden()
        expect(ann.by_id("name-view")).to_be_visible()
    # Typing clears the message; a name of exactly 24 characters is fine.
    ann.name_input.press_sequentially("z")
    expect(ann.name_error).to_have_text("")
    ann.join(ann.name.ljust(24, "x"))
    expect(ann.row(ann)).to_contain_text("(you)")


def test_a_name_already_online_is_refused_and_the_form_stays_usable(people: People) -> None:
    bob = people.open("bob")
    bob.join()
    other = people.open("other")

    # Names are unique regardless of case.
    for taken in (bob.name, bob.name.upper()):
        other.submit_name(taken)
        # In the page's words, with the name as typed (the page knows no other spelling).
        expect(other.name_error).to_have_text(f"{taken} is already online: pick another name.")
        expect(other.greeting).to_be_hidden()
        expect(other.name_input).to_be_editable()
        expect(other.name_input).to_have_value(taken)
        expect(other.play_button).to_be_enabled()

    other.join()
    expect(other.row(bob)).to_have_attribute("data-state", "AVAILABLE")
    expect(bob.row(other)).to_have_attribute("data-state", "AVAILABLE")
