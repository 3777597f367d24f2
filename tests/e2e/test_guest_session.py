"""A guest's session (issue 18): changing name on the same connection, without a reload, with
the refusals said beside the field; and leaving."""

from __future__ import annotations

import pytest
from playwright.sync_api import WebSocket, expect

from tests.e2e.people import People
from tests.e2e.player import Player
from tests.e2e.test_accounts import register

pytestmark = pytest.mark.e2e


def _sockets(me: Player) -> list[WebSocket]:
    """Every WebSocket the page opens from now on."""
    opened: list[WebSocket] = []
    me.page.on("websocket", lambda socket: opened.append(socket))
    return opened


def _open_rename(me: Player) -> None:
    me.page.get_by_role("navigation", name="Guest").get_by_role(
        "button", name="Change name"
    ).click()
    expect(me.page.get_by_label("New name")).to_be_focused()


def _rename(me: Player, name: str) -> None:
    me.page.get_by_label("New name").fill(name)
    me.page.get_by_role("button", name="Change", exact=True).click()


def test_a_guest_changes_name_on_the_same_connection(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    expect(bob.row(ann)).to_be_visible()
    sockets = _sockets(ann)
    error = ann.by_id("rename-error")

    # Mistakes are caught beside the field, and change nothing.
    _open_rename(ann)
    _rename(ann, "no spaces")
    expect(error).to_have_text("Use only letters, digits, _ and - (no spaces or other characters).")
    expect(ann.page.get_by_label("New name")).to_have_attribute("aria-invalid", "true")
    _rename(ann, bob.name.upper())
    expect(error).to_have_text(f"{bob.name.upper()} is already online: pick another name.")
    _rename(ann, ann.name)
    expect(error).to_have_text("That is your name already.")
    expect(ann.greeting).to_have_text(f"Hello {ann.name}")

    new_name = f"zed_{people.suffix}"
    _rename(ann, new_name)
    expect(ann.greeting).to_have_text(f"Hello {new_name}")
    expect(ann.notice).to_have_text(f"You are now {new_name}.")
    expect(ann.by_id("rename-form")).to_be_hidden()
    expect(ann.row(new_name)).to_contain_text(f"{new_name} (you)")
    expect(bob.row(new_name)).to_have_attribute("data-state", "AVAILABLE")
    expect(bob.row(ann)).to_have_count(0)
    assert sockets == [], "the name changed on the page's open connection"
    ann.name = new_name

    # The new name plays as any other.
    bob.challenge(ann)
    ann.accept(bob)
    expect(ann.game).to_be_visible()
    # No session buttons in a game.
    expect(ann.by_id("guest-bar")).to_be_hidden()


def test_a_name_only_the_server_can_refuse_is_said_beside_the_name_field(people: People) -> None:
    """A registered name is not in the lobby's list: the server refuses it, and the guest,
    whose session ended with the change, gets the first screen with the reason beside it."""
    owner = people.open("owner")
    register(owner, "Purple")
    owner.page.get_by_role("navigation", name="Account").get_by_role(
        "button", name="Sign out"
    ).click()
    expect(owner.by_id("name-view")).to_be_visible()

    ann = people.open("ann")
    ann.join()
    _open_rename(ann)
    _rename(ann, owner.name)
    expect(ann.name_input).to_have_value(owner.name)
    expect(ann.name_error).to_have_text(
        f"{owner.name} belongs to a registered player: sign in to use it."
    )
    expect(ann.page.get_by_role("button", name=f"Sign in as {owner.name}")).to_be_visible()
    expect(ann.greeting).to_be_hidden()
    # Another name from there joins again.
    ann.join(f"ann2_{people.suffix}")


def test_a_guest_leaves_and_the_others_see_them_go(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    expect(ann.row(bob)).to_have_attribute("data-state", "AVAILABLE")
    bob.challenge(ann)
    expect(ann.incoming(bob)).to_be_visible()

    ann.page.get_by_role("navigation", name="Guest").get_by_role("button", name="Leave").click()
    expect(ann.by_id("name-view")).to_be_visible()
    expect(ann.notice).to_have_text(
        f"You left the lobby, {ann.name}: a guest's record is forgotten."
    )
    expect(ann.name_input).to_have_value(ann.name)
    expect(ann.greeting).to_be_hidden()
    expect(ann.by_id("guest-bar")).to_be_hidden()
    expect(ann.incoming(bob)).to_have_count(0)
    expect(bob.row(ann)).to_have_count(0)
    expect(bob.notice).to_have_text(f"{ann.name} left")
    # Back in under the same name, from the first screen.
    ann.join()
    expect(bob.row(ann)).to_have_attribute("data-state", "AVAILABLE")
