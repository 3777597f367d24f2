"""A server restart in the middle of a game (issue 18): the pages reconnect quickly (the
first retry within half a second, then backoff of at most 10 s, or at once with "Reconnect
now"), and say plainly that the game was not counted."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.people import People
from tests.e2e.player import play_moves, start_game
from tests.e2e.server_process import ROOT, ServerProcess, serve_args

pytestmark = pytest.mark.e2e

REFUSED = r"^WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws' failed: "
NOT_COUNTED = "Game over — the server restarted: this game was not counted"
MAX_BACKOFF_S = 10.0


class RestartableServer:
    """The real server, stopped (SIGTERM) and started again on the same port and database,
    as an operator restarts it; ``http_url`` stays the pages' address."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.process = ServerProcess.start(serve_args(grace=3.0, db=db), cwd=ROOT)
        self.port = self.process.info.port
        self.logs: list[str] = []

    @property
    def http_url(self) -> str:
        return self.process.http_url

    def log(self) -> str:
        return "\n".join([*self.logs, self.process.log()])

    def stop(self) -> None:
        code = self.process.stop()
        self.logs.append(self.process.log())
        assert code == 0, f"the server exited with code {code} after SIGTERM"

    def start(self) -> None:
        args = serve_args(grace=3.0, db=self.db, extra=("--port", str(self.port)))
        self.process = ServerProcess.start(args, cwd=ROOT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableServer]:
    db = tmp_path_factory.mktemp("server") / "c4actors.sqlite3"
    server = RestartableServer(db)
    try:
        yield server
    finally:
        server.stop()


def test_a_restart_mid_game_reconnects_quickly_and_says_the_game_was_not_counted(
    people: People, server: RestartableServer
) -> None:
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)  # bob moves first
    play_moves(bob, ann, [3, 3, 4])
    for me in (ann, bob):
        # While the server is down, each reconnect attempt is refused, and Chromium logs it.
        people.tolerate(me, REFUSED)

    server.stop()
    for me in (ann, bob):
        expect(me.connection_banner).to_have_text("Disconnected — reconnecting…")
        expect(me.game).to_have_class(re.compile(r"\boffline\b"))
    reconnect = ann.page.get_by_role("button", name="Reconnect now")
    expect(reconnect).to_be_visible()
    # Down long enough for the backoff to grow past its first retries.
    ann.page.wait_for_timeout(2_000)

    server.start()
    back = time.monotonic()
    # ann does not wait for the next retry: the button tries at once.
    reconnect.click()
    expect(ann.connection_banner).to_be_hidden(timeout=3_000)
    # bob waits for the backoff, which never waits longer than 10 s (plus the time a
    # loaded machine takes to connect).
    expect(bob.connection_banner).to_be_hidden(timeout=int((MAX_BACKOFF_S + 2) * 1000))
    assert time.monotonic() - back <= MAX_BACKOFF_S + 2
    for me in (ann, bob):
        expect(me.result).to_have_text(NOT_COUNTED)
        expect(me.notice).to_have_text(NOT_COUNTED)
        expect(me.game).not_to_have_class(re.compile(r"\boffline\b"))
        expect(me.turn).to_have_text("Game over")
        # Never the server's raw words.
        expect(me.game_message).not_to_have_text(re.compile("not playing in this game"))
        me.back_to_lobby()
        expect(me.row(ann)).to_have_attribute("data-state", "AVAILABLE")
        # Nobody's record changed.
        expect(me.row(ann).locator("td.num")).to_have_text(["0", "0", "0"])
    # The new server plays on.
    start_game(ann, bob)
