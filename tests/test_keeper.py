"""What the core keeps for its standby (``c4actors.cluster.keeper``): the parts beside the
lobby and the games' states, written by ``changes`` and read back by ``load``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from c4actors import game_state
from c4actors.actors.game_inbox import PlayMove, QuitGame
from c4actors.actors.lobby import LobbyActor, TakeOver, WatchRequest
from c4actors.chat_rules import ChatRoom, Said, Voice
from c4actors.cluster import keeper
from c4actors.cluster.handled_inputs import HandledInputs
from c4actors.cluster.keeper import ConnRow, StateKeeper
from c4actors.cluster.recorder import record_from_json
from c4actors.game_record import GameRecord, GameResult
from c4actors.lobby_state import Disconnected, LobbyState, Request
from c4actors.metrics import Metrics
from protocol.messages import Accept, AnswerRematch, Challenge, Rematch
from tests.encoder_spy import record_encodes
from tests.test_game_state import SETUP
from tests.test_lobby_actor import Inbox, join, running_lobby


def committed(state: StateKeeper, fields: dict[str, str], clock: float) -> None:
    """One commit of ``state``'s changes into ``fields`` (the ``c4:state`` hash)."""
    puts, deletes = state.changes(2)
    fields.update(puts)
    for field in deletes:
        fields.pop(field, None)
    fields[keeper.CLOCK] = repr(clock)


def keeper_of_a_lobby() -> tuple[StateKeeper, LobbyState]:
    """A keeper following a fresh lobby's changes, as the core's journal does."""
    state = StateKeeper(lambda: None)
    lobby = LobbyState(lambda: "token", lambda: "g1")
    lobby.track_changes()
    state.lobby_changed(lobby.take_changed_texts)
    return state, lobby


def test_a_games_start_time_chat_voices_and_the_audiences_are_restored() -> None:
    state, _ = keeper_of_a_lobby()
    state.connection_changed(1, ConnRow(1, "edge-a", 7))
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0, started_at=1_700_000_000.5)
    state.game_changed(game)
    voices = (Voice((Said(101.0, "hello"), Said(102.5, "good luck"))), Voice())
    state.chat_changed("g1", voices)
    audience = {"watching": [3]}
    state.audience_changed("g1", lambda game_id: audience if game_id == "g1" else None)
    for conn in (4, 3, 5):
        state.following_changed(conn, True)  # each follower a field of its own
    state.following_changed(5, False)
    handled = HandledInputs()
    for edge, seq in [("edge-a", n) for n in (1, 2, 3, 4, 5, 6, 7, 9)] + [
        ("edge-b", 1),
        ("edge-b", 3),
    ]:
        handled.first_time(edge, seq)  # edge-a's 8 not yet: a gap open
    state.inputs_handled(handled)
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
    assert saved.audiences == {"games": {"g1": audience}, "following": [3, 4]}
    assert saved.handled.upto == {"edge-a": 7, "edge-b": 1}
    assert saved.handled.above == {"edge-a": {9}, "edge-b": {3}}
    assert saved.handled.first_time("edge-a", 8), "a late entry the old core had not handled"
    assert not saved.handled.first_time("edge-a", 9), "a copy of one it had handled"
    # Once the game is gone, its chat is too, and its audience once the lobby says it has
    # none (its spectators are kept for a rematch otherwise: not a field of the game's).
    state.game_gone("g1")
    state.audience_changed("g1", lambda game_id: None)
    committed(state, fields, 110.0)
    assert not any(field.endswith(":g1") for field in fields), fields


def test_a_state_written_before_the_audiences_existed_restores_with_none() -> None:
    state, _ = keeper_of_a_lobby()
    fields: dict[str, str] = {}
    committed(state, fields, 1.0)
    assert keeper.AUDIENCES not in fields
    saved = keeper.load(fields, 2.0)
    assert saved is not None
    assert (saved.audiences, saved.chats, saved.handled) == ({}, {}, HandledInputs())


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
    state, _ = keeper_of_a_lobby()
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


