"""Chat in a game in the browser: an exchange shown as text, a mute, the chat after the end."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import Player, start_game

pytestmark = pytest.mark.e2e


def say(me: Player, text: str) -> None:
    me.page.get_by_role("textbox", name="Chat message").fill(text)
    me.page.get_by_role("button", name="Send", exact=True).click()


def test_a_chat_exchange_with_a_mute(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    log = {me: me.by_id("chat-log") for me in (ann, bob)}
    for me in (ann, bob):
        expect(me.by_id("chat")).to_be_visible()
        expect(log[me].locator("li")).to_have_count(0)

    # Markup is shown as typed, never interpreted.
    say(bob, "hi <b>ann</b>, good luck")
    for me in (ann, bob):
        expect(log[me].locator("li")).to_have_count(1)
    expect(log[ann].locator("li")).to_have_text([f"{bob.name}: hi <b>ann</b>, good luck"])
    expect(log[bob].locator("li")).to_have_text(["You: hi <b>ann</b>, good luck"])
    expect(log[ann].locator("b")).to_have_count(0)
    say(ann, "thanks, you too")
    expect(log[bob].locator("li").last).to_have_text(f"{ann.name}: thanks, you too")

    # A repeat is refused by the server, and the page says so.
    say(ann, "Thanks, you too!")
    expect(ann.by_id("chat-error")).to_have_text(
        "Not sent: you are writing too fast, or repeating yourself."
    )

    # ann mutes bob: his lines disappear from her page, and new ones never show.
    mute = ann.page.get_by_role("button", name=f"Mute {bob.name}")
    mute.click()
    expect(ann.page.get_by_role("button", name=f"Unmute {bob.name}")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(ann.by_id("chat-muted-note")).to_be_visible()
    say(bob, "are you there?")
    expect(log[bob].locator("li")).to_have_count(3)
    expect(log[ann].locator("li")).to_have_count(3)  # kept, hidden
    expect(log[ann].locator("li:visible")).to_have_text(["You: thanks, you too"])
    # ann's own messages still reach bob: muting is ann's page only.
    say(ann, "yes")
    expect(log[bob].locator("li").last).to_have_text(f"{ann.name}: yes")

    # Unmuted, bob's lines come back; after the end, the chat still works.
    ann.page.get_by_role("button", name=f"Unmute {bob.name}").click()
    expect(log[ann].locator("li:visible")).to_have_count(4)
    expect(log[ann].locator("li:visible").nth(2)).to_have_text(f"{bob.name}: are you there?")
    ann.quit_game()
    for me in (ann, bob):
        expect(me.result).to_be_visible()
    say(bob, "gg")
    expect(log[ann].locator("li").last).to_have_text(f"{bob.name}: gg")

    # Back in the lobby and in the next game, the old chat is gone.
    for me in (ann, bob):
        me.back_to_lobby()
    start_game(ann, bob)
    for me in (ann, bob):
        expect(log[me].locator("li")).to_have_count(0)
