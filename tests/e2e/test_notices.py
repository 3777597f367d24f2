"""Notices where the person is looking (issue 18): fixed on screen whatever the scroll
position, announced through live regions, an invitation accepted with one key, and the
hidden tab's title saying what needs the person."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game

pytestmark = pytest.mark.e2e

SMALL = {"width": 800, "height": 200}

HIDE = """hidden => {
    Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
    Object.defineProperty(document, "visibilityState",
        {configurable: true, get: () => (hidden ? "hidden" : "visible")});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def _scroll_to_bottom(me: Player) -> None:
    me.page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(me.by_id("lobby-title")).not_to_be_in_viewport()


def test_an_invitation_shows_on_screen_while_scrolled_and_one_key_accepts_it(
    people: People,
) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.page.set_viewport_size(SMALL)
    ann.join()
    bob.join()
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")
    _scroll_to_bottom(ann)

    bob.challenge(ann)
    invitation = ann.incoming(bob)
    expect(invitation).to_contain_text(f"{bob.name} challenges you")
    expect(invitation).to_be_in_viewport()
    expect(ann.by_id("sr-live")).to_have_text(f"{bob.name} challenges you. Press Enter to accept.")
    # One step: the Accept button has the focus, so Enter accepts.
    expect(ann.page.get_by_role("button", name=f"Accept challenge from {bob.name}")).to_be_focused()
    ann.page.keyboard.press("Enter")
    expect(ann.game).to_be_visible()
    expect(bob.game).to_be_visible()


def test_a_decline_and_a_result_show_on_screen_in_a_live_region(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    for me in (ann, bob):
        me.page.set_viewport_size(SMALL)
        me.join()
    expect(ann.row(bob)).to_have_attribute("data-state", "AVAILABLE")
    ann.challenge(bob)
    _scroll_to_bottom(ann)
    bob.decline(ann)
    expect(ann.notice).to_have_text(f"{bob.name} declined your challenge")
    expect(ann.notice).to_be_in_viewport()
    expect(ann.notice).to_have_attribute("aria-live", "polite")

    start_game(bob, ann)  # ann moves first
    play_moves(ann, bob, [0, 1, 0, 1, 0, 1])
    ann.page.evaluate("window.scrollTo(0, 0)")
    ann.click_column(0)
    expect(ann.notice).to_have_text("You won by four in a row")
    expect(ann.notice).to_be_in_viewport()
    expect(bob.notice).to_have_text(f"{ann.name} won by four in a row")
    expect(bob.notice).to_be_in_viewport()


def test_a_hidden_tab_says_invitation_and_your_turn_in_its_title(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    title = ann.page.title()
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")

    ann.page.evaluate(HIDE, True)
    bob.challenge(ann)
    expect(ann.page).to_have_title(f"Invitation from {bob.name} — {title}")
    ann.page.evaluate(HIDE, False)
    expect(ann.page).to_have_title(title)

    ann.accept(bob)  # ann is player 1 and moves first
    expect(ann.turn).to_have_text("Your turn")
    ann.click_column(3)
    ann.page.evaluate(HIDE, True)
    expect(bob.turn).to_have_text("Your turn")
    bob.click_column(4)
    expect(ann.page).to_have_title(f"Your turn — {title}")
    # The opponent's move is read out by screen readers.
    expect(ann.by_id("sr-live")).to_have_text(f"{bob.name} played column 5")
    ann.page.evaluate(HIDE, False)
    expect(ann.page).to_have_title(title)
    expect(ann.page).not_to_have_title(re.compile("Your turn"))


COUNT_TONES = """() => {
    window.tones = 0;
    const Real = window.AudioContext;
    window.AudioContext = class extends Real {
        createOscillator() {
            const tone = super.createOscillator();
            const start = tone.start.bind(tone);
            tone.start = (...args) => { window.tones += 1; return start(...args); };
            return tone;
        }
    };
}"""


def test_the_hidden_tab_sound_is_off_until_turned_on_and_is_remembered(people: People) -> None:
    ann = people.open("ann")
    ann.context.add_init_script(f"({COUNT_TONES})()")
    ann.page.reload()
    bob = people.open("bob")
    ann.join()
    bob.join()
    toggle = ann.page.get_by_role("button", name="Sound alerts")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text("Sound alerts: off")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")

    # Off: the title says it, silently.
    ann.page.evaluate(HIDE, True)
    bob.challenge(ann)
    expect(ann.page).to_have_title(re.compile(f"^Invitation from {bob.name}"))
    assert ann.page.evaluate("window.tones") == 0
    ann.page.evaluate(HIDE, False)
    bob.cancel_challenge(ann)
    expect(ann.incoming(bob)).to_have_count(0)

    # On: remembered across a reload, and one tone with the next alert while hidden.
    toggle.click()
    expect(toggle).to_have_text("Sound alerts: on")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    ann.page.reload()
    expect(ann.greeting).to_have_text(f"Hello {ann.name}")
    expect(toggle).to_have_text("Sound alerts: on")
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")
    ann.page.evaluate(HIDE, True)
    bob.challenge(ann)
    expect(ann.page).to_have_title(re.compile(f"^Invitation from {bob.name}"))
    assert ann.page.evaluate("window.tones") == 1
    # Seen again: the title is cleared; a visible tab makes no sound.
    ann.page.evaluate(HIDE, False)
    expect(ann.page).not_to_have_title(re.compile("Invitation"))
    ann.accept(bob)
    expect(ann.turn).to_have_text("Your turn")
    ann.click_column(3)
    expect(bob.turn).to_have_text("Your turn")
    bob.click_column(3)
    expect(ann.turn).to_have_text("Your turn")
    assert ann.page.evaluate("window.tones") == 1