def test_a_finished_game_s_chat_written_again_carries_the_game_it_was_given() -> None:
    """The field is written again as players move on with the same game (its JSON made
    once), and a game given anew (a standby's restored one, another object) is written as
    that game, not as the one written before."""
    state, _ = keeper_of_a_lobby()
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0)
    game, _ = game_state.apply(game, game_state.QuitRequested(1, "ann"), 101.0)
    fields: dict[str, str] = {}
    for moved_on in (frozenset(), frozenset({2}), frozenset({1, 2})):
        state.chat_lingers(game, ChatRoom(closes_at=221.0, moved_on=moved_on))
        committed(state, fields, 102.0)
        saved = keeper.load(fields, 102.0)
        assert saved is not None
        (ended,) = saved.ended
        assert (ended.game, ended.moved_on) == (game, moved_on)
    other = attrs.evolve(game, started_at=1_700_000_000.5)
    state.chat_lingers(other, ChatRoom(closes_at=221.0))
    committed(state, fields, 103.0)
    saved = keeper.load(fields, 103.0)
    assert saved is not None
    assert [ended.game for ended in saved.ended] == [other]


class Lobby:
    """A lobby actor journaling to a ``StateKeeper`` (as a cluster's core's does), driven
    through its inbox with fake connections, and the ``c4:state`` fields its commits wrote.
    Real clock: no store write happens (a journaled game's record goes to the journal),
    and the actors only wait for each other."""

    def __init__(self, lobby: LobbyActor) -> None:
        self.actor = lobby
        self.state = StateKeeper(lambda: None)
        self.fields: dict[str, str] = {}
        self.inboxes: dict[str, Inbox] = {}
        self.games: list[str] = []

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()

    def commit(self) -> tuple[dict[str, str], list[str]]:
        """One commit; then each game's field holds the lobby's audience of the game (none
        if it has none), whatever the commits before wrote."""
        puts, deletes = self.state.changes(2)
        self.fields.update(puts)
        for field in deletes:
            self.fields.pop(field, None)
        for game_id in self.games:
            text = self.fields.get(keeper.AUDIENCE_PREFIX + game_id)
            saved = None if text is None else json.loads(text)
            assert saved == self.actor.save_audience(game_id), game_id
        return puts, deletes

    async def join(self, conn: int, name: str) -> Inbox:
        self.inboxes[name] = inbox = await join(self.actor, conn, name)
        return inbox

    async def ask(self, name: str, message: Any) -> None:
        conn = self.inboxes[name].mailbox.conn
        await self.actor.inbox_send.send(Request(conn, message, trio.current_time()))

    async def game(self, one: str, other: str) -> str:
        await self.ask(one, Challenge(opponent=other))
        await self.inboxes[other].frame("invitation")
        await self.ask(other, Accept(challenger=one))
        game_id = str((await self.inboxes[one].frame("game_started"))["game_id"])
        self.games.append(game_id)
        return game_id

    async def watch(self, name: str, game_id: str, watch: bool = True) -> None:
        inbox = self.inboxes[name]
        await self.actor.inbox_send.send(WatchRequest(inbox.mailbox.conn, game_id, watch))
        await inbox.frame("watching" if watch else "unwatched")

    async def quit(self, name: str, opponent: str) -> None:
        """``name`` forfeits its game with ``opponent`` after one move each."""
        (joined,) = self.inboxes[name].mailbox.take_routes()
        for ply, who in enumerate((name, opponent)):
            sender = self.inboxes[who].mailbox
            joined.game_inbox.send_nowait(PlayMove(sender, who, 3, ply=ply))
        joined.game_inbox.send_nowait(QuitGame(self.inboxes[name].mailbox, name))
        await self.inboxes[name].frame("game_over")


@asynccontextmanager
async def journaled_lobby() -> AsyncIterator[Lobby]:
    async with running_lobby(tick=0.05) as actor:
        lobby = Lobby(actor)
        await actor.inbox_send.send(TakeOver(lobby.state))
        await lobby.settle()
        lobby.commit()
        yield lobby


