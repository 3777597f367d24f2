"""The pure game core: unit tests, a state machine over random events, and JSON restores.

The invariants of ``GameMachine`` are the promises of ``c4actors/game_state.py``'s
docstring: one end, a result the rules engine agrees with, nothing after the end, no
win by disconnect for a player who is away, refused events change nothing.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from c4actors import game_state
from c4actors.game_record import GameResult, GameSetup, Player
from c4actors.game_state import (
    DRAW_OFFER_PLIES,
    SEATS,
    Aborted,
    AbortRequested,
    ArmDeadline,
    CancelDeadline,
    DeadlineReached,
    DrawAnswerRequested,
    DrawOfferRequested,
    Effect,
    Event,
    Finished,
    Game,
    MoveRequested,
    QuitRequested,
    Seat,
    SeatLeft,
    SeatReturned,
    Send,
    apply,
    from_json,
    shifted,
    start,
    to_json,
)
from c4actors.rules import Board, Termination
from protocol.codec import encode
from protocol.messages import (
    Clocks,
    DrawDeclined,
    DrawOffered,
    Error,
    GameOver,
    GameOverReason,
    GameStarted,
    GameState,
    OpponentDisconnected,
    OpponentReconnected,
    PlayerNumber,
    TimeControl,
)

SETUP = GameSetup(
    game_id="g1",
    player1=Player(name="ann", color="red"),
    player2=Player(name="bob", color="yellow", registered=True),
)
GRACE = 20.0
DRAW_GAME = [4, 3, 6, 0, 1, 4, 5, 5, 1, 1, 5, 0, 1, 6, 0, 1, 5, 5, 1, 0, 4, 6]
DRAW_GAME += [3, 2, 6, 6, 0, 4, 6, 5, 2, 0, 4, 2, 4, 2, 2, 2, 3, 3, 3, 3]


def new_game(grace: float = GRACE, move_timeout: float = 0.0, now: float = 0.0) -> Game:
    game, _ = start(SETUP, (1, 2), grace, now, move_timeout=move_timeout)
    return game


def play(game: Game, columns: list[int], now: float = 0.0) -> tuple[Game, list[Effect]]:
    """Play ``columns`` from the seats' sockets, in turn; the effects of the last move."""
    effects: list[Effect] = []
    for column in columns:
        number = game.board.turn
        name = SETUP.player(1 if number == 1 else 2).name
        conn = game.seats[number - 1].conn
        assert conn is not None
        game, effects = apply(game, MoveRequested(conn, name, column), now)
    return game, effects


def errors(effects: list[Effect]) -> list[tuple[tuple[int, ...], str]]:
    return [
        (e.to, e.message.code)
        for e in effects
        if isinstance(e, Send) and isinstance(e.message, Error)
    ]


def finished(effects: list[Effect]) -> list[GameResult]:
    return [e.result for e in effects if isinstance(e, Finished)]


# --------------------------------------------------------------------------- unit tests


def test_start_tells_each_player_their_seat_then_both_the_board() -> None:
    game, effects = start(SETUP, (7, 8), GRACE)
    colors = SETUP.colors
    assert effects == [
        Send((7,), GameStarted(game_id="g1", player1="ann", player2="bob", colors=colors, you=1)),
        Send((8,), GameStarted(game_id="g1", player1="ann", player2="bob", colors=colors, you=2)),
        Send(
            (7, 8),
            GameState(game_id="g1", board=Board().to_rows(), moves=[], next="ann", last_move=None),
        ),
    ]
    assert game.connected() == (7, 8) and game.deadline is None and not game.is_over


def test_a_move_is_sent_to_both_players_once() -> None:
    _, effects = play(new_game(), [3])
    [send] = effects
    assert isinstance(send, Send) and send.to == (1, 2)
    assert isinstance(send.message, GameState)
    assert (send.message.moves, send.message.next) == ([3], "bob")


def test_refused_moves_change_nothing() -> None:
    game = new_game()
    cases: list[tuple[Event, tuple[int, ...], str]] = [
        (MoveRequested(2, "bob", 3), (2,), "not_your_turn"),
        (MoveRequested(1, "ann", 7), (1,), "invalid_column"),
        (MoveRequested(1, "ann", -1), (1,), "invalid_column"),
        (MoveRequested(9, "ann", 3), (9,), "unknown_game"),
        (MoveRequested(1, "cy", 3), (1,), "unknown_game"),
        (QuitRequested(9, "bob"), (9,), "unknown_game"),
    ]
    for event, to, code in cases:
        after, effects = apply(game, event, 0.0)
        assert after is game
        assert errors(effects) == [(to, code)] and len(effects) == 1
    full, _ = play(game, [0] * 6)
    after, effects = apply(full, MoveRequested(1, "ann", 0), 0.0)
    assert after is full and errors(effects) == [((1,), "column_full")]


def test_a_move_resent_after_the_opponent_answered_is_not_played_twice() -> None:
    game, _ = apply(new_game(), MoveRequested(1, "ann", 3, ply=0), 0.0)  # before a drop
    game, _ = apply(game, MoveRequested(2, "bob", 4, ply=1), 0.0)
    assert game.board.moves == (3, 4)
    # ann's page resends its queued move after reconnecting: her turn again, but not ply 0
    after, effects = apply(game, MoveRequested(1, "ann", 3, ply=0), 0.0)
    assert after is game
    assert errors(effects) == [((1,), "stale_move")] and len(effects) == 1
    # the same move decided now, at ply 2, is played (and without a ply as always)
    after, _ = apply(game, MoveRequested(1, "ann", 3, ply=2), 0.0)
    assert after.board.moves == (3, 4, 3)
    assert apply(game, MoveRequested(1, "ann", 3), 0.0)[0].board == after.board


@given(
    columns=st.lists(st.integers(0, 6), max_size=12),
    ply=st.integers(-2, 44),
    column=st.integers(0, 6),
)
def test_a_move_counts_only_at_its_ply(columns: list[int], ply: int, column: int) -> None:
    game = new_game()
    for played in columns:  # as many as the rules take
        after, _ = apply(game, MoveRequested(game.board.turn, _name_to_move(game), played), 0.0)
        game = after
    if game.is_over:
        return
    mover = game.board.turn
    with_ply = apply(game, MoveRequested(mover, _name_to_move(game), column, ply), 0.0)
    without = apply(game, MoveRequested(mover, _name_to_move(game), column), 0.0)
    if ply == len(game.board.moves):
        assert with_ply == without
    else:
        assert with_ply[0] is game
        assert errors(with_ply[1]) == [((mover,), "stale_move")] and len(with_ply[1]) == 1


