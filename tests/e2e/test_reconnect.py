"""Coming back to a game: a reload, a slow reload, a network drop.

A fast reload may never look like a disconnect to the server: if the new page's
``new_connection`` (with the resume token) arrives before the old socket's close, the
server treats it as a takeover of a still-open session and the opponent sees nothing.
That is correct (the game never paused), so the plain reload test only asserts that
the game comes back and continues; the disconnect banner is tested with a reload
made slow on purpose, where the server must see the old socket go first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Route, expect

from tests.e2e.people import People
from tests.e2e.player import Player, play_moves, start_game
from tests.e2e.server_process import ServerProcess, running_server

pytestmark = pytest.mark.e2e

RECONNECT_GRACE = 15.0
BANNER = re.compile(r"^Opponent disconnected, \d+ s$")
OFFLINE_RECONNECT_ERROR = (
    r"^WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws' failed: "
    r"Error in connection establishment: net::ERR_INTERNET_DISCONNECTED$"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A longer grace period than the shared server's: coming back must not race it."""
    db = tmp_path_factory.mktemp("server") / "c4actors.sqlite3"
    with running_server(grace=RECONNECT_GRACE, db=db) as server:
        yield server


def _game_in_progress(people: People) -> tuple[Player, Player]:
    """ann and bob in a game, three moves played: it is ann's turn."""
    ann = people.open("ann")
    bob = people.open("bob")
    ann.join()
    bob.join()
    start_game(ann, bob)
    play_moves(bob, ann, [3, 3, 2])
    return ann, bob


def _expect_game_back(ann: Player, bob: Player, board: list[str]) -> None:
    expect(ann.game).to_be_visible()
    expect(ann.greeting).to_have_text(f"Hello {ann.name}")
    expect(ann.by_id("opponent-line")).to_have_text(f"You are playing with {bob.name}")
    expect(ann.filled_cells).to_have_count(3)
    assert ann.board_rows() == board
    expect(ann.page.locator("#board .cell.last")).to_have_count(1)
    expect(ann.cell(5, 2)).to_have_class(re.compile(r"\blast\b"))
    expect(ann.turn).to_have_text("Your turn")
    expect(ann.connection_banner).to_be_hidden()


def _play_on(ann: Player, bob: Player) -> None:
    play_moves(ann, bob, [4, 1])
    assert ann.board_rows() == bob.board_rows()
    assert ann.board_rows()[5] == ".1112.."
    expect(bob.opponent_banner).to_be_hidden()


def test_reloading_the_tab_brings_the_game_back(people: People) -> None:
    ann, bob = _game_in_progress(people)
    board = ann.board_rows()

    ann.page.reload()
    _expect_game_back(ann, bob, board)
    _play_on(ann, bob)


def test_the_opponent_sees_a_slow_reload_as_a_disconnect(people: People) -> None:
    ann, bob = _game_in_progress(people)
    board = ann.board_rows()

    # Hold the reloaded page's script: the old page (and its socket) is gone, the new
    # one cannot connect until the script is let through.
    held: list[Route] = []
    ann.context.route("**/static/app.js", lambda route: held.append(route))
    with ann.page.expect_request("**/static/app.js"):
        ann.page.reload(wait_until="commit")
    expect(bob.opponent_banner).to_be_visible()
    expect(bob.opponent_banner).to_have_text(BANNER)
    expect(bob.turn).to_have_text(f"{ann.name}'s turn")
    assert len(held) == 1, "the reloaded page's script was not held"

    held[0].continue_()
    ann.context.unroute("**/static/app.js")
    _expect_game_back(ann, bob, board)
    expect(bob.opponent_banner).to_be_hidden()
    _play_on(ann, bob)