async def audiences_everywhere(lobby: Lobby) -> tuple[list[str], list[int]]:
    """Three games of six players, each watched by several of twelve spectators (three
    watch two or three games), some of whom unwatch or leave; the third game ends and its
    spectators are kept for a rematch, which starts: they follow into it.  A commit after
    each step (each checks the fields: ``Lobby.commit``).  The games' ids, and the
    spectators' connections."""
    players = [await lobby.join(conn, f"p{conn}") for conn in range(1, 7)]
    assert len(players) == 6
    games = [await lobby.game(f"p{n}", f"p{n + 1}") for n in (1, 3, 5)]
    spectators = list(range(10, 22))
    for conn in spectators:
        await lobby.join(conn, f"s{conn}")
        await lobby.watch(f"s{conn}", games[conn % 3])
        await lobby.settle()
        lobby.commit()
    for conn, game_id in ((10, games[0]), (10, games[2]), (11, games[0]), (12, games[1])):
        await lobby.watch(f"s{conn}", game_id)
        await lobby.settle()
        lobby.commit()
    await lobby.watch("s13", games[1], watch=False)
    for conn in (16, 11):  # 16 watched games[1], 11 games[2] and games[0]
        await lobby.actor.inbox_send.send(Disconnected(conn))
        await lobby.settle()
        lobby.commit()
    await lobby.quit("p5", "p6")  # games[2] ends: its spectators wait for a rematch
    await lobby.settle()
    lobby.commit()
    assert keeper.AUDIENCE_PREFIX + games[2] in lobby.fields
    await lobby.ask("p5", Rematch(game_id=games[2]))
    await lobby.inboxes["p6"].frame("rematch_offered")
    await lobby.ask("p6", AnswerRematch(game_id=games[2], accept=True))
    lobby.games.append(str((await lobby.inboxes["p5"].frame("game_started"))["game_id"]))
    await lobby.settle()
    lobby.commit()
    return lobby.games, spectators


async def test_the_audiences_restored_from_their_fields_are_the_lobby_s() -> None:
    """Joins, leaves, a game's end and its rematch across several games, each committed
    as it came: a standby reading the fields restores every game's audience as the lobby
    holds it, and no field is left for a game without one."""
    async with journaled_lobby() as lobby:
        games, _ = await audiences_everywhere(lobby)
        original = {game_id: lobby.actor.save_audience(game_id) for game_id in games}
        assert original[games[2]] is None  # its followers went into the rematch
        assert all(original[game_id] for game_id in (games[0], games[1], games[3]))
        saved_fields = {f for f in lobby.fields if f.startswith(keeper.AUDIENCE_PREFIX)}
        assert saved_fields == {
            keeper.AUDIENCE_PREFIX + game_id for game_id, audience in original.items() if audience
        }
        assert keeper.AUDIENCES not in lobby.fields
        lobby.fields[keeper.CLOCK] = "1.0"
        saved = keeper.load(lobby.fields, 2.0)
        assert saved is not None
        standby = LobbyActor(lobby.actor.store, Metrics(), grace_seconds=20, tick=0.05)
        standby._mailboxes = dict(lobby.actor._mailboxes)  # the connections, restored
        standby._restore_audiences(saved.audiences, set(games))
        assert {game_id: standby.save_audience(game_id) for game_id in games} == original


async def test_a_commit_after_one_spectator_joins_writes_that_game_s_audience_alone() -> None:
    async with journaled_lobby() as lobby:
        games, _ = await audiences_everywhere(lobby)
        await lobby.join(30, "s30")
        await lobby.settle()
        lobby.commit()
        await lobby.watch("s30", games[0])
        await lobby.settle()
        puts, deletes = lobby.commit()
        field = keeper.AUDIENCE_PREFIX + games[0]
        assert (list(puts), deletes) == ([field], [])
        assert json.loads(puts[field]) == lobby.actor.save_audience(games[0])
        assert 30 in json.loads(puts[field])["watching"]


def test_the_audiences_an_older_core_saved_in_one_field_are_read_then_deleted() -> None:
    """A core from before the per-game fields wrote all audiences in ``audiences``: a
    standby restores them, and its first commit (which writes every restored audience per
    game) deletes that field."""
    old = {"watching": [[3, ["g1"]], [4, ["g1", "g2"]]], "rematch": [["g0", "ann", [5, 6]]]}
    state, lobby = keeper_of_a_lobby()
    fields: dict[str, str] = {}
    committed(state, fields, 1.0)
    fields[keeper.AUDIENCES] = json.dumps(old)
    saved = keeper.load(fields, 2.0)
    assert saved is not None and saved.audiences == old
    standby = StateKeeper(lambda: None)
    standby.loaded(fields)
    standby.lobby_changed(lobby.take_changed_texts)
    standby.audience_changed("g1", lambda game_id: {"watching": [3, 4]})
    puts, deletes = standby.changes(2)
    assert keeper.AUDIENCES in deletes and keeper.AUDIENCE_PREFIX + "g1" in puts