def test_four_in_a_row_ends_the_game_after_the_final_state() -> None:
    game, effects = play(new_game(), [0, 1, 0, 1, 0, 1, 0])
    assert [type(e) for e in effects] == [Send, Send, Finished]
    over = effects[1]
    assert isinstance(over, Send) and over.to == (1, 2)
    assert over.message == GameOver(
        game_id="g1",
        result="win",
        winner="ann",
        reason="four_in_a_row",
        line=[(2, 0), (3, 0), (4, 0), (5, 0)],
    )
    assert game.result == GameResult(
        winner="ann", reason="four_in_a_row", moves=(0, 1, 0, 1, 0, 1, 0)
    )


def test_a_full_board_is_a_draw() -> None:
    game, effects = play(new_game(), DRAW_GAME)
    assert finished(effects) == [
        GameResult(winner=None, reason="board_full", moves=tuple(DRAW_GAME))
    ]
    assert game.board.outcome.termination is Termination.DRAW


def test_quit_forfeits() -> None:
    _, effects = apply(new_game(), QuitRequested(2, "bob"), 0.0)
    assert finished(effects) == [GameResult(winner="ann", reason="forfeit")]


def test_after_the_end_requests_are_answered_game_over_and_nothing_changes() -> None:
    game, _ = apply(new_game(), QuitRequested(1, "ann"), 0.0)
    for event in [
        MoveRequested(2, "bob", 3),
        QuitRequested(2, "bob"),
        SeatLeft("bob"),
        SeatReturned("bob", 5),
        DeadlineReached(),
        Aborted(crashed=True),
    ]:
        after, effects = apply(game, event, 100.0)
        assert after is game
        expected = (
            [] if not isinstance(event, MoveRequested | QuitRequested) else [((2,), "game_over")]
        )
        assert errors(effects) == expected and len(effects) == len(expected)


def test_a_player_who_leaves_loses_when_the_grace_period_ends() -> None:
    game, _ = play(new_game(), [3, 3])
    game, effects = apply(game, SeatLeft("bob"), 10.0)
    assert effects == [
        Send((1,), OpponentDisconnected(game_id="g1", grace_seconds=GRACE)),
        ArmDeadline(30.0),
    ]
    early, effects = apply(game, DeadlineReached(), 29.9)
    assert early is game and effects == []
    game, effects = apply(game, DeadlineReached(), 30.0)
    assert [type(e) for e in effects] == [Send, CancelDeadline, Finished]
    assert finished(effects) == [GameResult(winner="ann", reason="disconnect", moves=(3, 3))]
    assert effects[0] == Send(
        (1,), GameOver(game_id="g1", result="win", winner="ann", reason="disconnect"), True
    )


def test_both_away_when_the_deadline_passes_aborts_the_game() -> None:
    """Issue 11 item 15: ann drops, then bob; ann's grace ends while bob is away too."""
    game, _ = play(new_game(), [3, 3])
    game, _ = apply(game, SeatLeft("ann"), 0.0)
    game, effects = apply(game, SeatLeft("bob"), 5.0)
    assert effects == []  # nobody to tell; the earlier deadline stands
    assert game.deadline == GRACE
    game, effects = apply(game, DeadlineReached(), GRACE)
    assert finished(effects) == [GameResult(winner=None, reason="aborted", moves=(3, 3))]
    # No player to tell, but the end is public: the spectators (if any) hear it.
    over = GameOver(game_id="g1", result="draw", winner=None, reason="aborted")
    assert [e for e in effects if isinstance(e, Send)] == [Send((), over, spectators=True)]


def test_the_opponent_who_came_back_wins_when_the_deadline_passes() -> None:
    game, _ = play(new_game(), [3, 3])
    game, _ = apply(game, SeatLeft("ann"), 0.0)
    game, _ = apply(game, SeatLeft("bob"), 5.0)
    game, effects = apply(game, SeatReturned("bob", 12), 6.0)
    assert Send((12,), OpponentReconnected(game_id="g1")) not in effects  # ann is not there
    game, effects = apply(game, DeadlineReached(), GRACE)
    assert finished(effects) == [GameResult(winner="bob", reason="disconnect", moves=(3, 3))]


def test_no_grace_ends_the_game_at_once() -> None:
    _, effects = apply(new_game(grace=0), SeatLeft("ann"), 0.0)
    assert finished(effects) == [GameResult(winner="bob", reason="disconnect")]
    assert effects[0] == Send(
        (2,), GameOver(game_id="g1", result="win", winner="bob", reason="disconnect"), True
    )


def test_a_returning_player_gets_the_game_and_the_opponent_is_told() -> None:
    game, _ = play(new_game(), [3, 4])
    game, _ = apply(game, SeatLeft("ann"), 0.0)
    game, effects = apply(game, SeatReturned("ann", 11), 3.0)
    assert [type(e) for e in effects] == [Send, Send, Send, CancelDeadline]
    assert effects[0] == Send(
        (11,), GameStarted(game_id="g1", player1="ann", player2="bob", colors=SETUP.colors, you=1)
    )
    state = effects[1]
    assert isinstance(state, Send) and isinstance(state.message, GameState)
    assert state.message.moves == [3, 4] and state.to == (11,)
    assert effects[2] == Send((2,), OpponentReconnected(game_id="g1"))
    assert game.connected() == (11, 2) and game.deadline is None
    # The old socket has no seat any more; the new one plays.
    after, effects = apply(game, MoveRequested(1, "ann", 0), 4.0)
    assert after is game and errors(effects) == [((1,), "unknown_game")]
    game, effects = apply(game, MoveRequested(11, "ann", 0), 4.0)
    assert game.board.moves == (3, 4, 0)


