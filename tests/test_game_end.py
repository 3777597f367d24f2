"""The end of a game (``c4actors.actors.game_end``): saved and reported in the order the
players' records need, with a store and a lobby that write down when they were called."""

from __future__ import annotations

import pytest

from c4actors.actors.game_end import save_and_report
from c4actors.game_record import GameRecord, GameResult, GameSetup, Player
from c4actors.lobby_state import GameEnded
from c4actors.store import Store, StoreError


def record(*, registered: bool, moves: tuple[int, ...] = (3, 4)) -> GameRecord:
    setup = GameSetup(
        game_id="g1",
        player1=Player(name="ann", color="red", registered=registered),
        player2=Player(name="bob", color="yellow"),
    )
    result = GameResult(winner="ann", reason="forfeit", moves=moves)
    return GameRecord(setup=setup, result=result, started_at=1.0, ended_at=2.0)


class Calls:
    """The store, the lobby and the players' notice, all writing into one list."""

    def __init__(self, *, store_fails: bool = False) -> None:
        self.log: list[str] = []
        self.store_fails = store_fails

    async def record_game(self, record: GameRecord) -> None:
        if self.store_fails:
            raise StoreError("disk full")
        self.log.append(f"saved {record.game_id}")

    async def report(self, ended: GameEnded) -> None:
        self.log.append(f"reported recorded={ended.recorded}")

    def not_saved(self) -> None:
        self.log.append("players told: not saved")

    async def end(self, game: GameRecord, *, lobby_listening: bool = True) -> list[str]:
        store: Store = self  # type: ignore[assignment]  # only record_game is ever called
        await save_and_report(game, store, self.report if lobby_listening else None, self.not_saved)
        return self.log


async def test_a_game_with_an_account_is_saved_before_the_lobby_hears_of_it() -> None:
    assert await Calls().end(record(registered=True)) == ["saved g1", "reported recorded=True"]


async def test_guests_are_freed_first_and_their_game_saved_after() -> None:
    assert await Calls().end(record(registered=False)) == ["reported recorded=True", "saved g1"]


@pytest.mark.parametrize("registered", [True, False])
async def test_a_game_left_before_both_moved_is_reported_and_not_saved(registered: bool) -> None:
    game = record(registered=registered, moves=(3,))
    assert await Calls().end(game) == ["reported recorded=True"]


@pytest.mark.expect_error_logs
async def test_a_failed_save_is_reported_unrecorded_and_the_players_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = Calls(store_fails=True)
    assert await calls.end(record(registered=True)) == [
        "players told: not saved",
        "reported recorded=False",
    ]
    assert "could not save game game_id=g1" in caplog.text


@pytest.mark.expect_error_logs
async def test_a_failed_save_of_guests_comes_after_the_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = Calls(store_fails=True)
    assert await calls.end(record(registered=False)) == [
        "reported recorded=True",
        "players told: not saved",
    ]


async def test_while_the_server_stops_the_game_is_saved_and_the_lobby_not_told() -> None:
    calls = Calls()
    assert await calls.end(record(registered=True), lobby_listening=False) == ["saved g1"]