def test_a_dead_edge_is_fenced_by_its_absence_across_a_failover() -> None:
    """An edge declared dead (``HandledInputs.forget``) leaves the committed numbers, and
    that is its fence: a standby drops its entries too, with nothing written per dead
    edge.  An older core's ``edges_fenced`` (the latest 1,024 names) is read by no one and
    deleted by the standby's first whole write."""
    state, lobby = keeper_of_a_lobby()
    handled = HandledInputs()
    handled.first_time("edge-a", 1)
    handled.first_time("edge-b", 1)
    state.inputs_handled(handled)
    fields: dict[str, str] = {}
    committed(state, fields, 1.0)
    handled.forget("edge-a")
    state.inputs_handled(handled)
    committed(state, fields, 2.0)
    assert json.loads(fields[keeper.INPUTS_HANDLED]) == {"edge-b": 1}
    fields[keeper.EDGES_FENCED] = '["edge-z"]'  # as an older core wrote it
    saved = keeper.load(fields, 3.0)
    assert saved is not None
    assert not saved.handled.first_time("edge-a", 2), "a fenced edge's entry, after a failover"
    assert not saved.handled.first_time("edge-z", 2)
    assert saved.handled.first_time("edge-b", 2)
    standby = StateKeeper(lambda: None)
    standby.loaded(fields)
    standby.lobby_changed(lobby.take_changed_texts)
    _, deletes = standby.changes(2)
    assert keeper.EDGES_FENCED in deletes and keeper.INPUTS_HANDLED not in deletes


_norms = st.text(max_size=5)
_voices = st.lists(
    st.builds(Said, st.floats(0, 1e6) | st.integers(0, 10**6), _norms), max_size=3
).map(lambda said: Voice(tuple(said)))


@given(
    closes_at=st.floats(0, 1e9) | st.integers(0, 10**9),
    voices=st.tuples(_voices, _voices),
    moved_on=st.frozensets(st.integers(0, 10**6), max_size=3),
    quitter=st.sampled_from(["ann", "bob"]),
)
def test_a_finished_game_s_chat_field_is_the_encoders_text(
    closes_at: float, voices: tuple[Voice, Voice], moved_on: frozenset[int], quitter: str
) -> None:
    """``ended:<id>`` is written around the game's JSON escaped once: byte for byte the
    encoder's text for the whole field."""
    state, _ = keeper_of_a_lobby()
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0)
    game, _ = game_state.apply(game, game_state.QuitRequested(1, quitter), 101.0)
    room = ChatRoom(closes_at=closes_at, voices=voices, moved_on=moved_on)
    state.chat_lingers(game, room)
    puts, _ = state.changes(2)
    ended = {
        "game": game_state.to_json(game),
        "closes_at": closes_at,
        "voices": [[[said.at, said.norm] for said in voice.recent] for voice in voices],
        "moved_on": sorted(moved_on),
    }
    assert puts["ended:g1"] == json.dumps(ended, separators=(",", ":"))


def test_a_finished_game_s_json_is_escaped_once_however_often_its_chat_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The field is written again each time a player moves on or someone speaks: the
    game's JSON (most of it) is not given to the encoder again each time."""
    state, _ = keeper_of_a_lobby()
    game, _ = game_state.start(SETUP, (1, 2), 20.0, 100.0)
    game, _ = game_state.apply(game, game_state.QuitRequested(1, "ann"), 101.0)
    game_text = game_state.to_json(game)
    encoded = record_encodes(monkeypatch, keeper)
    fields: dict[str, str] = {}
    for moved_on in (frozenset(), frozenset({2}), frozenset({1, 2})):
        state.chat_lingers(game, ChatRoom(closes_at=221.0, moved_on=moved_on))
        committed(state, fields, 102.0)
    assert encoded and not any(game_text in _texts_in(value) for value in encoded)
    saved = keeper.load(fields, 102.0)
    assert saved is not None and [ended.game for ended in saved.ended] == [game]


def _texts_in(value: object) -> list[str]:
    """Every string in ``value``, however nested in lists and dicts."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.items() for part in item for text in _texts_in(part)]
    if isinstance(value, list | tuple):
        return [text for part in value for text in _texts_in(part)]
    return []
