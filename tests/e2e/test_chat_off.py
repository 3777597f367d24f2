"""A server started with ``--chat off``: the game view shows no chat panel."""

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
    with running_server(grace=1.0, db=db, extra=("--chat", "off")) as server:
        yield server


def test_no_chat_panel_when_the_server_has_chat_off(people: People) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    for me in (ann, bob):
        expect(me.turn).to_be_visible()
        expect(me.by_id("chat")).to_be_hidden()
