"""The game's hand-written ``game_state`` frame against the protocol's codec, byte for byte."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors import game_state as core
from c4actors.game_frames import encode_frame, encode_game_state
from c4actors.game_record import GameSetup, Player
from protocol.codec import encode
from protocol.messages import Cell, Clocks, GameOver, GameState, SpectatorCount

texts = st.text(max_size=12)
"""Any text: quotes, backslashes, control characters, surrogate-free Unicode."""
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**20), 10**20)

game_states = st.builds(
    GameState,
    game_id=texts,
    board=st.lists(st.text(alphabet=".12", min_size=7, max_size=7) | texts, max_size=7),
    moves=st.lists(st.integers(-(10**20), 10**20), max_size=42),
    next=st.none() | texts,
    last_move=st.none() | st.builds(Cell, row=st.integers(-10, 10), column=st.integers(-10, 10)),
    seconds_to_move=st.none() | numbers,
    clocks=st.none() | st.builds(Clocks, player1=numbers, player2=numbers),
)


@given(game_states)
def test_a_game_state_is_the_codecs_text_byte_for_byte(state: GameState) -> None:
    assert encode_game_state(state) == encode(state)
    assert encode_frame(state) == encode(state)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_number_json_cannot_carry_is_refused_as_by_the_codec(bad: float) -> None:
    for state in (
        GameState(game_id="g", board=[], moves=[], next=None, last_move=None, seconds_to_move=bad),
        GameState(
            game_id="g",
            board=[],
            moves=[],
            next=None,
            last_move=None,
            clocks=Clocks(player1=1.0, player2=bad),
        ),
    ):
        with pytest.raises(ValueError):
            encode(state)
        with pytest.raises(ValueError):
            encode_game_state(state)


def test_every_game_state_of_a_played_game_and_the_other_frames_match_the_codec() -> None:
    setup = GameSetup(
        game_id='g-ü"1',
        player1=Player(name='a"n\\n', color="red"),
        player2=Player(name="bö\u2028b", color="yellow"),
    )
    game, effects = core.start(setup, (1, 2), 20.0, 5.0, move_timeout=60.0)
    names = [setup.player1.name, setup.player2.name]
    for ply, column in enumerate([3, 3, 4, 4, 5, 5, 6]):
        event = core.MoveRequested(1 + ply % 2, names[ply % 2], column, ply)
        game, more = core.apply(game, event, 5.0 + 0.123456789 * ply)
        effects += more
    messages = [effect.message for effect in effects if isinstance(effect, core.Send)]
    assert sum(isinstance(message, GameState) for message in messages) == 8
    assert any(isinstance(message, GameOver) for message in messages)
    for message in [*messages, SpectatorCount(game_id="g", spectators=3)]:
        assert encode_frame(message) == encode(message)
