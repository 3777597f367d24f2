"""What the core keeps for its standby (``c4actors.cluster.keeper``): the parts beside the
lobby and the games' states, written by ``changes`` and read back by ``load``."""

from __future__ import annotations

from c4actors import game_state
from c4actors.chat_rules import ChatRoom, Said, Voice
from c4actors.cluster import keeper
from c4actors.cluster.keeper import ConnRow, StateKeeper
from c4actors.cluster.recorder import record_from_json
from c4actors.game_record import GameRecord, GameResult
from c4actors.lobby_state import LobbyState
from tests.test_game_state import SETUP


def committed(state: StateKeeper, fields: dict[str, str], clock: float) -> None:
    """One commit of ``state``'s changes into ``fields`` (the ``c4:state`` hash)."""
    puts, deletes = state.changes(2)
    fields.update(puts)
    for field in deletes:
        fields.pop(field, None)
    fields[keeper.CLOCK] = repr(clock)


def test_a_games_start_time_chat_voices_and_the_audiences_are_restored() -> None:
    state = StateKeeper(lambda: None)
    lobby = LobbyState(lambda: "token", lambda: "g1")
    lobby.track_changes()
    state.lobby_changed(lobby.take_changes)
    state.connection_changed(1, ConnRow(1, "edge-a", 7))
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0, started_at=1_700_000_000.5)
    state.game_changed(game)
    voices = (Voice((Said(101.0, "hello"), Said(102.5, "good luck"))), Voice())
    state.chat_changed("g1", voices)
    audiences = {"watching": [[3, ["g1"]]], "rematch": []}
    state.audiences_changed(lambda: audiences)
    for conn in (4, 3, 5):
        state.following_changed(conn, True)  # each follower a field of its own
    state.following_changed(5, False)
    state.inputs_handled({"edge-a": 7, "edge-b": 3})
    fields: dict[str, str] = {}
    committed(state, fields, 103.0)
    assert not state.dirty
    # A standby whose clock reads 500 when it restores: every clock time moves by 397,
    # the wall-clock start does not.
    saved = keeper.load(fields, 500.0)
    assert saved is not None
    (restored,) = saved.games
    assert restored.started_at == 1_700_000_000.5
    assert restored.turn_started == 100.0 + 397.0
    first, second = saved.chats["g1"]
    assert [(said.at, said.norm) for said in first.recent] == [
        (101.0 + 397.0, "hello"),
        (102.5 + 397.0, "good luck"),
    ]
    assert second == Voice()
    assert saved.audiences == {**audiences, "following": [3, 4]}
    assert saved.handled == {"edge-a": 7, "edge-b": 3}
    # Once the game is gone, its chat is too.
    state.game_gone("g1")
    committed(state, fields, 110.0)
    assert not any(field.endswith(":g1") for field in fields), fields


def test_a_state_written_before_the_audiences_existed_restores_with_none() -> None:
    state = StateKeeper(lambda: None)
    lobby = LobbyState(lambda: "token", lambda: "g1")
    lobby.track_changes()
    state.lobby_changed(lobby.take_changes)
    fields: dict[str, str] = {}
    committed(state, fields, 1.0)
    assert keeper.AUDIENCES not in fields
    saved = keeper.load(fields, 2.0)
    assert saved is not None
    assert (saved.audiences, saved.chats, saved.handled) == ({}, {}, {})


def test_a_finished_game_s_record_goes_out_once_with_the_next_commit() -> None:
    state = StateKeeper(lambda: None)
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0, started_at=1_700_000_000.5)
    record = GameRecord(
        setup=game.setup,
        result=GameResult(winner=None, reason="agreement", moves=(3, 3)),
        started_at=game.started_at,
        ended_at=1_700_000_100.0,
    )
    state.game_recorded(record)
    state.game_gone(game.game_id)
    assert state.dirty
    assert [record_from_json(text) for text in state.take_records()] == [record]
    assert state.take_records() == []


def test_a_finished_games_open_chat_is_restored_on_the_readers_clock_until_it_closes() -> None:
    state = StateKeeper(lambda: None)
    lobby = LobbyState(lambda: "token", lambda: "g1")
    lobby.track_changes()
    state.lobby_changed(lobby.take_changes)
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0)
    game, _ = game_state.apply(game, game_state.QuitRequested(1, "ann"), 101.0)
    assert game.is_over
    voices = (Voice((Said(101.5, "gg"),)), Voice())
    room = ChatRoom(closes_at=221.0, voices=voices, moved_on=frozenset({2}))
    state.game_gone("g1")  # recorded and reported: the game's own fields go
    state.chat_lingers(game, room)
    fields: dict[str, str] = {}
    committed(state, fields, 102.0)
    assert "game:g1" not in fields and "ended:g1" in fields
    saved = keeper.load(fields, 500.0)  # every clock time moves by 398
    assert saved is not None and saved.games == []
    (ended,) = saved.ended
    assert ended.game.game_id == "g1" and ended.game.is_over
    assert ended.closes_at == 221.0 + 398.0
    assert ended.voices[0].recent == (Said(101.5 + 398.0, "gg"),)
    assert ended.moved_on == frozenset({2})
    state.chat_lingers(game, None)  # it closed
    committed(state, fields, 230.0)
    assert "ended:g1" not in fields
