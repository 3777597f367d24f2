"""An invitation nobody answers expires, and both pages say so.

This module's server lets an invitation wait three seconds (``--invitation-timeout 3``)
instead of a minute.
"""

from __future__ import annotations

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
    with running_server(grace=1.0, db=db, extra=("--invitation-timeout", "3")) as server:
        yield server


def test_an_unanswered_invitation_expires_on_both_pages(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    for me in (ann, bob):
        me.join()
    ann.challenge(bob)
    expect(bob.incoming(ann)).to_contain_text(f"{ann.name} challenges you")
    # Nobody answers: three seconds later both are told, and the invitation is gone.
    expect(ann.notice).to_have_text(f"Your challenge to {bob.name} expired")
    expect(bob.notice).to_have_text(f"{ann.name}'s challenge expired")
    expect(ann.outgoing(bob)).to_have_count(0)
    expect(bob.incoming(ann)).to_have_count(0)
    for me, other in ((ann, bob), (bob, ann)):
        expect(me.row(other)).to_have_attribute("data-state", "AVAILABLE")
        expect(me.row(me)).to_have_attribute("data-state", "AVAILABLE")
    # Both are free again: an expiry is no decline, so ann may invite bob at once.
    start_game(ann, bob)