def test_a_network_drop_mid_game(people: People) -> None:
    ann, bob = _game_in_progress(people)
    board = ann.board_rows()

    # While offline, each reconnect attempt of the client fails, and Chromium logs it.
    people.tolerate(ann, OFFLINE_RECONNECT_ERROR)
    ann.context.set_offline(True)
    expect(ann.connection_banner).to_have_text("Disconnected — reconnecting…")
    expect(bob.opponent_banner).to_have_text(BANNER)
    ann.context.set_offline(False)
    expect(ann.connection_banner).to_be_hidden()
    expect(bob.opponent_banner).to_be_hidden()
    _expect_game_back(ann, bob, board)
    _play_on(ann, bob)


def test_a_move_made_while_offline_is_played_once_back(people: People) -> None:
    ann, bob = _game_in_progress(people)

    people.tolerate(ann, OFFLINE_RECONNECT_ERROR)
    ann.context.set_offline(True)
    expect(ann.connection_banner).to_have_text("Disconnected — reconnecting…")
    # The client keeps the move and sends it once the session is back.
    ann.click_column(4)
    ann.context.set_offline(False)
    expect(ann.connection_banner).to_be_hidden()
    for me in (ann, bob):
        expect(me.filled_cells).to_have_count(4)
        expect(me.cell(5, 4)).to_have_class(re.compile(r"\bfilled\b"))
    expect(ann.game_message).to_have_text("")
    expect(bob.turn).to_have_text("Your turn")


def test_a_guest_who_closes_the_tab_gets_the_game_back_in_a_new_one(people: People) -> None:
    """Issue 11 item 16: the resume token outlives the tab (localStorage) for the grace
    period, so a new tab takes the game back instead of being told the name is online."""
    ann, bob = _game_in_progress(people)
    board = ann.board_rows()

    ann.page.close()
    expect(bob.opponent_banner).to_have_text(BANNER)
    ann.page = ann.context.new_page()
    ann.open()
    _expect_game_back(ann, bob, board)
    expect(bob.opponent_banner).to_be_hidden()
    _play_on(ann, bob)


def test_a_second_tab_beside_an_open_one_does_not_take_its_session(people: People) -> None:
    """Two open tabs can be two players: only a tab that is gone leaves its session."""
    ann = people.open("ann")
    ann.join()
    second = Player(ann.context, ann.context.new_page(), f"{ann.name}_too", ann.url)
    second.open()
    second.join()
    expect(ann.greeting).to_have_text(f"Hello {ann.name}")
    expect(ann.row(second)).to_be_visible()
    expect(ann.connection_banner).to_be_hidden()


def test_offline_the_board_is_out_of_play_and_reconnect_now_skips_the_wait(
    people: People,
) -> None:
    ann, bob = _game_in_progress(people)

    people.tolerate(ann, OFFLINE_RECONNECT_ERROR)
    ann.context.set_offline(True)
    expect(ann.connection_banner).to_have_text("Disconnected — reconnecting…")
    expect(ann.game).to_have_class(re.compile(r"\boffline\b"))
    reconnect = ann.page.get_by_role("button", name="Reconnect now")
    expect(reconnect).to_be_in_viewport()
    # A click on the board says why nothing happens yet.
    ann.click_column(4)
    expect(ann.game_message).to_have_text(
        "You are offline: this move will be sent when the connection is back."
    )
    # Let the backoff grow (retries at most 0.5, 1, 2, 4 s apart), then skip its wait: the
    # button tries at once (each failed try while offline is one console line).
    ann.page.wait_for_timeout(3_500)
    log = people.logs[ann.page]

    def tries() -> int:
        return sum("ERR_INTERNET_DISCONNECTED" in line for line in log.lines)

    before = tries()
    reconnect.click()
    ann.page.wait_for_timeout(300)
    assert tries() == before + 1
    ann.context.set_offline(False)
    expect(ann.connection_banner).to_be_hidden(timeout=15_000)  # the backoff is at most 10 s
    expect(ann.game).not_to_have_class(re.compile(r"\boffline\b"))
    expect(reconnect).to_be_hidden()
    for me in (ann, bob):
        expect(me.filled_cells).to_have_count(4)
