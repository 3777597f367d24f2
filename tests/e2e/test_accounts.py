"""Accounts in the browser: registering, signing out and in, colours, records, profiles
and replays; and what a guest or a mistyped password gets."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse 42"
PURPLE = "rgb(123, 44, 191)"  # #7b2cbf
ORANGE = "rgb(247, 127, 0)"  # #f77f00
EMPTY = ["......."] * 6
WIN = re.compile(r"\bwin\b")
BAD_CHARACTERS = "Use only letters, digits, _ and - (no spaces or other characters)."
SHORT_PASSWORD = "That password is too short: at least 8 characters (it has 5)."
LONG_PASSWORD = "That password is too long: at most 128 characters (it has 129)."
NO_COLOUR = "Please choose a token colour."
TAKEN = "The name “{name}” is already taken: choose another one, or sign in if it is yours."


# --------------------------------------------------------------------------- steps


def _form(person: Player, form_id: str) -> Locator:
    return person.page.locator(f"#{form_id}")


def register(person: Player, color: str, password: str = PASSWORD) -> None:
    """Open the Register tab, fill it in and wait for the lobby, signed in."""
    person.page.get_by_role("tab", name="Register").click()
    form = _form(person, "register-form")
    form.get_by_label("Username").fill(person.name)
    form.get_by_label("Password").fill(password)
    form.get_by_role("radio", name=color).check()
    form.get_by_role("button", name="Create account").click()
    expect_signed_in(person)


def sign_in(person: Player, password: str = PASSWORD) -> None:
    """Sign in from the first screen and wait for the lobby."""
    submit_sign_in(person, person.name, password)
    expect_signed_in(person)


def submit_sign_in(person: Player, username: str, password: str) -> None:
    """Fill in the Sign in tab and press its button (whatever the outcome)."""
    person.page.get_by_role("tab", name="Sign in").click()
    form = _form(person, "signin-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def sign_out(person: Player) -> None:
    """Press Sign out in the header and wait for the first screen."""
    person.page.get_by_role("navigation", name="Account").get_by_role(
        "button", name="Sign out"
    ).click()
    expect(person.by_id("name-view")).to_be_visible()
    expect(person.notice).to_have_text("You are signed out.")
    expect(person.greeting).to_be_hidden()
    expect(person.by_id("account-bar")).to_be_hidden()


def expect_signed_in(person: Player) -> None:
    """In the lobby under the account's name, marked as registered, with Sign out at hand."""
    expect(person.greeting).to_have_text(f"Hello {person.name}")
    expect(person.lobby).to_be_visible()
    expect(person.page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(person.row(person)).to_contain_text("(you)")
    expect(person.row(person).get_by_role("img", name="registered player")).to_be_visible()


def record(person: Player, who: Player) -> Locator:
    """The W, L and D cells of ``who``'s row in ``person``'s lobby."""
    return person.row(who).locator("td.num")


def open_profile(person: Player, who: Player) -> None:
    """Click ``who``'s name in the lobby."""
    person.page.get_by_role("button", name=f"View {who.name}'s profile").click()
    expect(person.by_id("profile")).to_be_visible()
    expect(person.by_id("profile-title")).to_have_text(who.name)


def expect_profile(person: Player, wins: int, losses: int, draws: int, ratio: str) -> None:
    stats = person.by_id("profile-stats").locator("dd")
    expect(stats).to_have_text([str(wins), str(losses), str(draws), ratio])


def token_color(person: Player, selector: str) -> str:
    """The colour the page paints the first element matching ``selector`` with."""
    color: str = person.page.locator(selector).first.evaluate(
        "element => getComputedStyle(element).backgroundColor"
    )
    return color


# --------------------------------------------------------------------------- tests


def test_register_sign_out_sign_in_and_pick_a_colour(people: People) -> None:
    ann = people.open("ann")
    register(ann, "Teal")
    expect(ann.by_id("color-picker").get_by_role("radio", name="Teal")).to_be_checked()

    sign_out(ann)
    expect(ann.lobby).to_be_hidden()
    # The Sign in tab is open, with the name filled in: only the password is missing.
    expect(ann.page.get_by_role("tab", name="Sign in")).to_have_attribute("aria-selected", "true")
    expect(_form(ann, "signin-form").get_by_label("Username")).to_have_value(ann.name)
    sign_in(ann)

    picker = ann.by_id("color-picker")
    picker.get_by_role("radio", name="Purple").check()
    expect(ann.by_id("color-status")).to_have_text("Saved: Purple from your next game.")
    expect(picker.get_by_role("radio", name="Purple")).to_be_checked()

    # Signed in, a reload goes straight back to the lobby, with the colour kept.
    ann.page.reload()
    expect_signed_in(ann)
    expect(ann.by_id("name-view")).to_be_hidden()
    expect(ann.by_id("color-picker").get_by_role("radio", name="Purple")).to_be_checked()


def test_two_accounts_play_then_see_records_profiles_and_the_replay(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    register(ann, "Purple")
    register(bob, "Orange")
    for me, other in ((ann, bob), (bob, ann)):
        expect(me.row(other).get_by_role("img", name="registered player")).to_be_visible()
        expect(record(me, other)).to_have_text(["0", "0", "0"])

    # bob, challenged, is player 1 and keeps his orange; ann's purple is far enough from it.
    start_game(ann, bob)
    for me in (ann, bob):
        expect(me.by_id("account-bar")).to_be_hidden()
    assert token_color(ann, ".chip-you") == PURPLE
    assert token_color(ann, ".chip-opp") == ORANGE
    assert token_color(bob, ".chip-you") == ORANGE
    play_moves(bob, ann, [3, 2, 3, 4, 3, 2, 3])
    expect(bob.result).to_have_text("You won by four in a row")
    assert token_color(ann, "#board .token.p1") == ORANGE
    assert token_color(ann, "#board .token.p2") == PURPLE
    final = ann.board_rows()

    for me in (ann, bob):
        me.back_to_lobby()
        expect(record(me, bob)).to_have_text(["1", "0", "0"])
        expect(record(me, ann)).to_have_text(["0", "1", "0"])

    # bob's profile, from his name in ann's lobby.
    open_profile(ann, bob)
    expect_profile(ann, 1, 0, 0, "100%")
    games = ann.page.locator("#profile-games tbody tr")
    expect(games).to_have_count(1)
    expect(games.locator("td").nth(0)).to_have_text(ann.name)
    expect(games.locator("td").nth(1)).to_have_text("Won")
    expect(games.locator("td").nth(2)).to_have_text("four in a row")
    expect(games.locator("td").nth(3)).to_have_text("7")
    ann.page.get_by_role("button", name="Back to lobby").click()
    expect(ann.lobby).to_be_visible()

    # ann's own, from the header.
    ann.page.get_by_role("button", name="My profile").click()
    expect(ann.by_id("profile-title")).to_have_text(ann.name)
    expect_profile(ann, 0, 1, 0, "0%")
    expect(games.locator("td").nth(0)).to_have_text(bob.name)
    expect(games.locator("td").nth(1)).to_have_text("Lost")

    # The replay starts on the empty board and steps with the buttons ...
    ann.page.get_by_role("button", name=re.compile(f"^Replay the game against {bob.name}")).click()
    replay = ann.by_id("replay")
    expect(replay).to_be_visible()
    expect(ann.by_id("replay-title")).to_have_text(f"{bob.name} vs {ann.name}")
    expect(ann.by_id("replay-clock")).to_have_text("Untimed")
    step = ann.by_id("replay-step")
    expect(step).to_have_text("Move 0 of 7")
    assert ann.board_rows("replay-board") == EMPTY
    buttons = {
        label: replay.get_by_role("button", name=label, exact=True)
        for label in ("First", "Back", "Forward", "Last")
    }
    for _ in range(3):
        buttons["Forward"].click()
    expect(step).to_have_text("Move 3 of 7")
    expect(ann.by_id("replay-move")).to_have_text(f"{bob.name} played column 4")
    assert ann.board_rows("replay-board") == [*EMPTY[:4], "...1...", "..21..."]
    expect(ann.by_id("replay-result")).to_be_hidden()
    buttons["Back"].click()
    expect(step).to_have_text("Move 2 of 7")
    assert ann.board_rows("replay-board") == [*EMPTY[:5], "..21..."]
    buttons["Last"].click()
    expect(step).to_have_text("Move 7 of 7")
    assert ann.board_rows("replay-board") == final
    expect(ann.by_id("replay-result")).to_have_text(f"{bob.name} won by four in a row")
    expect(ann.page.locator("#replay-board .cell.win")).to_have_count(4)
    for row in (2, 3, 4, 5):
        cell = ann.page.locator(f'#replay-board .cell[data-row="{row}"][data-col="3"]')
        expect(cell).to_have_class(WIN)
    expect(buttons["Forward"]).to_have_attribute("aria-disabled", "true")
    assert token_color(ann, "#replay-board .token.p1") == ORANGE
    buttons["First"].click()
    expect(step).to_have_text("Move 0 of 7")
    assert ann.board_rows("replay-board") == EMPTY
    expect(buttons["Back"]).to_have_attribute("aria-disabled", "true")

    # ... and with the keys.
    keyboard = ann.page.keyboard
    keyboard.press("End")
    expect(step).to_have_text("Move 7 of 7")
    keyboard.press("Home")
    keyboard.press("ArrowRight")
    keyboard.press("ArrowRight")
    expect(step).to_have_text("Move 2 of 7")
    keyboard.press("ArrowLeft")
    expect(step).to_have_text("Move 1 of 7")
    assert ann.board_rows("replay-board") == [*EMPTY[:5], "...1..."]

    ann.page.get_by_role("button", name="Back to profile").click()
    expect(ann.by_id("profile")).to_be_visible()


def test_a_guest_page_load_logs_nothing(people: People) -> None:
    """A guest's first visit asks the server who they are; the answer "nobody" must not show
    up as a failed request (or anything else) in the console. The shared check tolerates
    the API's 4xx replies, so this one reads every line the page logged."""
    guest = people.open("guest")
    expect(guest.name_input).to_be_visible()
    guest.page.wait_for_load_state("networkidle")
    lines = people.logs[guest.page].lines
    assert not [line for line in lines if line.startswith(("[error]", "[warning]"))], lines


def test_a_guest_cannot_take_a_registered_name_and_a_wrong_password_is_refused(
    people: People,
) -> None:
    ann = people.open("ann")
    register(ann, "Green")
    sign_out(ann)

    # Someone else, as a guest, asks for ann's name: the page says why, in its own words.
    other = people.open("other")
    other.submit_name(ann.name)
    expect(other.name_error).to_have_text(
        f"{ann.name} belongs to a registered player: sign in to use it."
    )
    expect(other.greeting).to_be_hidden()
    expect(other.name_input).to_be_focused()

    # They take up the offer to sign in, but do not know the password.
    other.page.get_by_role("button", name=f"Sign in as {ann.name}").click()
    signin = _form(other, "signin-form")
    expect(signin.get_by_label("Username")).to_have_value(ann.name)
    expect(signin.get_by_label("Password")).to_be_focused()
    signin.get_by_label("Password").fill("not the password")
    signin.get_by_role("button", name="Sign in").click()
    expect(other.by_id("signin-error")).to_have_text("Wrong username or password.")
    expect(signin.get_by_label("Password")).to_have_value("")
    expect(other.greeting).to_be_hidden()

    # The owner signs in with the right one.
    sign_in(ann)


def test_the_register_form_checks_what_the_server_checks(people: People) -> None:
    ann = people.open("ann")
    register(ann, "Blue")

    other = people.open("other")
    other.page.get_by_role("tab", name="Register").click()
    form = _form(other, "register-form")
    username = form.get_by_label("Username")
    password = form.get_by_label("Password")
    create = form.get_by_role("button", name="Create account")

    def refused(field: Locator, error_id: str, message: str) -> None:
        create.click()
        expect(other.by_id(error_id)).to_have_text(message)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(other.greeting).to_be_hidden()

    refused(username, "register-username-error", "Please enter a name.")
    expect(username).to_be_focused()
    username.fill("no spaces")
    refused(username, "register-username-error", BAD_CHARACTERS)
    username.fill(other.name)
    password.fill("short")
    refused(password, "register-password-error", SHORT_PASSWORD)
    expect(password).to_be_focused()
    password.fill("x" * 129)
    refused(password, "register-password-error", LONG_PASSWORD)
    password.fill(PASSWORD)
    refused(other.by_id("register-color-group"), "register-color-error", NO_COLOUR)

    # The server has the last word: ann's name is taken.
    form.get_by_role("radio", name="Black").check()
    username.fill(ann.name)
    refused(username, "register-username-error", TAKEN.format(name=ann.name))
    username.fill(other.name)
    create.click()
    expect_signed_in(other)


def test_too_many_failed_sign_ins_are_refused_with_the_wait(people: People) -> None:
    ann = people.open("ann")
    register(ann, "Yellow")
    sign_out(ann)

    error = ann.by_id("signin-error")
    for _ in range(5):
        submit_sign_in(ann, ann.name, "not the password")
        expect(error).to_have_text("Wrong username or password.")
    # Now even the right password has to wait; the page says for how long.
    submit_sign_in(ann, ann.name, PASSWORD)
    expect(error).to_have_text("Too many failed sign-ins for this name. Try again in 15 minutes.")
    expect(ann.greeting).to_be_hidden()


def test_signing_in_on_another_device_takes_the_session_over(people: People) -> None:
    """Issue 11 item 16: an account's owner is never told that their own name is online:
    signing in elsewhere takes the session over; the first browser says where it went, and
    can take it back, or sign out there while this one plays on."""
    ann = people.open("ann")
    register(ann, "Pink")

    # The same person in a second browser.
    elsewhere = people.open("ann")
    submit_sign_in(elsewhere, ann.name, PASSWORD)
    expect_signed_in(elsewhere)
    moved = (
        "You are now playing in another browser or on another device. Play here to take it back."
    )
    expect(ann.by_id("entry-account")).to_contain_text(f"You are signed in as {ann.name}.")
    expect(ann.by_id("entry-account-error")).to_have_text(moved)
    play_here = ann.page.get_by_role("button", name=f"Play as {ann.name}")
    expect(play_here).to_be_focused()

    # Taking it back moves it once, not back and forth.
    play_here.click()
    expect_signed_in(ann)
    expect(elsewhere.by_id("entry-account-error")).to_have_text(moved)
    elsewhere.by_id("entry-account").get_by_role("button", name="Sign out").click()
    expect(elsewhere.notice).to_have_text("You are signed out.")
    expect(elsewhere.page.get_by_role("tabpanel", name="Sign in")).to_be_visible()
    # The first browser is still signed in and in the lobby.
    expect_signed_in(ann)
