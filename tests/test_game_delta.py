"""A game journaled as its moves since its last whole write (``c4actors.cluster.game_delta``
and ``StateKeeper``): what a standby reads back is the game exactly, a delta applied twice
or out of order is harmless or refused, and an older core's whole game still loads."""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors import game_state
from c4actors.cluster import game_delta, keeper
from c4actors.cluster.keeper import StateKeeper
from c4actors.game_state import (
    DrawAnswerRequested,
    DrawOfferRequested,
    Event,
    Game,
    MoveRequested,
    SeatLeft,
    SeatReturned,
)
from tests.test_game_state import SETUP, TIMED
from tests.test_keeper import committed, keeper_of_a_lobby

NAMES = ("ann", "bob")


def restored(fields: dict[str, str], clock: float) -> list[Game]:
    """The games a standby reads back, on the same clock (nothing shifted)."""
    fields[keeper.CLOCK] = repr(clock)
    saved = keeper.load(fields, clock)
    assert saved is not None
    return saved.games


def moved(game: Game, column: int, now: float) -> Game:
    number = game.mover
    conn = game.seats[number - 1].conn
    assert conn is not None
    game, _ = game_state.apply(game, MoveRequested(conn, NAMES[number - 1], column), now)
    return game


def test_a_move_commits_its_delta_only_and_a_seat_change_the_whole_game() -> None:
    state, _ = keeper_of_a_lobby()
    fields: dict[str, str] = {}
    game, _ = game_state.start(TIMED, (1, 2), 20.0, 100.0, first_move_seconds=30.0)
    state.game_changed(game)
    puts, deletes = state.changes(2)
    assert "game:g1" in puts and "moves:g1" in deletes
    fields.update(puts)
    for now, column in ((101.0, 3), (102.5, 4), (104.25, 3)):
        game = moved(game, column, now)
        state.game_changed(game)
    puts, deletes = state.changes(2)
    assert "game:g1" not in puts and deletes == []
    assert puts["moves:g1"] == '[0,"343",104.25,[60.25,60],null]'
    fields.update(puts)
    assert restored(fields, 104.25) == [game]
    game, _ = game_state.apply(game, SeatLeft("bob"), 105.0)  # not a move: whole again
    state.game_changed(game)
    puts, deletes = state.changes(2)
    assert json.loads(puts["game:g1"])["board"] == [3, 4, 3]
    assert "moves:g1" in deletes
    fields.update(puts)
    fields.pop("moves:g1")
    assert restored(fields, 105.0) == [game]
    state.game_gone("g1")  # its fields go, and the keeper forgets its base
    committed(state, fields, 106.0)
    assert not any(field.endswith(":g1") for field in fields), fields
    # (Noted again after it was gone, with a move since its last base: written whole.)
    state.game_changed(attrs.evolve(game, board=game.board.play(4)))
    puts, _ = state.changes(2)
    assert "game:g1" in puts


@st.composite
def journaled_games(draw: st.DrawFn) -> list[tuple[Event, float, bool]]:
    """Random events of one game (moves most, some seats left and back, draw offers and
    answers) at growing times, each with whether a commit follows it."""
    steps = []
    now = 100.0
    for _ in range(draw(st.integers(1, 60))):
        now += draw(st.sampled_from([0.0, 0.001, 0.25, 1.5, 7.0]))
        kind = draw(st.sampled_from(["move"] * 6 + ["left", "back", "offer", "answer"]))
        seat = draw(st.sampled_from((1, 2)))
        event: Event
        if kind == "move":
            event = MoveRequested(0, "", draw(st.integers(0, 6)))  # the mover's, below
        elif kind == "left":
            event = SeatLeft(NAMES[seat - 1])
        elif kind == "back":
            event = SeatReturned(NAMES[seat - 1], seat)
        elif kind == "offer":
            event = DrawOfferRequested(seat, NAMES[seat - 1])
        else:
            event = DrawAnswerRequested(seat, NAMES[seat - 1], draw(st.booleans()))
        steps.append((event, now, draw(st.booleans())))
    return steps


@given(steps=journaled_games(), timed=st.booleans())
def test_a_game_read_back_after_any_deltas_is_the_game(
    steps: list[tuple[Event, float, bool]], timed: bool
) -> None:
    """Every commit's fields read back as the game exactly, whatever mix of moves (one or
    several a commit) and other changes (written whole) came before."""
    state, _ = keeper_of_a_lobby()
    fields: dict[str, str] = {}
    setup = TIMED if timed else SETUP
    game, _ = game_state.start(
        setup, (1, 2), 20.0, 100.0, move_timeout=45.0, first_move_seconds=30.0
    )
    state.game_changed(game)
    committed(state, fields, 100.0)
    for event, now, commit in steps:
        if isinstance(event, MoveRequested):
            number = game.mover
            conn = game.seats[number - 1].conn
            event = MoveRequested(conn if conn is not None else 99, NAMES[number - 1], event.column)
        before = game
        game, _ = game_state.apply(game, event, now)
        if game is not before:
            state.game_changed(game)
        if commit:
            committed(state, fields, now)
            assert restored(fields, now) == [game]
    committed(state, fields, 10_000.0)
    assert restored(fields, 10_000.0) == [game]