def test_a_takeover_of_a_connected_seat_tells_nobody_else() -> None:
    game, effects = apply(new_game(), SeatReturned("bob", 5), 0.0)
    assert [e.to for e in effects if isinstance(e, Send)] == [(5,), (5,)]
    assert game.connected() == (1, 5)


def test_leaving_twice_or_unknown_names_change_nothing() -> None:
    game, _ = apply(new_game(), SeatLeft("ann"), 0.0)
    for event in [SeatLeft("ann"), SeatLeft("cy"), SeatReturned("cy", 4)]:
        after, effects = apply(game, event, 1.0)
        assert after is game and effects == []


def test_an_abort_after_a_crash_tells_the_players_and_changes_no_record() -> None:
    game, effects = apply(new_game(), Aborted(crashed=True), 0.0)
    assert [e.message for e in effects if isinstance(e, Send)] == [
        Error(code="internal_error", message="this game crashed and ended"),
        GameOver(game_id="g1", result="draw", winner=None, reason="aborted"),
    ]
    assert game.result is not None and not game.result.counts


def test_a_game_survives_a_json_round_trip() -> None:
    game, _ = play(new_game(), [3, 3, 4])
    game, _ = apply(game, SeatLeft("bob"), 2.5)
    text = to_json(game)
    assert from_json(text) == game
    assert '"board":[3,3,4]' in text


# --------------------------------------------------------------------------- move timeout

TIMEOUT = 120.0


def test_the_first_turn_deadline_is_armed_at_the_start_and_told_to_both() -> None:
    game, effects = start(SETUP, (1, 2), GRACE, 100.0, move_timeout=TIMEOUT)
    assert effects[-1] == ArmDeadline(220.0)
    [state] = [e.message for e in effects if isinstance(e, Send) and e.to == (1, 2)]
    assert isinstance(state, GameState) and state.seconds_to_move == TIMEOUT
    assert game.deadline == 220.0


def test_each_move_restarts_the_turn_deadline_from_when_it_was_received() -> None:
    game = new_game(move_timeout=TIMEOUT)
    game, _ = play(game, [3], now=10.0)
    game, effects = play(game, [4], now=50.5)
    assert effects[-1] == ArmDeadline(170.5)
    state = effects[0]
    assert isinstance(state, Send) and isinstance(state.message, GameState)
    assert (state.message.next, state.message.seconds_to_move) == ("ann", TIMEOUT)


def test_the_player_to_move_loses_on_time_at_the_exact_deadline() -> None:
    game, _ = play(new_game(move_timeout=TIMEOUT), [3, 4], now=10.0)
    early, effects = apply(game, DeadlineReached(), 129.999)
    assert early is game and effects == []
    game, effects = apply(game, DeadlineReached(), 130.0)
    assert finished(effects) == [GameResult(winner="bob", reason="timeout", moves=(3, 4))]
    assert effects[0] == Send(
        (1, 2), GameOver(game_id="g1", result="win", winner="bob", reason="timeout"), True
    )
    assert CancelDeadline() in effects and game.deadline is None


def test_a_move_just_before_the_deadline_counts_and_one_at_it_does_not() -> None:
    game, _ = play(new_game(move_timeout=TIMEOUT), [3, 4], now=10.0)
    before, effects = apply(game, MoveRequested(1, "ann", 5), 129.999)
    assert before.board.moves == (3, 4, 5) and not before.is_over
    assert effects[-1] == ArmDeadline(129.999 + TIMEOUT)
    # The same move reaching the core at the deadline, before the shell fed the deadline:
    after, effects = apply(game, MoveRequested(1, "ann", 5), 130.0)
    assert after.board.moves == (3, 4)
    assert finished(effects) == [GameResult(winner="bob", reason="timeout", moves=(3, 4))]
    assert errors(effects) == [((1,), "game_over")]


def test_a_timeout_before_both_players_moved_aborts_the_game() -> None:
    for opening in ([], [3]):
        game, _ = play(new_game(move_timeout=TIMEOUT), opening, now=0.0)
        game, effects = apply(game, DeadlineReached(), TIMEOUT)
        [result] = finished(effects)
        assert (result.winner, result.reason, result.kept) == (None, "aborted", False)


def test_the_mover_away_keeps_losing_time_and_the_earlier_deadline_wins() -> None:
    game, _ = play(new_game(move_timeout=TIMEOUT), [3, 4], now=0.0)
    game, effects = apply(game, SeatLeft("ann"), 110.0)
    assert ArmDeadline(TIMEOUT) not in effects and game.deadline == TIMEOUT  # not 130
    game, effects = apply(game, DeadlineReached(), TIMEOUT)
    assert finished(effects) == [GameResult(winner="bob", reason="timeout", moves=(3, 4))]


def test_an_away_opponent_still_wins_when_the_mover_runs_out_of_time() -> None:
    game, _ = play(new_game(move_timeout=30.0), [3, 4], now=0.0)
    game, _ = apply(game, SeatLeft("bob"), 1.0)  # grace until 21; ann's turn ends at 30
    game, _ = apply(game, SeatReturned("bob", 7), 15.0)
    game, _ = apply(game, SeatLeft("bob"), 16.0)  # grace until 36 now
    game, effects = apply(game, DeadlineReached(), 30.0)
    assert finished(effects) == [GameResult(winner="bob", reason="timeout", moves=(3, 4))]


def test_a_returning_player_is_told_the_time_left_to_move() -> None:
    game, _ = play(new_game(move_timeout=TIMEOUT), [3], now=10.0)
    game, _ = apply(game, SeatLeft("bob"), 20.0)
    _, effects = apply(game, SeatReturned("bob", 9), 30.0)
    [state] = [
        e.message for e in effects if isinstance(e, Send) and isinstance(e.message, GameState)
    ]
    assert isinstance(state, GameState) and state.seconds_to_move == 100.0


def test_a_restored_game_re_arms_the_same_turn_deadline() -> None:
    game, _ = play(new_game(move_timeout=TIMEOUT), [3, 4], now=33.0)
    restored = from_json(to_json(game))
    assert restored.deadline == game.deadline == 153.0
    _, original = apply(game, DeadlineReached(), 153.0)
    _, again = apply(restored, DeadlineReached(), 153.0)
    assert original == again and finished(again)[0].reason == "timeout"


