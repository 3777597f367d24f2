"""The one record of a game (``c4actors.game_record``): what a result means for the store
and the players' records, and that the whole record survives a cattrs round trip (the game
core's JSON state carries the setup and the result as they are).
"""

from __future__ import annotations

from typing import get_args

import cattrs
from hypothesis import given
from hypothesis import strategies as st

from c4actors.game_record import GameRecord, GameResult, GameSetup, Player
from protocol.messages import GameOverReason

players = st.builds(
    Player,
    name=st.text(min_size=1, max_size=8),
    color=st.sampled_from(["red", "yellow", "teal"]),
    registered=st.booleans(),
)
setups = st.builds(GameSetup, game_id=st.text(min_size=1), player1=players, player2=players)
results = st.builds(
    GameResult,
    winner=st.none() | st.text(min_size=1, max_size=8),
    reason=st.sampled_from(get_args(GameOverReason)),
    moves=st.lists(st.integers(0, 6), max_size=42).map(tuple),
)
records = st.builds(
    GameRecord,
    setup=setups,
    result=results,
    started_at=st.floats(0, 2e9),
    ended_at=st.floats(0, 2e9),
)


@given(records)
def test_a_record_survives_a_round_trip(record: GameRecord) -> None:
    converter = cattrs.Converter(forbid_extra_keys=True)
    assert converter.structure(converter.unstructure(record), GameRecord) == record


@given(results)
def test_only_kept_games_that_were_not_aborted_count(result: GameResult) -> None:
    assert result.kept == (len(result.moves) >= 2)
    assert result.counts == (result.kept and not result.aborted)
    if result.aborted:
        assert result.outcome is None
    else:
        assert result.outcome == ("draw" if result.winner is None else "win")


def test_a_game_left_at_the_first_move_is_no_game() -> None:
    assert not GameResult(winner="bob", reason="forfeit", moves=(3,)).kept
    assert GameResult(winner="bob", reason="forfeit", moves=(3, 4)).counts
    assert not GameResult(winner=None, reason="aborted", moves=(3, 4)).counts


def test_the_setup_names_its_players_in_seat_order() -> None:
    setup = GameSetup(
        game_id="g1",
        player1=Player(name="ann", color="red"),
        player2=Player(name="bob", color="yellow", registered=True),
    )
    assert setup.players == (setup.player(1), setup.player(2))
    assert [player.name for player in setup.players] == ["ann", "bob"]
    assert setup.any_registered
    assert not GameSetup(game_id="g2", player1=setup.player1, player2=setup.player1).any_registered
    assert setup.colors.player1 != setup.colors.player2