def test_a_delta_applied_twice_or_out_of_order_changes_nothing() -> None:
    base, _ = game_state.start(TIMED, (1, 2), 20.0, 100.0, first_move_seconds=30.0)
    one = moved(base, 3, 101.0)
    two = moved(one, 4, 102.0)
    first, second = game_delta.delta_of(base, one), game_delta.delta_of(base, two)
    assert first is not None and second is not None
    assert game_delta.applied(base, first) == one
    assert game_delta.applied(one, first) == one  # twice
    assert game_delta.applied(base, second) == two
    assert game_delta.applied(one, second) == two  # the part not held yet
    assert game_delta.applied(two, first) == two  # an older one after a newer one
    assert game_delta.applied(two, second) == two
    three = moved(two, 4, 103.0)
    assert game_delta.applied(three, second) == three


@pytest.mark.parametrize(
    "text",
    [
        '[1,"4",102.0,null,null]',  # a gap: ply 1 of a game of no moves
        "not json",
        "{}",
        '[0,"",1.0,null,null]',
        "[0,[3],1.0,null,null]",
        '[0,"3a",1.0,null,null]',
        '[0,"3",1.0,null,3]',
        '[0,"3",1.0,[1.0],null]',
        '[0,"3",true,null,null]',
        '[0,"9",1.0,null,null]',  # not a column
        '[0,"3333333",1.0,null,null]',  # a full column
    ],
)
def test_a_delta_that_does_not_follow_the_game_is_refused(text: str) -> None:
    base, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0)
    with pytest.raises(ValueError):
        game_delta.applied(base, text)


def test_a_delta_with_other_moves_than_the_game_is_refused_and_the_state_not_read() -> None:
    state, _ = keeper_of_a_lobby()
    fields: dict[str, str] = {}
    base, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0)
    state.game_changed(moved(base, 3, 101.0))
    committed(state, fields, 101.0)
    fields["moves:g1"] = '[0,"44",102.0,null,null]'  # not what the game holds
    with pytest.raises(ValueError, match="other moves"):
        keeper.load(fields, 200.0)


def test_an_older_cores_whole_game_loads_and_the_next_change_is_written_whole() -> None:
    """What is in Redis now: a core of the version before deltas wrote each game whole
    after every move, and no ``moves:<id>``."""
    state, _ = keeper_of_a_lobby()
    fields: dict[str, str] = {}
    committed(state, fields, 100.0)
    game, _ = game_state.start(TIMED, (1, 2), 20.0, 100.0, first_move_seconds=30.0)
    for now, column in ((101.0, 3), (102.0, 4), (103.5, 2)):
        game = moved(game, column, now)
    fields["game:g1"] = game_state.to_json(game)  # as an older core wrote it
    fields[keeper.CLOCK] = "103.5"
    saved = keeper.load(fields, 203.5)
    assert saved is not None
    assert saved.games == [game_state.shifted(game, 100.0)]
    # The core that took over writes the restored game whole first (its base), deltas after.
    (taken,) = saved.games
    newer = StateKeeper(lambda: None)
    newer.game_changed(taken)
    puts, deletes = newer.changes(2)
    assert "game:g1" in puts and "moves:g1" in deletes
    newer.game_changed(moved(taken, 2, 204.0))
    puts, deletes = newer.changes(2)
    assert list(puts) == ["moves:g1"] and puts["moves:g1"].startswith('[3,"2",')


def test_every_field_of_a_game_is_either_in_its_delta_or_compared_with_its_base() -> None:
    """A field added to ``Game`` that a move changes must go into the delta; otherwise
    ``delta_of`` sees the change and writes the game whole."""
    base, _ = game_state.start(TIMED, (1, 2), 20.0, 100.0, first_move_seconds=30.0)
    after = moved(base, 3, 101.0)
    for field in attrs.fields(Game):
        if field.name not in game_delta.MOVED_FIELDS:
            changed = attrs.evolve(after, **{field.name: object()})
            assert game_delta.delta_of(base, changed) is None, field.name
    assert game_delta.delta_of(base, after) is not None


def test_a_commit_after_a_move_gathers_the_values_of_the_game_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The base's values are gathered once, when it is written whole (and kept with its
    moves): each later commit of a move gathers only the moved game's, to compare (the
    base, long out of the caches, was read again at every commit)."""
    state, _ = keeper_of_a_lobby()
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0)
    gathered: list[Game] = []
    values = game_delta._base_values

    def counted(of: Game) -> tuple[object, ...]:
        gathered.append(of)
        return values(of)  # type: ignore[no-any-return]

    monkeypatch.setattr(game_delta, "_base_values", counted)
    state.game_changed(game)
    fields: dict[str, str] = {}
    committed(state, fields, 100.0)
    assert gathered == [game]
    for ply, column in enumerate((3, 4, 3, 4)):
        game = moved(game, column, 101.0 + ply)
        state.game_changed(game)
        committed(state, fields, 101.0 + ply)
        assert gathered[-1] is game and len(gathered) == ply + 2
    assert restored(fields, 104.0) == [game]