def test_without_a_move_timeout_nobody_is_hurried() -> None:
    game, effects = start(SETUP, (1, 2), GRACE, 0.0)
    assert not any(isinstance(e, ArmDeadline) for e in effects) and game.deadline is None
    game, effects = play(game, [3, 3], now=1e9)
    assert [type(e) for e in effects] == [Send]
    assert isinstance(effects[0], Send) and isinstance(effects[0].message, GameState)
    assert effects[0].message.seconds_to_move is None


# --------------------------------------------------------------------------- time controls

FIRST_MOVE = 30.0
TIMED = attrs.evolve(SETUP, time_control=TimeControl(base_seconds=60, increment_seconds=2))


def timed_game(setup: GameSetup = TIMED, now: float = 0.0) -> Game:
    game, _ = start(setup, (1, 2), GRACE, now, move_timeout=TIMEOUT, first_move_seconds=FIRST_MOVE)
    return game


def last_state(effects: list[Effect]) -> GameState:
    states = [
        e.message for e in effects if isinstance(e, Send) and isinstance(e.message, GameState)
    ]
    assert states
    return states[-1]


def test_a_timed_game_starts_with_full_clocks_and_the_first_move_limit() -> None:
    _, effects = start(
        TIMED, (1, 2), GRACE, 5.0, move_timeout=TIMEOUT, first_move_seconds=FIRST_MOVE
    )
    assert effects[0] == Send(
        (1,),
        GameStarted(
            game_id="g1",
            player1="ann",
            player2="bob",
            colors=SETUP.colors,
            you=1,
            time_control=TimeControl(base_seconds=60, increment_seconds=2),
        ),
    )
    state = last_state(effects)
    assert state.clocks == Clocks(player1=60, player2=60)
    assert state.seconds_to_move == FIRST_MOVE  # not the untimed move timeout
    assert effects[-1] == ArmDeadline(35.0)


def test_first_moves_are_not_charged_and_clocks_start_after_them() -> None:
    game = timed_game()
    game, _ = play(game, [3], now=20.0)  # ann's first move: no charge, no increment
    game, effects = play(game, [3], now=45.0)  # bob's, 25 s later: still no charge
    assert game.clocks == (60, 60)
    # ann's clock now runs from 45: she flags at 105 unless she moves.
    assert effects[-1] == ArmDeadline(105.0)
    assert last_state(effects).seconds_to_move == 60


def test_time_is_charged_from_receipt_to_receipt_with_the_increment() -> None:
    game, _ = play(timed_game(), [3, 3], now=0.0)
    game, effects = play(game, [4], now=10.5)  # ann spent 10.5 s, gains 2
    assert game.clocks == (51.5, 60)
    assert last_state(effects).clocks == Clocks(player1=51.5, player2=60)
    assert effects[-1] == ArmDeadline(70.5)  # bob's 60 s from 10.5
    game, effects = play(game, [4], now=40.5)
    assert game.clocks == (51.5, 32)
    assert effects[-1] == ArmDeadline(40.5 + 51.5)


def test_times_go_out_to_the_millisecond_while_the_state_keeps_them_exact() -> None:
    game, _ = play(timed_game(), [3, 3], now=0.1)
    game, effects = play(game, [4], now=10.1 + 1 / 3)  # ann spent 10 1/3 s, gains 2
    assert game.clocks is not None and game.clocks[0] == 60 - (10.1 + 1 / 3 - 0.1) + 2
    state = last_state(effects)
    assert state.clocks == Clocks(player1=51.667, player2=60)
    assert state.seconds_to_move == 60
    _, effects = apply(game, SeatReturned("ann", 9), 10.1 + 2 / 3)  # bob's clock runs
    state = last_state(effects)
    assert state.clocks == Clocks(player1=51.667, player2=59.667)
    assert state.seconds_to_move == 59.667
    assert '"player2":59.667' in encode(state)


def test_a_timed_player_flags_at_the_exact_time() -> None:
    game, _ = play(timed_game(), [3, 3], now=0.0)
    game, _ = play(game, [4], now=10.0)  # ann 52, bob to move with 60 from 10
    early, effects = apply(game, DeadlineReached(), 69.999)
    assert early is game and effects == []
    game, effects = apply(game, DeadlineReached(), 70.0)
    assert finished(effects) == [GameResult(winner="ann", reason="timeout", moves=(3, 3, 4))]


def test_a_timed_move_just_before_the_flag_counts_one_at_the_flag_does_not() -> None:
    game, _ = play(timed_game(), [3, 3], now=0.0)
    just_before, _ = apply(game, MoveRequested(1, "ann", 4), 59.999)
    assert just_before.board.moves == (3, 3, 4) and not just_before.is_over
    assert just_before.clocks is not None and abs(just_before.clocks[0] - 2.001) < 1e-9
    flagged, effects = apply(game, MoveRequested(1, "ann", 4), 60.0)
    assert flagged.board.moves == (3, 3)
    assert finished(effects) == [GameResult(winner="bob", reason="timeout", moves=(3, 3))]
    assert errors(effects) == [((1,), "game_over")]


def test_a_first_move_not_made_in_time_aborts_a_timed_game() -> None:
    for opening in ([], [3]):
        game, _ = play(timed_game(), opening, now=0.0)
        early, _ = apply(game, DeadlineReached(), FIRST_MOVE - 0.001)
        assert not early.is_over
        game, effects = apply(game, DeadlineReached(), FIRST_MOVE)
        [result] = finished(effects)
        assert (result.winner, result.reason, result.counts) == (None, "aborted", False)


def test_a_player_away_keeps_losing_time_and_flags_before_the_grace_ends() -> None:
    game, _ = play(timed_game(), [3, 3], now=0.0)
    game, _ = play(game, [4], now=50.0)  # ann 12 left; bob to move with 60
    game, _ = play(game, [4], now=50.0)  # bob answers at once: 62; ann has 12 from 50
    game, effects = apply(game, SeatLeft("ann"), 55.0)  # grace until 75; her flag at 62
    assert ArmDeadline(62.0) not in effects and game.deadline == 62.0
    game, effects = apply(game, DeadlineReached(), 62.0)
    assert finished(effects) == [GameResult(winner="bob", reason="timeout", moves=(3, 3, 4, 4))]


def test_the_grace_period_ends_first_when_it_is_earlier_than_the_flag() -> None:
    game, _ = play(timed_game(), [3, 3], now=0.0)
    game, _ = apply(game, SeatLeft("ann"), 1.0)  # grace until 21; flag at 60
    game, effects = apply(game, DeadlineReached(), 21.0)
    assert finished(effects) == [GameResult(winner="bob", reason="disconnect", moves=(3, 3))]


def test_a_returning_player_sees_the_clocks_as_they_are_now() -> None:
    game, _ = play(timed_game(), [3, 3], now=0.0)
    game, _ = apply(game, SeatLeft("ann"), 1.0)
    _, effects = apply(game, SeatReturned("ann", 9), 15.0)
    state = last_state(effects)
    assert state.clocks == Clocks(player1=45, player2=60) and state.seconds_to_move == 45


def test_a_restored_timed_game_re_arms_the_same_flag() -> None:
    game, _ = play(timed_game(), [3, 3, 4], now=7.0)
    game, _ = play(game, [4], now=20.0)
    restored = from_json(to_json(game))
    assert restored == game and restored.deadline == game.deadline == 20.0 + 62.0


# --------------------------------------------------------------------------- state machine


MACHINE_TIMEOUT = 45.0


class GameMachine(RuleBasedStateMachine):
    """Random requests from both seats (and from strangers and stale sockets), drops,
    returns, deadlines and aborts against one game, untimed (with a move timeout) or timed;
    time jumps to just before or exactly at the next deadline without feeding it, so
    events race the deadlines as they do in the actor's inbox."""

    def __init__(self) -> None:
        super().__init__()
        self.game = new_game()
        self.now = 0.0
        self.next_conn = 3
        self.results: list[GameResult] = []
        self.armed: float | None = None
        self.stale: list[int] = []
        self.offers: dict[PlayerNumber, list[int]] = {1: [], 2: []}
        """Per seat, the plies on the board at each accepted draw offer."""
        self.model_clocks: list[float] | None = None
        """The clocks as this test charges them, move by move (an oracle for the core's)."""
        self.last_move_at = 0.0
        self.shadow: Game | None = None
        """A game restored from ``to_json`` of ``game`` (``restore_a_shadow``), fed the same
        events since: it must answer each exactly as ``game`` does."""
        self.moved: Game | None = None
        """A game restored like ``shadow`` onto a clock ``MOVED_BY`` seconds ahead
        (``shifted``, as a standby core does), fed the same events at the same times on its
        clock: it must answer each as ``game`` does, with its deadlines ``MOVED_BY`` later."""

    @initialize(timed=st.booleans())
    def begin(self, timed: bool) -> None:
        setup = TIMED if timed else SETUP
        self.game, effects = start(
            setup,
            (1, 2),
            GRACE,
            0.0,
            move_timeout=MACHINE_TIMEOUT,
            first_move_seconds=FIRST_MOVE,
        )
        if timed:
            base = TIMED.time_control.base_seconds if TIMED.time_control else 0.0
            self.model_clocks = [base, base]
        for effect in effects:
            if isinstance(effect, ArmDeadline):
                self.armed = effect.at

    def run(self, event: Event) -> list[Effect]:
        before = self.game
        after, effects = apply(before, event, self.now)
        self.game = after
        if self.shadow is not None:
            self.shadow, shadow_effects = apply(self.shadow, event, self.now)
            assert (self.shadow, shadow_effects) == (after, effects), "the restored game differs"
        if self.moved is not None:
            self.moved, moved_effects = apply(self.moved, event, self.now + MOVED_BY)
            assert same_times(shifted(self.moved, -MOVED_BY), after), "the moved game differs"
            back = [
                ArmDeadline(e.at - MOVED_BY) if isinstance(e, ArmDeadline) else e
                for e in moved_effects
            ]
            assert same_times(back, effects), "the moved game answers otherwise"
        sends = [e for e in effects if isinstance(e, Send)]
        refused = [code for _, code in errors(effects) if code != "internal_error"]
        late = (
            not before.is_over
            and before.deadline is not None
            and self.now >= before.deadline
            and not isinstance(event, DeadlineReached)
        )
        if late:
            # The deadline came first: the game ended by it, the event changed nothing more.
            assert finished(effects) and after.board == before.board
        elif refused:
            # A refusal is one error to its sender and nothing else.
            assert after is before and len(effects) == 1
        if before.is_over:
            assert after is before and not finished(effects)
        if after == before:
            assert all(isinstance(e.message, Error) for e in sends)
            assert not any(isinstance(e, ArmDeadline | CancelDeadline | Finished) for e in effects)
        # Messages go only to sockets that hold a seat (or to the sender of a refusal).
        seated = set(before.connected()) | set(after.connected())
        for send in sends:
            if not isinstance(send.message, Error) or send.message.code == "internal_error":
                assert set(send.to) <= seated
        # One game_over, with the result, to whoever is here as the game ends (perhaps
        # nobody) and to the spectators; none otherwise.
        overs = [e for e in sends if isinstance(e.message, GameOver)]
        ends = finished(effects)
        if ends:
            assert len(overs) == 1
            for over in overs:
                assert isinstance(over.message, GameOver) and over.to == after.connected()
                assert over.spectators
                assert (over.message.winner, over.message.reason) == (
                    ends[0].winner,
                    ends[0].reason,
                )
        else:
            assert not overs
        for effect in effects:
            match effect:
                case ArmDeadline(at=at):
                    self.armed = at
                case CancelDeadline():
                    self.armed = None
                case Finished(result=result):
                    self.results.append(result)
                    self.check_result(before, result)
        return effects

    def check_result(self, before: Game, result: GameResult) -> None:
        outcome = Board.from_moves(result.moves).outcome
        assert result.moves == self.game.board.moves
        if result.reason == "four_in_a_row":
            assert outcome.termination is Termination.WIN and outcome.winner is not None
            assert result.winner == SETUP.player(1 if outcome.winner == 1 else 2).name
        elif result.reason == "board_full":
            assert outcome.termination is Termination.DRAW and result.winner is None
        else:
            assert outcome.termination is Termination.ONGOING
        if result.reason == "disconnect":
            # The winner was here when the deadline passed (or the other seat left).
            assert result.winner is not None
            number = before.number_of(result.winner)
            assert number is not None and before.seats[number - 1].conn is not None
            loser = 2 if number == 1 else 1
            assert self.game.seats[loser - 1].conn is None
        if result.reason == "aborted":
            assert result.winner is None and not result.counts
        if result.reason == "agreement":
            # A draw both players wanted: someone offered, the other accepted (or offered back).
            assert result.winner is None and before.draw_offer is not None
            assert result.counts == (len(result.moves) >= 2)
        if result.reason in ("forfeit", "disconnect", "timeout"):
            assert result.winner is not None
        if result.reason == "timeout":
            # The player to move ran out of their turn, both having moved before.
            assert before.turn_deadline is not None and self.now >= before.turn_deadline
            assert len(result.moves) >= 2
            assert result.winner != _name_to_move(before)
            if self.model_clocks is not None:
                # Timed: the flag fell when the mover's clock, as charged, reached zero.
                mover = before.board.turn - 1
                assert self.now - self.last_move_at >= self.model_clocks[mover] - 1e-9
        turn_deadline = before.turn_deadline
        if result.reason == "aborted" and turn_deadline is not None:  # noqa: SIM102
            if self.now >= turn_deadline and len(result.moves) < 2:
                # An opening that did not come in time: the first-move limit or the timeout.
                limit = FIRST_MOVE if self.model_clocks is not None else MACHINE_TIMEOUT
                assert turn_deadline == self.last_move_at + limit

    def deadline_passed(self) -> bool:
        """Whether a deadline the test has not fed has passed (an event now comes too late)."""
        deadline = self.game.deadline
        return deadline is not None and self.now >= deadline

    def seat_conn(self, number: PlayerNumber) -> int | None:
        return self.game.seats[number - 1].conn

    @rule(
        number=st.sampled_from(SEATS),
        column=st.integers(min_value=-1, max_value=7) | st.sampled_from([0, 3, 6]),
        sender=st.sampled_from(["seat", "stale", "stranger", "other_name"]),
        ply=st.sampled_from(["absent", "current", "behind", "ahead"]),
    )
    def move(self, number: PlayerNumber, column: int, sender: str, ply: str) -> None:
        name = SETUP.player(number).name
        conn = self.seat_conn(number)
        if sender == "stale" and self.stale:
            conn = self.stale[-1]
        elif sender == "stranger":
            conn = 99
        elif sender == "other_name":
            name = "cy"
        if conn is None:
            conn = 98
        board = self.game.board
        was_over = self.game.is_over
        before_offer = self.game.draw_offer
        deadline = self.game.deadline
        late = deadline is not None and self.now >= deadline
        plies = len(board.moves)
        at = {"absent": None, "current": plies, "behind": plies - 1, "ahead": plies + 1}[ply]
        effects = self.run(MoveRequested(conn, name, column, at))
        seated = (
            not was_over
            and not late
            and conn == self.seat_conn(number)
            and name == SETUP.player(number).name
        )
        stale = at is not None and at != plies
        if seated and stale:
            assert [code for _, code in errors(effects)] == ["stale_move"]
        legal = (
            not was_over
            and conn == self.seat_conn(number)
            and name == SETUP.player(number).name
            and board.turn == number
            and column in board.legal_columns()
            and not stale
        )
        offer = before_offer
        played = self.game.board.moves == (*board.moves, column)
        assert played == (legal and not late)
        if played:
            assert not errors(effects)
            if not self.game.is_over:
                # The player a draw was offered to moved: the offer lapsed; the offerer's
                # own move leaves it standing.
                assert self.game.draw_offer == (None if offer != number else offer)
            if self.model_clocks is not None and len(board.moves) >= 2:
                control = TIMED.time_control
                assert control is not None
                spent = self.now - self.last_move_at
                self.model_clocks[number - 1] += control.increment_seconds - spent
                assert self.model_clocks[number - 1] > control.increment_seconds
            self.last_move_at = self.now

    @rule(number=st.sampled_from(SEATS), stranger=st.booleans())
    def quit(self, number: PlayerNumber, stranger: bool) -> None:
        conn = 99 if stranger else self.seat_conn(number)
        was_over = self.game.is_over
        deadline = self.game.deadline
        late = deadline is not None and self.now >= deadline
        effects = self.run(QuitRequested(98 if conn is None else conn, SETUP.player(number).name))
        if not was_over and not stranger and conn is not None and not late:
            assert finished(effects) == [self.game.result]
            assert self.game.result is not None and self.game.result.reason == "forfeit"

    @rule(number=st.sampled_from(SEATS))
    def leave(self, number: PlayerNumber) -> None:
        conn = self.seat_conn(number)
        if conn is not None:
            self.stale.append(conn)
        self.run(SeatLeft(SETUP.player(number).name))

    @rule(number=st.sampled_from(SEATS))
    def come_back(self, number: PlayerNumber) -> None:
        conn = self.seat_conn(number)
        if conn is not None:
            self.stale.append(conn)
        self.next_conn += 1
        self.run(SeatReturned(SETUP.player(number).name, self.next_conn))

    @rule(offset=st.sampled_from([-0.001, 0.0]))
    def time_nears_the_deadline(self, offset: float) -> None:
        """Just before, or exactly at, the next deadline; not fed (an event may race it)."""
        deadline = self.game.deadline
        if deadline is not None:
            self.now = max(self.now, deadline + offset)

    @rule(seconds=st.sampled_from([0.0, 1.0, 5.0, 19.9, 20.0, 30.0, MACHINE_TIMEOUT]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        deadline = self.game.deadline
        was_over = self.game.is_over
        before = self.game
        effects = self.run(DeadlineReached())
        if was_over or deadline is None or self.now < deadline:
            assert self.game is before and effects == []
        elif before.turn_deadline == deadline:
            # The turn ran out: the player to move loses (an opening is aborted).
            [result] = finished(effects)
            if len(before.board.moves) < 2:
                assert result.reason == "aborted" and result.winner is None
            else:
                assert result.reason == "timeout" and result.winner != _name_to_move(before)
        else:
            [result] = finished(effects)
            # Both away: aborted; else the one who is here wins.
            here = [n for n in SEATS if before.seats[n - 1].conn is not None]
            if here:
                assert result.winner == SETUP.player(here[0]).name
            else:
                assert result.reason == "aborted" and result.winner is None

    @rule(number=st.sampled_from(SEATS), stranger=st.booleans())
    def offer_draw(self, number: PlayerNumber, stranger: bool) -> None:
        conn = 99 if stranger else self.seat_conn(number)
        before = self.game
        late = self.deadline_passed()
        effects = self.run(DrawOfferRequested(98 if conn is None else conn, _seat_name(number)))
        if late:
            return  # the deadline ended the game first (``run`` checks that)
        offered = [e.message for e in effects if isinstance(e, Send)]
        if any(isinstance(m, DrawOffered) for m in offered):
            assert not stranger and self.game.draw_offer == number
            plies = len(before.board.moves)
            earlier = self.offers[number]
            assert not earlier or plies - earlier[-1] >= DRAW_OFFER_PLIES
            earlier.append(plies)
        elif not before.is_over and not stranger and conn is not None:
            if before.draw_offer == _other_seat(number):
                assert self.game.result is not None and self.game.result.reason == "agreement"
            else:
                assert [code for _, code in errors(effects)] in (["draw_offer_limit"], [])

    @rule(number=st.sampled_from(SEATS), accept=st.booleans())
    def answer_draw(self, number: PlayerNumber, accept: bool) -> None:
        conn = self.seat_conn(number)
        before = self.game
        late = self.deadline_passed()
        effects = self.run(
            DrawAnswerRequested(98 if conn is None else conn, _seat_name(number), accept)
        )
        if before.is_over or conn is None or late:
            return
        if before.draw_offer != _other_seat(number):
            assert [code for _, code in errors(effects)] == ["no_draw_offer"]
        elif accept:
            assert self.game.result is not None and self.game.result.reason == "agreement"
        else:
            assert self.game.draw_offer is None
            [send] = [e for e in effects if isinstance(e, Send)]
            assert send.message == DrawDeclined(game_id="g1", by=_seat_name(number))

    @rule(number=st.sampled_from(SEATS))
    def player_aborts(self, number: PlayerNumber) -> None:
        conn = self.seat_conn(number)
        before = self.game
        late = self.deadline_passed()
        effects = self.run(AbortRequested(98 if conn is None else conn, _seat_name(number)))
        if before.is_over or conn is None or late:
            return
        if len(before.board.moves) >= 2:
            assert [code for _, code in errors(effects)] == ["cannot_abort"]
        else:
            assert self.game.result is not None and self.game.result.reason == "aborted"
            assert not self.game.result.counts

    @precondition(lambda self: self.now > 0)
    @rule(crashed=st.booleans())
    def abort(self, crashed: bool) -> None:
        self.run(Aborted(crashed=crashed))

    def teardown(self) -> None:
        """However the run went, the game ends exactly once."""
        if not self.game.is_over:
            self.run(Aborted())
        assert len(self.results) == 1

    @invariant()
    def one_end_at_most_and_it_is_the_state(self) -> None:
        assert len(self.results) <= 1
        assert self.game.result == (self.results[0] if self.results else None)

    @invariant()
    def the_armed_deadline_is_the_state(self) -> None:
        assert self.armed == self.game.deadline
        if self.game.is_over:
            assert self.game.deadline is None

    @invariant()
    def an_away_seat_has_a_deadline_until_the_end(self) -> None:
        for seat in self.game.seats:
            assert (seat.away_until is not None) == (seat.conn is None and not self.game.is_over)

    @invariant()
    def the_turn_deadline_runs_from_the_last_move(self) -> None:
        game = self.game
        if game.is_over:
            assert game.turn_deadline is None
            return
        assert game.turn_started == self.last_move_at
        if self.model_clocks is None:
            assert game.turn_deadline == game.turn_started + MACHINE_TIMEOUT
        elif len(game.board.moves) < 2:
            assert game.turn_deadline == game.turn_started + FIRST_MOVE
        else:
            # Timed: the flag is exactly when the mover's clock, as charged, runs out.
            assert game.clocks is not None
            assert game.clocks == pytest.approx(tuple(self.model_clocks))
            assert game.turn_deadline == game.turn_started + game.clocks[game.board.turn - 1]
        assert game.deadline is not None

    @invariant()
    def a_pending_draw_offer_is_the_last_offer(self) -> None:
        offer = self.game.draw_offer
        if offer is not None:
            assert (
                self.offers[offer]
                and self.game.draw_offered_at[offer - 1] == self.offers[offer][-1]
            )

    @rule()
    def restore_a_shadow(self) -> None:
        self.shadow = from_json(to_json(self.game))

    @rule()
    def restore_on_another_clock(self) -> None:
        self.moved = shifted(from_json(to_json(self.game)), MOVED_BY)

    @invariant()
    def json_restores_the_same_game(self) -> None:
        restored = from_json(to_json(self.game))
        assert restored == self.game
        assert restored.deadline == self.game.deadline


MOVED_BY = 12345.678
"""How far ahead the clock of the standby is, in ``GameMachine.moved``."""


def same_times(a: object, b: object) -> bool:
    """Equal, times compared to the microsecond (moving a time and back may round)."""
    return _rounded(a) == _rounded(b)


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        return (type(value), [_rounded(getattr(value, f.name)) for f in fields])
    return value


def test_a_game_on_another_clock_keeps_its_clocks_and_moves_its_deadlines() -> None:
    game = timed_game()
    game, _ = play(game, [3, 4], now=1.0)
    game, _ = apply(game, SeatLeft("bob"), 2.0)
    moved = shifted(game, 100.0)
    assert moved.clocks == game.clocks and moved.board == game.board
    assert moved.turn_started == game.turn_started + 100.0
    assert moved.seat(2).away_until == game.seat(2).away_until + 100.0  # type: ignore[operator]
    assert moved.deadline == game.deadline + 100.0  # type: ignore[operator]


def _seat_name(number: PlayerNumber) -> str:
    return SETUP.player(number).name


def _other_seat(number: PlayerNumber) -> PlayerNumber:
    return 2 if number == 1 else 1


def _name_to_move(game: Game) -> str:
    return SETUP.player(1 if game.board.turn == 1 else 2).name


TestGameMachine = GameMachine.TestCase


# --------------------------------------------------------------------------- restoring


@st.composite
def timed_events(draw: st.DrawFn) -> list[tuple[Event, float]]:
    """Events with non-decreasing times, from any seat or socket."""
    names = st.sampled_from(["ann", "bob", "cy"])
    conns = st.integers(min_value=1, max_value=6)
    event = st.one_of(
        st.builds(MoveRequested, conns, names, st.integers(min_value=-1, max_value=7)),
        st.builds(
            MoveRequested,
            st.sampled_from([1, 2]),
            st.sampled_from(["ann", "bob"]),
            st.integers(0, 6),
            st.none() | st.integers(0, 8),
        ),
        st.builds(QuitRequested, conns, names),
        st.builds(SeatLeft, names),
        st.builds(SeatReturned, names, conns),
        st.just(DeadlineReached()),
        st.builds(Aborted, st.booleans()),
        st.builds(DrawOfferRequested, conns, names),
        st.builds(DrawAnswerRequested, conns, names, st.booleans()),
        st.builds(AbortRequested, conns, names),
    )
    steps = draw(st.lists(st.tuples(event, st.sampled_from([0.0, 0.5, 10.0, 25.0])), max_size=60))
    now = 0.0
    timed: list[tuple[Event, float]] = []
    for item, step in steps:
        now += step
        timed.append((item, now))
    return timed


def run_events(game: Game, events: list[tuple[Event, float]]) -> tuple[Game, list[Any]]:
    seen: list[Any] = []
    for event, now in events:
        game, effects = apply(game, event, now)
        seen.append(effects)
    return game, seen


@given(events=timed_events(), data=st.data())
def test_a_game_restored_from_json_at_any_point_behaves_like_the_original(
    events: list[tuple[Event, float]], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(events)))
    timeout = data.draw(st.sampled_from([0.0, 30.0]))
    setup = data.draw(st.sampled_from([SETUP, TIMED]))
    first, _ = start(setup, (1, 2), GRACE, 0.0, move_timeout=timeout, first_move_seconds=FIRST_MOVE)
    original, original_effects = run_events(first, events)
    halfway, _ = run_events(first, events[:cut])
    restored, restored_effects = run_events(from_json(to_json(halfway)), events[cut:])
    assert restored == original
    assert restored_effects == original_effects[cut:]


def test_to_json_is_the_plain_encoding_whatever_the_setup_cache_holds() -> None:
    """``to_json`` keeps each setup's text by the setup's identity: a game of another setup
    with the same id, or a finished one, still encodes as its own fields say."""

    def plain(game: Game) -> str:
        return json.dumps(game_state._converter.unstructure(game), separators=(",", ":"))

    game, _ = play(new_game(move_timeout=30.0), DRAW_GAME[:5], 3.0)
    assert to_json(game) == plain(game)
    other_setup = attrs.evolve(SETUP, player2=Player(name="cy", color="blue"))
    other, _ = start(other_setup, (3, 4), GRACE, 1.0)
    assert to_json(other) == plain(other) and '"cy"' in to_json(other)
    finished, _ = play(new_game(), DRAW_GAME)
    assert finished.result is not None
    assert to_json(finished) == plain(finished)
    assert from_json(to_json(finished)) == finished


_times = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20)
_seats = st.builds(Seat, conn=st.none() | st.integers(0, 10**6), away_until=st.none() | _times)
_results = st.builds(
    GameResult,
    winner=st.none() | st.text(max_size=6),
    reason=st.sampled_from(get_args(GameOverReason)),
    moves=st.lists(st.integers(0, 6), max_size=8).map(tuple),
)


@st.composite
def any_games(draw: st.DrawFn) -> Game:
    """Games with any values their fields' types allow (not only reachable ones): odd
    floats, ints where floats go, a result, a bool where an int goes."""
    game, _ = start(SETUP, (1, 2), GRACE, 0.0)
    conn = draw(st.sampled_from([None, 1, True]))
    return attrs.evolve(
        game,
        grace_seconds=draw(_times),
        seats=(draw(_seats), Seat(conn=conn)),
        board=Board.from_moves(draw(st.lists(st.integers(0, 6), max_size=6))),
        result=draw(st.none() | _results),
        move_timeout=draw(_times),
        turn_started=draw(_times),
        draw_offer=draw(st.sampled_from([None, 1, 2])),
        draw_offered_at=draw(
            st.tuples(st.none() | st.integers(0, 42), st.none() | st.integers(0, 42))
        ),
        first_move_seconds=draw(_times),
        clocks=draw(st.none() | st.tuples(_times, _times)),
        started_at=draw(_times),
    )


@given(game=any_games())
def test_to_json_is_the_encoders_text_for_any_game(game: Game) -> None:
    """Written by hand, a game's JSON is byte for byte the encoder's text of its
    unstructured fields (NaN and infinities as the encoder writes them; a bool where an
    int goes takes the encoder's way).  (Reading it back: the round-trip tests above.)"""
    text = to_json(game)
    assert text == json.dumps(game_state._converter.unstructure(game), separators=(",", ":"))


def test_to_json_asks_neither_cattrs_nor_the_encoder_once_the_setup_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A game is written whole when it starts and when it ends (a cluster's core): once
    its setup's text is kept, the rest is written by hand, without cattrs' unstructuring
    or the JSON encoder (three quarters of the time it took)."""
    game, _ = play(new_game(move_timeout=30.0), DRAW_GAME[:5], 3.0)
    finished, _ = play(new_game(), DRAW_GAME)
    expected = [to_json(game), to_json(finished)]  # (the setup's text kept)

    def refused(*args: object, **kwargs: object) -> str:
        raise AssertionError("asked")

    monkeypatch.setattr(game_state, "_dumps", refused)
    monkeypatch.setattr(game_state, "_unstructure_rest", refused)
    monkeypatch.setattr(game_state, "_converter", refused)
    assert [to_json(game), to_json(finished)] == expected
