"""The pure lobby core: hand-written paths plus a hypothesis state machine over random events."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from c4actors import lobby_state
from c4actors.game_record import GameResult, GameSetup, Player
from c4actors.lobby_state import (
    CLOSE_TAKEN_OVER,
    COMPUTER_CONN,
    DECLINE_COOLDOWN,
    DEFAULT_INVITATION_TIMEOUT,
    DEFAULT_REMATCH_TIMEOUT,
    GAMES_WINDOW,
    REMATCH_OFFERS_PER_MINUTE,
    REMATCH_WINDOW,
    SAVE_VERSION,
    AccountInfo,
    CloseConnection,
    ColorChanged,
    Connected,
    Disconnected,
    Effect,
    Event,
    GameEnded,
    LobbyChanged,
    LobbyState,
    PlayerAway,
    PlayerReturned,
    Request,
    Send,
    SendUserList,
    SessionClosed,
    SessionOpened,
    SessionRefused,
    StartGame,
    Tick,
    computer_name,
    is_valid_username,
)
from c4actors.lobby_updates import LobbyUpdateBuffer
from protocol.messages import (
    Accept,
    AnswerRematch,
    Cancel,
    Challenge,
    Decline,
    Error,
    Invitation,
    InvitationCancelled,
    InvitationDeclined,
    InvitationSent,
    Leave,
    LeaveResult,
    LeftLobby,
    LobbyUpdate,
    PlayComputer,
    Rematch,
    RematchCancelled,
    RematchDeclined,
    RematchOffered,
    Seek,
    TimeControl,
    Unseek,
    UserInfo,
    UserList,
    Welcome,
)
from tests.encoder_spy import record_encodes

ERROR_CODES = {
    "account_mismatch",
    "name_registered",
    "not_connected",
    "already_connected",
    "invalid_name",
    "name_taken",
    "self_challenge",
    "not_available",
    "unknown_user",
    "no_invitation",
    "declined_recently",
    "too_many_games",
    "already_seeking",
    "not_seeking",
    "unknown_game",
    "opponent_left",
    "already_offered",
    "no_rematch_offer",
    "rematch_offer_limit",
    "invalid_time_control",
}

ONE_ZERO = TimeControl(base_seconds=60)
THREE_TWO = TimeControl(base_seconds=180, increment_seconds=2)
TOO_SHORT = TimeControl(base_seconds=1)
"""Below the bounds: a seek asking for it is refused."""
SEEK_CONTROLS = [None, None, ONE_ZERO, THREE_TWO, TOO_SHORT]


WON_GAME = (0, 1, 0, 1, 0, 1, 0)
"""Player 1 wins in column 0 after both players moved."""


def won_by(name: str) -> GameResult:
    return GameResult(winner=name, reason="four_in_a_row", moves=WON_GAME)


def start_game(game_id: str, player1: str, player2: str, conn1: int, conn2: int) -> StartGame:
    """The ``StartGame`` of two guests (default colours)."""
    setup = GameSetup(
        game_id=game_id,
        player1=Player(name=player1, color="red"),
        player2=Player(name=player2, color="yellow"),
    )
    return StartGame(setup, conn1, conn2)


class Numbered:
    """Makes ``prefix-0``, ``prefix-1``, ...; ``made`` says how many so far, so a restored
    lobby's maker can go on from the same place."""

    def __init__(self, prefix: str, made: int = 0) -> None:
        self.prefix, self.made = prefix, made

    def __call__(self) -> str:
        self.made += 1
        return f"{self.prefix}-{self.made - 1}"


def make_lobby(
    list_limit: int | None = None,
    max_games_per_minute: int | None = None,
    invitation_timeout: float | None = DEFAULT_INVITATION_TIMEOUT,
    new_token: Numbered | None = None,
    new_game_id: Numbered | None = None,
    rematch_timeout: float | None = DEFAULT_REMATCH_TIMEOUT,
) -> LobbyState:
    return LobbyState(
        new_token=new_token or Numbered("token"),
        new_game_id=new_game_id or Numbered("game"),
        list_limit=list_limit,
        max_games_per_minute=max_games_per_minute,
        invitation_timeout=invitation_timeout,
        rematch_timeout=rematch_timeout,
    )


def sends_to(effects: list[Effect], conn: int, lobby: LobbyState | None = None) -> list[Any]:
    """The messages ``conn`` gets; a ``SendUserList`` is the lobby's snapshot (pass ``lobby``)."""
    messages: list[Any] = []
    for effect in effects:
        if isinstance(effect, Send) and effect.conn == conn:
            messages.append(effect.message)
        elif isinstance(effect, SendUserList) and effect.conn == conn:
            assert lobby is not None, "pass the lobby to resolve user_list snapshots"
            own = [] if effect.own is None else [effect.own]
            messages.append(UserList(users=lobby.listed() + own, online=lobby.user_count()))
    return messages


def error_codes(effects: list[Effect]) -> list[str]:
    return [e.message.code for e in effects if isinstance(e, Send) and isinstance(e.message, Error)]


def connect(lobby: LobbyState, conn: int, name: str) -> list[Effect]:
    effects = lobby.handle(Connected(conn, name))
    assert isinstance(sends_to(effects, conn, lobby)[0], Welcome), effects
    return effects


# --------------------------------------------------------------------------- hand-written paths


def test_connect_sends_welcome_then_snapshot_including_self() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "Ann")
    effects = lobby.handle(Connected(2, "bob"))
    welcome, user_list = sends_to(effects, 2, lobby)
    assert welcome == Welcome(username="bob", resume="token-1", account=False)
    assert isinstance(user_list, UserList)
    assert {u.name for u in user_list.users} == {"Ann", "bob"}
    assert LobbyChanged(users=(UserInfo(name="bob", state="AVAILABLE"),), online=2) in effects


def test_names_are_unique_case_insensitively_and_validated() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "Ann")
    assert error_codes(lobby.handle(Connected(2, "ANN"))) == ["name_taken"]
    for bad in ["", "x" * 25, "<b>x</b>", "a b", "é"]:
        assert error_codes(lobby.handle(Connected(3, bad))) == ["invalid_name"]
    assert error_codes(lobby.handle(Connected(1, "Other"))) == ["already_connected"]
    connect(lobby, 4, "x" * 24)


def test_the_core_states_each_session_outcome_itself() -> None:
    """The actor learns a session opened or was refused from an effect, not from a welcome."""
    lobby = make_lobby()
    effects = lobby.handle(Connected(1, "ann"))
    assert effects[0] == SessionOpened(1, "ann")
    assert not any(isinstance(e, SessionRefused) for e in effects)
    for refused in (Connected(2, "ANN"), Connected(3, "a b")):
        effects = lobby.handle(refused)
        assert error_codes(effects) != [] and effects[-1] == SessionRefused(refused.conn)
    registered = Connected(4, "dee", name_registered=True)
    assert lobby.handle(registered)[-1] == SessionRefused(4)
    mismatch = Connected(5, "eve", account=AccountInfo(name="Dee", color="blue"))
    assert lobby.handle(mismatch)[-1] == SessionRefused(5)
    # A second new_connection on a socket with a session keeps that session open.
    effects = lobby.handle(Connected(1, "other"))
    assert error_codes(effects) == ["already_connected"]
    assert not any(isinstance(e, SessionRefused) for e in effects)


def test_a_session_resumed_mid_game_opens_with_its_game() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    lobby.handle(Request(2, Accept(challenger="ann"), at=0.0))
    effects = lobby.handle(Connected(3, "ann", resume="token-0"))
    assert effects[:2] == [
        CloseConnection(1, CLOSE_TAKEN_OVER, "session resumed on another connection"),
        SessionOpened(3, "ann", "game-0"),
    ]


DEE = AccountInfo(name="Dee", color="blue", wins=3)


def test_an_account_s_cookie_takes_its_session_over_from_another_tab() -> None:
    """No token needed: the signed-in account proves the session; the old socket is closed."""
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    lobby.handle(Connected(2, "Dee", account=DEE))
    lobby.handle(Request(2, Challenge(opponent="ann"), at=0.0))
    effects = lobby.handle(Connected(3, "dee", account=DEE))
    assert effects[:2] == [
        CloseConnection(2, CLOSE_TAKEN_OVER, "session resumed on another connection"),
        SessionOpened(3, "Dee"),
    ]
    welcome, _, pending = sends_to(effects, 3, lobby)
    assert isinstance(welcome, Welcome) and welcome.account
    assert pending == InvitationSent(to="ann")
    assert lobby.name_of(3) == "Dee" and lobby.name_of(2) is None
    assert lobby.user_info("Dee") == UserInfo(
        name="Dee", state="INVITATION_SENT", wins=3, registered=True
    )


def test_an_account_s_cookie_takes_its_game_back_while_the_old_socket_is_open() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    lobby.handle(Connected(2, "Dee", account=DEE))
    lobby.handle(Request(1, Challenge(opponent="Dee"), at=0.0))
    lobby.handle(Request(2, Accept(challenger="ann"), at=0.0))
    effects = lobby.handle(Connected(3, "Dee", account=DEE))
    assert effects[1] == SessionOpened(3, "Dee", "game-0")
    assert effects[-1] == PlayerReturned("game-0", "Dee", 3)


def test_a_guest_s_session_is_not_taken_by_an_account_of_that_name() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "dee")  # a guest, before anyone registered "dee"
    effects = lobby.handle(Connected(2, "dee", account=DEE))
    assert error_codes(effects) == ["name_taken"]
    assert lobby.name_of(1) == "dee"


def test_welcome_tells_how_long_a_session_outlives_its_socket() -> None:
    lobby = LobbyState(new_token=lambda: "t", new_game_id=lambda: "g", grace_seconds=20.0)
    effects = lobby.handle(Connected(1, "ann"))
    assert sends_to(effects, 1, lobby)[0] == Welcome(
        username="ann", resume="t", account=False, grace_seconds=20.0
    )


def test_requests_before_connecting_are_refused() -> None:
    lobby = make_lobby()
    assert error_codes(lobby.handle(Request(9, Challenge(opponent="a"), at=0.0))) == [
        "not_connected"
    ]


def test_challenge_accept_starts_game_with_challenged_user_first() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    effects = lobby.handle(Request(1, Challenge(opponent="BOB"), at=0.0))
    assert sends_to(effects, 1) == [InvitationSent(to="bob")]
    assert sends_to(effects, 2) == [Invitation(from_="ann")]
    effects = lobby.handle(Request(2, Accept(challenger="ann"), at=0.0))
    assert start_game("game-0", "bob", "ann", 2, 1) in effects
    assert lobby.user_info("ann") == UserInfo(name="ann", state="PLAYING")
    assert list(lobby.watchers()) == []


def test_challenge_refusals() -> None:
    lobby = make_lobby()
    for conn, name in enumerate(["ann", "bob", "cy"], start=1):
        connect(lobby, conn, name)
    assert error_codes(lobby.handle(Request(1, Challenge(opponent="Ann"), at=0.0))) == [
        "self_challenge"
    ]
    assert error_codes(lobby.handle(Request(1, Challenge(opponent="zed"), at=0.0))) == [
        "unknown_user"
    ]
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    assert error_codes(lobby.handle(Request(3, Challenge(opponent="bob"), at=0.0))) == [
        "not_available"
    ]
    assert error_codes(lobby.handle(Request(1, Challenge(opponent="cy"), at=0.0))) == [
        "not_available"
    ]
    assert error_codes(lobby.handle(Request(1, Accept(challenger="bob"), at=0.0))) == [
        "no_invitation"
    ]
    assert error_codes(lobby.handle(Request(2, Cancel(opponent="ann"), at=0.0))) == [
        "no_invitation"
    ]
    assert error_codes(lobby.handle(Request(3, Decline(challenger="ann"), at=0.0))) == [
        "no_invitation"
    ]


def test_decline_and_cancel_notify_the_other_side() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    effects = lobby.handle(Request(2, Decline(challenger="ann"), at=0.0))
    assert sends_to(effects, 1) == [InvitationDeclined(by="bob")]
    lobby.handle(Request(1, Challenge(opponent="bob"), at=DECLINE_COOLDOWN))
    effects = lobby.handle(Request(1, Cancel(opponent="bob"), at=DECLINE_COOLDOWN))
    assert sends_to(effects, 2) == [InvitationCancelled(by="ann", reason="cancelled")]
    assert {u.state for u in lobby.snapshot()} == {"AVAILABLE"}


def test_a_declined_challenger_waits_before_inviting_that_user_again() -> None:
    lobby = make_lobby()
    for conn, name in enumerate(["ann", "bob", "cy"], start=1):
        connect(lobby, conn, name)
    lobby.handle(Request(1, Challenge(opponent="bob"), at=100.0))
    lobby.handle(Request(2, Decline(challenger="ann"), at=100.0))
    assert lobby.declined_until("ANN", "bob") == 100.0 + DECLINE_COOLDOWN
    effects = lobby.handle(Request(1, Challenge(opponent="Bob"), at=100.5))
    assert effects == [
        Send(
            1,
            Error(
                code="declined_recently",
                message="bob declined your challenge: you can challenge them in 60 s",
                ref="challenge",
            ),
        )
    ]
    assert error_codes(lobby.handle(Request(1, Challenge(opponent="bob"), at=159.9))) == [
        "declined_recently"
    ]
    # Only that pair: bob may invite ann, and ann anybody else.
    effects = lobby.handle(Request(1, Challenge(opponent="cy"), at=101.0))
    assert sends_to(effects, 1) == [InvitationSent(to="cy")]
    lobby.handle(Request(1, Cancel(opponent="cy"), at=101.0))
    effects = lobby.handle(Request(2, Challenge(opponent="ann"), at=101.0))
    assert sends_to(effects, 2) == [InvitationSent(to="ann")]
    lobby.handle(Request(2, Cancel(opponent="ann"), at=101.0))
    # Once the cooldown is over, the decline is forgotten.
    effects = lobby.handle(Request(1, Challenge(opponent="bob"), at=160.0))
    assert sends_to(effects, 2) == [Invitation(from_="ann")]
    assert lobby.declined_until("ann", "bob") is None


def test_challenging_someone_else_declines_the_invitation_held() -> None:
    """The "kept busy" attack: ann re-invites bob the moment he declines; bob, holding her
    invitation, still gets to challenge cy, and that declines ann's invitation."""
    lobby = make_lobby()
    for conn, name in enumerate(["ann", "bob", "cy"], start=1):
        connect(lobby, conn, name)
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    effects = lobby.handle(Request(2, Challenge(opponent="cy"), at=1.0))
    assert sends_to(effects, 1) == [InvitationDeclined(by="bob")]
    assert sends_to(effects, 2) == [InvitationSent(to="cy")]
    assert sends_to(effects, 3) == [Invitation(from_="bob")]
    assert [info.state for info in lobby.snapshot()] == [
        "AVAILABLE",
        "INVITATION_SENT",
        "INVITATION_RECEIVED",
    ]
    changed = [e for e in effects if isinstance(e, LobbyChanged)]
    assert [u.name for c in changed for u in c.users] == ["ann", "bob", "cy"]
    assert lobby.declined_until("ann", "bob") == 1.0 + DECLINE_COOLDOWN
    assert error_codes(lobby.handle(Request(1, Challenge(opponent="bob"), at=2.0))) == [
        "declined_recently"
    ]
    # Challenging back the one who invited you is no way around accepting: refused.
    lobby.handle(Request(2, Cancel(opponent="cy"), at=3.0))
    lobby.handle(Request(3, Challenge(opponent="bob"), at=3.0))
    assert error_codes(lobby.handle(Request(2, Challenge(opponent="cy"), at=3.0))) == [
        "not_available"
    ]


def test_the_decline_cooldown_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="decline_cooldown"):
        LobbyState(new_token=str, new_game_id=str, decline_cooldown=-1)


def test_a_socket_starts_at_most_so_many_games_a_minute() -> None:
    lobby = make_lobby(max_games_per_minute=2)
    for conn, name in enumerate(["ann", "bob", "cy"], start=1):
        connect(lobby, conn, name)

    def play(challenger: int, challenged: int, at: float) -> list[Effect]:
        opponent, challenger_name = lobby.name_of(challenged), lobby.name_of(challenger)
        assert opponent is not None and challenger_name is not None
        assert not error_codes(lobby.handle(Request(challenger, Challenge(opponent=opponent), at)))
        effects = lobby.handle(Request(challenged, Accept(challenger=challenger_name), at))
        started = [e for e in effects if isinstance(e, StartGame)]
        if started:
            lobby.handle(GameEnded(started[0].game_id, won_by(opponent)))
        return effects

    play(1, 2, at=0.0)
    play(2, 1, at=10.0)
    # ann's socket has started two games within the minute: a third challenge is refused...
    effects = lobby.handle(Request(1, Challenge(opponent="cy"), at=20.0))
    assert effects == [
        Send(
            1,
            Error(
                code="too_many_games",
                message="you may start 2 games a minute: wait 40 s before the next",
                ref="challenge",
            ),
        )
    ]
    # ...and so is bob's accept, whoever challenged him; cy's invitation stays pending.
    lobby.handle(Request(3, Challenge(opponent="bob"), at=20.0))
    assert error_codes(lobby.handle(Request(2, Accept(challenger="cy"), at=20.0))) == [
        "too_many_games"
    ]
    assert lobby.peer_of("bob") == "cy"
    # A minute after the first game, one more is allowed.
    effects = lobby.handle(Request(2, Accept(challenger="cy"), at=60.0))
    [started] = [e for e in effects if isinstance(e, StartGame)]
    lobby.handle(GameEnded(started.game_id, won_by("bob")))
    # Each socket counts its own: a new socket of ann's (a reload) starts afresh.
    lobby.handle(Disconnected(1))
    connect(lobby, 4, "ann")
    assert not error_codes(lobby.handle(Request(4, Challenge(opponent="bob"), at=61.0)))


def test_the_games_cap_remembers_no_more_than_it_needs() -> None:
    for cap in (None, 2):
        lobby = make_lobby(max_games_per_minute=cap)
        connect(lobby, 1, "ann")
        connect(lobby, 2, "bob")
        for minute in range(5):
            for at in (minute * GAMES_WINDOW, minute * GAMES_WINDOW + 1):
                lobby.handle(Request(1, Challenge(opponent="bob"), at))
                effects = lobby.handle(Request(2, Accept(challenger="ann"), at))
                [start] = [e for e in effects if isinstance(e, StartGame)]
                lobby.handle(GameEnded(start.game_id, won_by("bob")))
        assert lobby.games_counted(1) == lobby.games_counted(2) == (cap or 0)
        lobby.handle(Disconnected(1))
        assert lobby.games_counted(1) == 0


def test_the_games_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_games_per_minute"):
        LobbyState(new_token=str, new_game_id=str, max_games_per_minute=0)


def test_disconnect_cancels_invitations() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    effects = lobby.handle(Disconnected(1))
    assert sends_to(effects, 2) == [InvitationCancelled(by="ann", reason="left")]
    assert LobbyChanged(left=("ann",), online=1) in effects
    assert lobby.user_info("bob") == UserInfo(name="bob", state="AVAILABLE")


def test_a_challenged_user_who_leaves_cancels_the_invitation_not_declines_it() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    effects = lobby.handle(Disconnected(2))
    assert sends_to(effects, 1) == [InvitationCancelled(by="bob", reason="left")]
    assert lobby.user_info("ann") == UserInfo(name="ann", state="AVAILABLE")


def test_an_unanswered_invitation_expires_and_both_sides_are_told() -> None:
    lobby = make_lobby(invitation_timeout=60.0)
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=10.0))
    assert lobby.next_deadline() == lobby.invitation_deadline("ann") == 70.0
    assert lobby.handle(Tick(69.9)) == []
    assert lobby.user_info("bob") == UserInfo(name="bob", state="INVITATION_RECEIVED")
    effects = lobby.handle(Tick(70.0))
    assert sends_to(effects, 1) == [InvitationCancelled(by="bob", reason="expired")]
    assert sends_to(effects, 2) == [InvitationCancelled(by="ann", reason="expired")]
    rows = (UserInfo(name="ann", state="AVAILABLE"), UserInfo(name="bob", state="AVAILABLE"))
    assert LobbyChanged(users=rows, online=2) in effects
    assert lobby.next_deadline() is None and lobby.invitation_deadline("ann") is None
    assert lobby.handle(Tick(200.0)) == []
    # An expiry is no decline: ann may invite bob again at once.
    effects = lobby.handle(Request(1, Challenge(opponent="bob"), at=70.0))
    assert sends_to(effects, 1) == [InvitationSent(to="bob")]
    assert lobby.next_deadline() == 130.0


def test_an_answered_invitation_leaves_no_deadline_behind() -> None:
    lobby = make_lobby(invitation_timeout=60.0)
    for conn, name in enumerate(["ann", "bob", "cy", "dee"], start=1):
        connect(lobby, conn, name)
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    lobby.handle(Request(1, Cancel(opponent="bob"), at=1.0))
    lobby.handle(Request(3, Challenge(opponent="dee"), at=2.0))
    lobby.handle(Request(4, Decline(challenger="cy"), at=3.0))
    lobby.handle(Request(2, Challenge(opponent="ann"), at=4.0))
    lobby.handle(Disconnected(1))
    assert lobby.next_deadline() is None
    # Challenging someone else while invited: the held invitation's deadline goes with it.
    lobby.handle(Request(2, Challenge(opponent="cy"), at=5.0))
    lobby.handle(Request(3, Challenge(opponent="dee"), at=65.0))
    assert lobby.next_deadline() == 125.0
    assert lobby.handle(Tick(70.0)) == []
    assert lobby.user_info("dee") == UserInfo(name="dee", state="INVITATION_RECEIVED")
    lobby.handle(Request(4, Accept(challenger="cy"), at=66.0))
    assert lobby.next_deadline() is None


def test_without_a_timeout_invitations_wait_forever() -> None:
    lobby = make_lobby(invitation_timeout=None)
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    assert lobby.next_deadline() is None
    assert lobby.handle(Tick(1e9)) == []
    assert lobby.user_info("ann") == UserInfo(name="ann", state="INVITATION_SENT")


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_the_invitation_timeout_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="invitation_timeout"):
        make_lobby(invitation_timeout=bad)


def test_two_seekers_play_at_once_and_the_one_who_waited_moves_first() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    effects = lobby.handle(Request(1, Seek(), at=0.0))
    assert effects == [LobbyChanged(users=(UserInfo(name="ann", state="SEEKING"),), online=2)]
    assert lobby.seekers() == ["ann"]
    effects = lobby.handle(Request(2, Seek(), at=5.0))
    assert effects[0] == start_game("game-0", "ann", "bob", 1, 2)
    assert lobby.seekers() == []
    assert lobby.game_players("game-0") == ("ann", "bob")
    assert {u.state for u in lobby.snapshot()} == {"PLAYING"}
    # Back in the lobby after the game, both may seek again.
    lobby.handle(GameEnded("game-0", won_by("bob")))
    assert not error_codes(lobby.handle(Request(2, Seek(), at=6.0)))
    assert lobby.seekers() == ["bob"]


def test_seek_refusals_say_why_and_change_nothing() -> None:
    lobby = make_lobby(max_games_per_minute=1)
    for conn, name in enumerate(["ann", "bob", "cy", "dee"], start=1):
        connect(lobby, conn, name)
    assert error_codes(lobby.handle(Request(1, Unseek(), at=0.0))) == ["not_seeking"]
    lobby.handle(Request(1, Seek(), at=0.0))
    assert error_codes(lobby.handle(Request(1, Seek(), at=0.0))) == ["already_seeking"]
    lobby.handle(Request(3, Challenge(opponent="dee"), at=0.0))
    assert error_codes(lobby.handle(Request(3, Seek(), at=0.0))) == ["not_available"]
    # Seekers cannot be challenged: they asked for anyone, and anyone may seek too.
    assert error_codes(lobby.handle(Request(2, Challenge(opponent="ann"), at=0.0))) == [
        "not_available"
    ]
    lobby.handle(Request(2, Seek(), at=1.0))  # paired with ann
    assert error_codes(lobby.handle(Request(2, Seek(), at=2.0))) == ["not_available"]
    assert error_codes(lobby.handle(Request(2, Unseek(), at=2.0))) == ["not_seeking"]
    lobby.handle(GameEnded("game-0", won_by("bob")))
    # One game a minute: seeking counts as starting one.
    effects = lobby.handle(Request(2, Seek(), at=30.0))
    assert error_codes(effects) == ["too_many_games"]
    assert sends_to(effects, 2)[0].ref == "seek"
    assert lobby.seekers() == []
    assert not error_codes(lobby.handle(Request(2, Seek(), at=61.0)))


def test_seekers_are_paired_only_with_the_same_time_control() -> None:
    lobby = make_lobby()
    for conn, name in enumerate(["ann", "bob", "cy", "dee"], start=1):
        connect(lobby, conn, name)
    effects = lobby.handle(Request(1, Seek(time_control=THREE_TWO), at=0.0))
    seeking = UserInfo(name="ann", state="SEEKING", time_control=THREE_TWO)
    assert effects == [LobbyChanged(users=(seeking,), online=4)]
    # Untimed and 1+0 seekers do not pair with a 3+2 one, nor with each other.
    lobby.handle(Request(2, Seek(), at=1.0))
    lobby.handle(Request(3, Seek(time_control=ONE_ZERO), at=2.0))
    assert lobby.seekers() == ["ann", "bob", "cy"]
    assert lobby.user_info("bob") == UserInfo(name="bob", state="SEEKING")
    # dee asks for 3+2: paired with ann at once, on that clock, ann moving first.
    effects = lobby.handle(Request(4, Seek(time_control=THREE_TWO), at=3.0))
    [start] = [e for e in effects if isinstance(e, StartGame)]
    assert (start.setup.player1.name, start.setup.player2.name) == ("ann", "dee")
    assert start.setup.time_control == THREE_TWO
    assert lobby.seekers() == ["bob", "cy"]
    assert lobby.user_info("ann") == UserInfo(name="ann", state="PLAYING")
    # Leaving the pool frees its clock: cy unseeks, and may seek untimed (paired with bob).
    lobby.handle(Request(3, Unseek(), at=4.0))
    assert lobby.user_info("cy") == UserInfo(name="cy", state="AVAILABLE")
    effects = lobby.handle(Request(3, Seek(), at=5.0))
    [start] = [e for e in effects if isinstance(e, StartGame)]
    assert (start.setup.player1.name, start.setup.time_control) == ("bob", None)
    assert lobby.seekers() == []


def test_a_seek_outside_the_time_control_bounds_is_refused() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    effects = lobby.handle(Request(1, Seek(time_control=TOO_SHORT), at=0.0))
    assert error_codes(effects) == ["invalid_time_control"]
    assert sends_to(effects, 1)[0].ref == "seek"
    assert lobby.seekers() == []


def test_unseeking_challenging_or_leaving_takes_a_seeker_out_of_the_pool() -> None:
    lobby = make_lobby()
    for conn, name in enumerate(["ann", "bob", "cy"], start=1):
        connect(lobby, conn, name)
    lobby.handle(Request(1, Seek(), at=0.0))
    effects = lobby.handle(Request(1, Unseek(), at=0.0))
    assert effects == [LobbyChanged(users=(UserInfo(name="ann", state="AVAILABLE"),), online=3)]
    lobby.handle(Request(1, Seek(), at=0.0))
    effects = lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    assert sends_to(effects, 1) == [InvitationSent(to="bob")]
    assert lobby.seekers() == []
    lobby.handle(Request(3, Seek(), at=0.0))
    lobby.handle(Disconnected(3))
    assert lobby.seekers() == []
    # ann's invitation is still pending; bob, holding it, seeks: that declines it.
    effects = lobby.handle(Request(2, Seek(), at=1.0))
    assert sends_to(effects, 1) == [InvitationDeclined(by="bob")]
    assert lobby.seekers() == ["bob"]
    assert lobby.user_info("ann") == UserInfo(name="ann", state="AVAILABLE")
    assert error_codes(lobby.handle(Request(1, Challenge(opponent="bob"), at=2.0))) == [
        "declined_recently"
    ]


def test_a_user_who_leaves_is_gone_and_the_socket_may_join_again_under_another_name() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    effects = lobby.handle(Request(1, Leave(), at=1.0))
    # Told first, ended last: the reply, the invitation called off, the lobby told.
    assert effects[0] == Send(1, LeftLobby(username="ann"))
    assert effects[-1] == SessionClosed(1)
    assert sends_to(effects, 2) == [InvitationCancelled(by="ann", reason="left")]
    assert LobbyChanged(left=("ann",), online=1) in effects
    assert lobby.name_of(1) is None and lobby.user_info("ann") is None
    assert lobby.user_info("bob") == UserInfo(name="bob", state="AVAILABLE")
    # The same socket joins again as "Ann2"; the old name is free for anyone.
    assert isinstance(sends_to(connect(lobby, 1, "Ann2"), 1, lobby)[0], Welcome)
    connect(lobby, 3, "ann")
    # A socket without a session has nothing to leave.
    assert error_codes(lobby.handle(Request(9, Leave(), at=2.0))) == ["not_connected"]


def test_leaving_and_joining_again_keeps_the_sockets_games_cap() -> None:
    """The cap counts a socket's games: a new name on the same socket does not reset it."""
    lobby = make_lobby(max_games_per_minute=1)
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    connect(lobby, 3, "cy")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    lobby.handle(Request(2, Accept(challenger="ann"), at=0.0))
    lobby.handle(GameEnded("game-0", won_by("bob")))
    lobby.handle(Request(1, Leave(), at=1.0))
    assert lobby.games_counted(1) == 1
    connect(lobby, 1, "zed")
    effects = lobby.handle(Request(1, Challenge(opponent="cy"), at=2.0))
    assert error_codes(effects) == ["too_many_games"]
    # Closing the socket forgets it at last.
    lobby.handle(Disconnected(1))
    assert lobby.games_counted(1) == 0


def test_a_player_cannot_leave_in_the_middle_of_a_game() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    lobby.handle(Request(2, Accept(challenger="ann"), at=0.0))
    effects = lobby.handle(Request(1, Leave(), at=1.0))
    assert error_codes(effects) == ["not_available"]
    assert sends_to(effects, 1)[0].ref == "leave"
    assert lobby.name_of(1) == "ann" and lobby.game_of("ann") == "game-0"


def test_playing_user_who_drops_is_kept_away_and_can_resume() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    lobby.handle(Request(2, Accept(challenger="ann"), at=0.0))
    assert lobby.handle(Disconnected(1)) == [PlayerAway("game-0", "ann")]
    assert lobby.is_away("ann")
    # The name stays reserved; a wrong token does not get it.
    assert error_codes(lobby.handle(Connected(3, "ann", resume="nope"))) == ["name_taken"]
    effects = lobby.handle(Connected(3, "ann", resume="token-0"))
    welcome, user_list = sends_to(effects, 3, lobby)
    assert isinstance(welcome, Welcome)
    assert welcome.resume != "token-0"
    assert isinstance(user_list, UserList)
    assert effects[-1] == PlayerReturned("game-0", "ann", 3)


def test_a_valid_token_resumes_even_if_the_name_was_registered_meanwhile() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    # Someone registered "ann" while this guest played: the guest's own token still works.
    effects = lobby.handle(Connected(3, "ann", resume="token-0", name_registered=True))
    assert isinstance(sends_to(effects, 3, lobby)[0], Welcome)
    refused = lobby.handle(Connected(4, "ann", name_registered=True))
    assert error_codes(refused) == ["name_registered"]


def test_resume_takes_over_an_open_socket() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    effects = lobby.handle(Connected(3, "ann", resume="token-0"))
    assert effects[0] == CloseConnection(
        1, CLOSE_TAKEN_OVER, "session resumed on another connection"
    )
    assert sends_to(effects, 3, lobby)[-1] == InvitationSent(to="bob")
    # The old socket's close arrives late and must not remove the resumed session.
    assert lobby.handle(Disconnected(1)) == []
    assert lobby.name_of(3) == "ann"


def test_game_end_updates_records_and_resynchronises_players() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    lobby.handle(Request(2, Accept(challenger="ann"), at=0.0))
    lobby.handle(Disconnected(1))
    effects = lobby.handle(GameEnded("game-0", won_by("bob")))
    assert effects[:2] == [
        LobbyChanged(users=(UserInfo(name="bob", state="AVAILABLE", wins=1),), online=2),
        LobbyChanged(left=("ann",), online=1),
    ]
    assert sends_to(effects, 2, lobby) == [
        UserList(users=[UserInfo(name="bob", state="AVAILABLE", wins=1)], online=1)
    ]
    assert lobby.handle(GameEnded("game-0", won_by("bob"))) == []


def test_the_list_holds_the_first_users_and_the_next_takes_a_freed_place() -> None:
    lobby = make_lobby(list_limit=2)
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    effects = connect(lobby, 3, "cy")
    # cy is online but not listed: only the count changes for everyone else ...
    assert LobbyChanged(online=3) in effects
    assert not any(isinstance(e, LobbyChanged) and e.users for e in effects)
    # ... and cy's own snapshot is the list plus cy.
    _, user_list = sends_to(effects, 3, lobby)
    assert [u.name for u in user_list.users] == ["ann", "bob", "cy"]
    assert user_list.online == 3
    assert [u.name for u in lobby.listed()] == ["ann", "bob"]
    connect(lobby, 4, "dee")
    effects = lobby.handle(Disconnected(1))
    cy = UserInfo(name="cy", state="AVAILABLE")
    assert effects == [LobbyChanged(users=(cy,), left=("ann",), online=3)]
    assert [u.name for u in lobby.listed()] == ["bob", "cy"]
    # An unlisted user who leaves changes only the count.
    assert lobby.handle(Disconnected(4)) == [LobbyChanged(online=2)]


def test_unlisted_users_play_by_name_and_are_told_their_own_row() -> None:
    lobby = make_lobby(list_limit=1)
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    connect(lobby, 3, "cy")
    effects = lobby.handle(Request(2, Challenge(opponent="cy"), at=0.0))
    # Neither is listed: no broadcast, but each learns their own new row.
    assert not any(isinstance(e, LobbyChanged) for e in effects)
    assert sends_to(effects, 2) == [
        InvitationSent(to="cy"),
        LobbyUpdate(users=[UserInfo(name="bob", state="INVITATION_SENT")], left=[], online=3),
    ]
    assert sends_to(effects, 3) == [
        Invitation(from_="bob"),
        LobbyUpdate(users=[UserInfo(name="cy", state="INVITATION_RECEIVED")], left=[], online=3),
    ]
    effects = lobby.handle(Request(3, Accept(challenger="bob"), at=0.0))
    assert start_game("game-0", "cy", "bob", 3, 2) in effects
    effects = lobby.handle(GameEnded("game-0", won_by("cy")))
    # Back in the lobby each gets the list plus their own row, and no separate update.
    assert sends_to(effects, 3, lobby) == [
        UserList(
            users=[
                UserInfo(name="ann", state="AVAILABLE"),
                UserInfo(name="cy", state="AVAILABLE", wins=1),
            ],
            online=3,
        )
    ]


def test_a_peer_who_takes_the_freed_place_gets_a_broadcast_not_a_personal_update() -> None:
    lobby = make_lobby(list_limit=1)
    connect(lobby, 1, "ann")
    connect(lobby, 2, "bob")
    lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    effects = lobby.handle(Disconnected(1))
    bob = UserInfo(name="bob", state="AVAILABLE")
    # bob is listed now: his new row goes to everyone, with ann's leaving.
    assert sends_to(effects, 2) == [InvitationCancelled(by="ann", reason="left")]
    assert LobbyChanged(users=(bob,), left=("ann",), online=1) in effects
    assert lobby.listed() == [bob]


def test_list_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="list_limit"):
        make_lobby(list_limit=0)


# --------------------------------------------------------------------------- state machine

NAMES = ["ann", "Ann", "bob", "cy", "dee", "", "bad name"]


def apply_update(view: dict[str, UserInfo], users: Any, left: Any) -> None:
    for name in left:
        view.pop(name, None)
    for info in users:
        view[info.name] = info


class LobbyMachine(RuleBasedStateMachine):
    """Random events against one lobby; ``LimitedLobbyMachine`` runs them with a list of 2
    and at most 2 games per socket per minute."""

    list_limit: int | None = None
    max_games_per_minute: int | None = None
    invitation_timeout = 45.0
    rematch_timeout = 30.0

    def __init__(self) -> None:
        super().__init__()
        self.new_token, self.new_game_id = Numbered("token"), Numbered("game")
        self.lobby = make_lobby(
            self.list_limit,
            self.max_games_per_minute,
            self.invitation_timeout,
            self.new_token,
            self.new_game_id,
            rematch_timeout=self.rematch_timeout,
        )
        self.shadow: LobbyState | None = None
        """A lobby restored from a snapshot of ``lobby`` (``restore_a_shadow``), fed the
        same events since: it must answer each exactly as ``lobby`` does."""
        self.moved: LobbyState | None = None
        """A lobby restored like ``shadow`` onto a clock ``MOVED_BY`` seconds ahead
        (``shifted_save``, as a standby core does), fed the same events at the same times
        on its clock: it must answer each as ``lobby`` does."""
        self.parts: dict[str, Any] | None = None
        """The lobby saved by parts (``save_by_parts``): every ``take_changes`` since
        ``track_changes`` applied in turn, as a cluster's core writes them."""
        self.next_conn = 0
        self.opened: list[int] = []
        self.closed: set[int] = set()
        self.tokens: dict[str, str] = {}
        self.started: list[str] = []
        self.ended: set[str] = set()
        self.mirror: dict[str, UserInfo] = {}
        self.buffered_mirror: dict[str, UserInfo] = {}
        self.buffer = LobbyUpdateBuffer(tick=0.05)
        self.now = 0.0
        self.online = 0
        self.buffered_online = 0
        self.own_rows: dict[str, UserInfo] = {}
        """What each unlisted user was last told about their own row."""
        self.declined_at: dict[tuple[str, str], float] = {}
        """(challenger, decliner) casefolded -> when the decline happened: the model of the
        cooldown, kept from the requests alone."""
        self.games_at: dict[int, list[float]] = {}
        """When each socket started its games: the model of the games-per-minute cap."""
        self.deadlines: dict[str, float] = {}
        """Challenger casefolded -> when their latest invitation expires, from the requests."""
        self.ticked = -math.inf
        """The time of the last ``Tick``: no invitation due by then may still be pending."""
        self.seats: dict[str, tuple[str, str]] = {}
        """Each game started: (who moved first, the other)."""
        self.offers_at: dict[str, list[float]] = {}
        """When each user (casefolded) made their rematch offers: the model of the limit."""
        self.offer_deadlines: dict[str, float] = {}
        """Finished game -> when its latest rematch offer expires, from the requests."""

    def fingerprint(self) -> Any:
        names = [u.name for u in self.lobby.snapshot()]
        return (
            sorted(self.lobby.snapshot(), key=lambda u: u.name),
            {
                n: (self.lobby.peer_of(n), self.lobby.game_of(n), self.lobby.is_away(n))
                for n in names
            },
            {c: self.lobby.name_of(c) for c in self.opened},
            self.lobby.game_count(),
            {n: self.lobby.result_screen(n) for n in names},
            {g: self.lobby.rematch_offer(g) for g in self.started},
        )

    def run(self, event: Any) -> list[Effect]:
        before = self.fingerprint()
        leaver = self.lobby.name_of(event.conn) if isinstance(event, Disconnected) else None
        leaver_info = None if leaver is None else self.lobby.user_info(leaver)
        peer = None if leaver is None else self.lobby.peer_of(leaver)
        peer_conn = next((c for c in self.live_conns() if self.lobby.name_of(c) == peer), None)
        asker = self.lobby.name_of(event.conn) if isinstance(event, Request) else None
        asker_info = None if asker is None else self.lobby.user_info(asker)
        asker_peer = None if asker is None else self.lobby.peer_of(asker)
        opponent = None
        if isinstance(event, Request) and isinstance(event.message, Challenge):
            opponent = self.lobby.user_info(event.message.opponent)
        playing_before = {u.name for u in self.lobby.snapshot() if u.state == "PLAYING"}
        seekers_before = [
            (name, info.time_control)
            for name in self.lobby.seekers()
            if (info := self.lobby.user_info(name)) is not None
        ]
        screens_before = {u.name: self.lobby.result_screen(u.name) for u in self.lobby.snapshot()}
        offers_before = {g: self.lobby.rematch_offer(g) for g in self.started}
        effects = self.lobby.handle(event)
        if self.shadow is not None:
            assert self.shadow.handle(event) == effects, "the restored lobby answered otherwise"
        if self.moved is not None:
            moved_effects = self.moved.handle(_later(event, MOVED_BY))
            assert _rounded(moved_effects) == _rounded(effects), "the moved lobby differs"
        for effect in effects:
            if isinstance(effect, StartGame):
                # Nobody is paired twice: a game starts between two users not playing.
                players = {effect.setup.player1.name, effect.setup.player2.name}
                assert len(players) == 2 and not players & playing_before
        if isinstance(event, Request) and isinstance(event.message, Seek):
            self.check_seek(event, asker_info, asker_peer, seekers_before, effects)
        if isinstance(event, Request) and isinstance(event.message, Leave):
            self.check_leave(event, asker_info, asker_peer, effects)
        if (
            asker is not None
            and isinstance(event.message, Challenge)
            and any(isinstance(m, InvitationSent) for m in sends_to(effects, event.conn))
        ):
            self.deadlines[asker.casefold()] = event.at + self.invitation_timeout
        if asker_info is not None:
            self.check_request(event, asker_info, asker_peer, opponent, effects)
        if asker_info is not None and isinstance(event.message, Rematch | AnswerRematch):
            self.check_rematch(event, asker_info, screens_before, offers_before, effects)
        for player, screen in screens_before.items():
            if screen is None or self.lobby.result_screen(player) is not None:
                continue
            # Leaving a result screen calls its offer off; the other player, if still there,
            # is told, unless the offer was answered by this very event.
            pending = offers_before.get(screen)
            others = [n for n, g in screens_before.items() if g == screen and n != player]
            if pending is not None and others and self.lobby.result_screen(others[0]) == screen:
                stays = self.conn_of(others[0])
                assert stays is not None
                cancelled = RematchCancelled(game_id=screen, by=player, reason="left")
                assert cancelled in sends_to(effects, stays)
        if leaver_info is not None and leaver_info.state != "PLAYING":
            # A disconnect cancels the invitation it involves, whichever side left.
            notices = [
                m
                for m in sends_to(effects, peer_conn if peer_conn is not None else -1)
                if not isinstance(m, LobbyUpdate)
            ]
            expected = [] if peer is None else [InvitationCancelled(by=leaver, reason="left")]
            assert notices == expected
        if isinstance(event, Disconnected):
            sent = [e.message for e in effects if isinstance(e, Send)]
            assert not any(isinstance(m, InvitationDeclined) for m in sent), "leaving is no decline"
        codes = error_codes(effects)
        assert set(codes) <= ERROR_CODES
        if codes:
            if isinstance(event, Connected) and codes != ["already_connected"]:
                assert effects[1:] == [SessionRefused(event.conn)], "a refusal says so, last"
                assert len(effects) == 2, "a refused event only answers with an error"
            else:
                assert len(effects) == 1, "a refused event only answers with an error"
            assert self.fingerprint() == before, "a refused event changed the state"
        elif isinstance(event, Connected):
            opened = [e for e in effects if isinstance(e, SessionOpened)]
            assert opened == [SessionOpened(event.conn, opened[0].name, opened[0].game_id)]
            assert self.lobby.name_of(event.conn) == opened[0].name
            assert opened[0].game_id == self.lobby.game_of(opened[0].name)
            first_to_conn = next(e for e in effects if getattr(e, "conn", None) == event.conn)
            assert first_to_conn is opened[0], "the session opens before anything is sent"
        seen_user_list = False
        for effect in effects:
            match effect:
                case SendUserList(own=own):
                    seen_user_list = True
                    name = self.lobby.name_of(effect.conn)
                    assert name is not None
                    assert (own is None) == self.lobby.is_listed(name)
                    if own is not None:
                        self.own_rows[name.casefold()] = own
                case LobbyChanged(users=users, left=left, online=online):
                    assert not seen_user_list, "a snapshot must not miss this event's changes"
                    assert users or left or online != self.online
                    apply_update(self.mirror, users, left)
                    self.online = online
                    self.buffer.add(effect, self.now)
                case Send(conn=conn, message=LobbyUpdate(users=[own], left=[])):
                    # Only an unlisted user is sent an update directly: their own row.
                    name = self.lobby.name_of(conn)
                    assert name is not None and own.name == name
                    assert not self.lobby.is_listed(name)
                    self.own_rows[name.casefold()] = own
                case Send(message=Welcome(username=name, resume=token)):
                    self.tokens[name.casefold()] = token
                case StartGame(game_id=game_id, conn1=conn1, conn2=conn2):
                    self.started.append(game_id)
                    self.seats[game_id] = (effect.setup.player1.name, effect.setup.player2.name)
                    for conn in (conn1, conn2):
                        self.games_at.setdefault(conn, []).append(event.at)
                case CloseConnection(conn=conn):
                    assert self.lobby.name_of(conn) is None
                case Send(conn=conn, message=InvitationDeclined(by=by)) if isinstance(
                    event, Request
                ) and isinstance(event.message, Rematch | AnswerRematch):
                    # A rematch declines the invitations its players held: the model cools.
                    challenger = self.lobby.name_of(conn)
                    assert challenger is not None
                    self.declined_at[challenger.casefold(), by.casefold()] = event.at
        return effects

    def check_rematch(
        self,
        event: Request,
        asker: UserInfo,
        screens: dict[str, str | None],
        offers: dict[str, tuple[str, str, float | None] | None],
        effects: list[Effect],
    ) -> None:
        """A rematch offer or answer against the model: result screens, offers, the rate
        limit, the cooldown and the games cap as they were before the request."""
        message = event.message
        assert isinstance(message, Rematch | AnswerRematch)
        codes = error_codes(effects)
        game_id, me = message.game_id, asker.name
        offer = offers.get(game_id)
        starts = [e for e in effects if isinstance(e, StartGame)]
        mine = screens.get(me) == game_id
        opponent = next((n for n, g in screens.items() if g == game_id and n != me), None)
        accepting = offer is not None and offer[1] == me
        if isinstance(message, AnswerRematch):
            if not accepting:
                assert codes == ["no_rematch_offer"]
                return
            if not message.accept:
                assert codes == [] and starts == []
                answered = RematchDeclined(game_id=game_id, by=me)
                assert sends_to(effects, event.conn) == [answered]
                assert offer is not None
                self.declined_at[offer[0].casefold(), me.casefold()] = event.at
                return
        elif not mine:
            busy = asker.state in ("PLAYING", "INVITATION_SENT", "SEEKING")
            assert codes == (["not_available"] if busy else ["unknown_game"])
            return
        elif opponent is None:
            assert codes == ["opponent_left"]
            return
        elif offer is not None and offer[0] == me:
            assert codes == ["already_offered"]
            return
        if accepting:
            # An acceptance, by answer or by crossing offer: the rematch starts at once.
            if self.at_games_cap(event):
                assert codes == ["too_many_games"] and starts == []
                return
            assert codes == [] and len(starts) == 1
            assert offer is not None
            setup = starts[0].setup
            first, second = self.seats[game_id]
            assert (setup.player1.name, setup.player2.name) == (second, first), "seats swap"
            assert setup.rematch_of == game_id
            assert self.lobby.rematch_offer(game_id) is None
            return
        assert opponent is not None
        key = me.casefold()
        declined = self.declined_at.get((key, opponent.casefold()))
        recent = [t for t in self.offers_at.get(key, []) if t > event.at - REMATCH_WINDOW]
        if declined is not None and event.at < declined + DECLINE_COOLDOWN:
            assert codes == ["declined_recently"]
        elif len(recent) >= REMATCH_OFFERS_PER_MINUTE:
            assert codes == ["rematch_offer_limit"]
        elif self.at_games_cap(event):
            assert codes == ["too_many_games"]
        else:
            assert codes == [] and starts == []
            offered = RematchOffered(game_id=game_id, by=me, expires_in=self.rematch_timeout)
            assert sends_to(effects, event.conn) == [offered]
            self.offers_at[key] = [*recent, event.at]
            self.offer_deadlines[game_id] = event.at + self.rematch_timeout

    def check_request(
        self,
        event: Request,
        asker: UserInfo,
        peer: str | None,
        opponent: UserInfo | None,
        effects: list[Effect],
    ) -> None:
        """The rules that keep anyone from being kept busy, checked against a model of the
        declines; ``asker``, ``peer`` and ``opponent`` are as they were before the request."""
        codes = error_codes(effects)
        me = asker.name.casefold()
        if isinstance(event.message, Decline) and not codes:
            assert peer is not None
            self.declined_at[peer.casefold(), me] = event.at
        if (
            isinstance(event.message, Accept)
            and asker.state == "INVITATION_RECEIVED"
            and peer == event.message.challenger
        ):
            assert codes == (["too_many_games"] if self.at_games_cap(event) else [])
        if (
            not isinstance(event.message, Challenge)
            or opponent is None
            or opponent.name == asker.name
        ):
            return
        declined = self.declined_at.get((me, opponent.name.casefold()))
        if asker.state not in ("AVAILABLE", "INVITATION_RECEIVED", "SEEKING"):
            assert codes == ["not_available"]
        elif self.at_games_cap(event):
            assert codes == ["too_many_games"]
        elif declined is not None and event.at < declined + DECLINE_COOLDOWN:
            assert codes == ["declined_recently"]
        elif opponent.state != "AVAILABLE":
            assert codes == ["not_available"]
        else:
            # Holding an invitation is no reason to be refused.
            assert codes == []
        if not codes and asker.state == "INVITATION_RECEIVED":
            # The invitation held was declined: its sender is told, and cools down.
            assert peer is not None
            peer_conn = next(c for c in self.live_conns() if self.lobby.name_of(c) == peer)
            assert InvitationDeclined(by=asker.name) in sends_to(effects, peer_conn)
            info = self.lobby.user_info(peer)
            assert info is not None and info.state == "AVAILABLE"
            self.declined_at[peer.casefold(), me] = event.at

    def check_seek(
        self,
        event: Request,
        asker: UserInfo | None,
        peer: str | None,
        seekers: list[tuple[str, TimeControl | None]],
        effects: list[Effect],
    ) -> None:
        """A seek is refused, or waits, or starts a game with the one who waited for the
        same clock; never with one who waits for another clock."""
        assert isinstance(event.message, Seek)
        control = event.message.time_control
        codes = error_codes(effects)
        if asker is None:
            assert codes == ["not_connected"]
        elif control == TOO_SHORT:
            assert codes == ["invalid_time_control"]
        elif asker.state == "SEEKING":
            assert codes == ["already_seeking"]
        elif asker.state not in ("AVAILABLE", "INVITATION_RECEIVED"):
            assert codes == ["not_available"]
        elif self.at_games_cap(event):
            assert codes == ["too_many_games"]
        else:
            assert codes == []
            starts = [e for e in effects if isinstance(e, StartGame)]
            partners = [name for name, wanted in seekers if wanted == control]
            waiting = [name for name, _ in seekers]
            if not partners:
                # Nobody waits for this clock (whoever waits for another): the asker waits.
                assert starts == [] and self.lobby.seekers() == [*waiting, asker.name]
                info = self.lobby.user_info(asker.name)
                assert info is not None and info.time_control == control
            else:
                # The one who waited for this clock is player 1: they move first.
                assert [
                    (s.setup.player1.name, s.setup.player2.name, s.setup.time_control)
                    for s in starts
                ] == [(partners[0], asker.name, control)]
                waiting.remove(partners[0])
                assert self.lobby.seekers() == waiting
            if asker.state == "INVITATION_RECEIVED":
                # Seeking declines the invitation held, as a challenge does.
                assert peer is not None
                peer_conn = self.conn_of(peer)
                assert peer_conn is not None
                assert InvitationDeclined(by=asker.name) in sends_to(effects, peer_conn)
                self.declined_at[peer.casefold(), asker.name.casefold()] = event.at

    def check_leave(
        self, event: Request, asker: UserInfo | None, peer: str | None, effects: list[Effect]
    ) -> None:
        """Leaving is refused in a game; otherwise it is a disconnect that keeps the socket:
        the user is gone, the invitation either way is called off, the socket is free."""
        codes = error_codes(effects)
        if asker is None:
            assert codes == ["not_connected"]
            return
        if asker.state == "PLAYING":
            assert codes == ["not_available"]
            return
        assert codes == []
        assert effects[0] == Send(event.conn, LeftLobby(username=asker.name))
        assert effects[-1] == SessionClosed(event.conn)
        assert self.lobby.name_of(event.conn) is None
        assert self.lobby.user_info(asker.name) is None
        assert asker.name not in self.lobby.seekers()
        sent = [e.message for e in effects if isinstance(e, Send)]
        assert not any(isinstance(m, InvitationDeclined) for m in sent), "leaving is no decline"
        if peer is not None:
            info = self.lobby.user_info(peer)
            assert info is not None and info.state == "AVAILABLE"
            peer_conn = self.conn_of(peer)
            if peer_conn is not None:
                notices = [
                    m for m in sends_to(effects, peer_conn) if not isinstance(m, LobbyUpdate)
                ]
                assert notices == [InvitationCancelled(by=asker.name, reason="left")]

    def at_games_cap(self, event: Request) -> bool:
        """Whether starting one more game would exceed the cap for the asking socket."""
        if self.max_games_per_minute is None:
            return False
        recent = [t for t in self.games_at.get(event.conn, []) if t > event.at - GAMES_WINDOW]
        return len(recent) >= self.max_games_per_minute

    @rule(seconds=st.sampled_from([1.0, 30.0, DECLINE_COOLDOWN - 0.5, DECLINE_COOLDOWN]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    def conn_of(self, name: str) -> int | None:
        return next((c for c in self.live_conns() if self.lobby.name_of(c) == name), None)

    @rule()
    def deadline_event(self) -> None:
        """The lobby actor's ``Tick``: exactly the invitations due expire, both sides told."""
        pending = {
            info.name: (peer, self.deadlines[info.name.casefold()])
            for info in self.lobby.snapshot()
            if info.state == "INVITATION_SENT" and (peer := self.lobby.peer_of(info.name))
        }
        offers = {
            game_id: offer
            for game_id in self.started
            if (offer := self.lobby.rematch_offer(game_id)) is not None
        }
        effects = self.run(Tick(self.now))
        self.ticked = self.now
        told: dict[int, list[Any]] = {}
        for effect in effects:
            if isinstance(effect, Send) and not isinstance(effect.message, LobbyUpdate):
                told.setdefault(effect.conn, []).append(effect.message)
        expected: dict[int, list[Any]] = {}
        for challenger, (challenged, deadline) in pending.items():
            states = {self.lobby.user_info(n).state for n in (challenger, challenged)}  # type: ignore[union-attr]
            if deadline > self.now:
                assert states == {"INVITATION_SENT", "INVITATION_RECEIVED"}
                continue
            assert states == {"AVAILABLE"}
            for me, other in ((challenger, challenged), (challenged, challenger)):
                conn = self.conn_of(me)
                assert conn is not None, "only playing users are away"
                expected[conn] = [InvitationCancelled(by=other, reason="expired")]
        for game_id, (by, to, offer_deadline) in offers.items():
            assert offer_deadline == self.offer_deadlines[game_id]
            if offer_deadline > self.now:
                assert self.lobby.rematch_offer(game_id) == (by, to, offer_deadline)
                continue
            assert self.lobby.rematch_offer(game_id) is None
            assert self.lobby.result_screen(by) == self.lobby.result_screen(to) == game_id
            for me, other in ((by, to), (to, by)):
                conn = self.conn_of(me)
                assert conn is not None, "players on a result screen are connected"
                notice = RematchCancelled(game_id=game_id, by=other, reason="expired")
                expected.setdefault(conn, []).append(notice)
        assert told == expected

    @invariant()
    def the_pool_is_the_seeking_users_and_nobody_waits_for_a_partner(self) -> None:
        rows = self.lobby.snapshot()
        seeking = [u.name for u in rows if u.state == "SEEKING"]
        assert sorted(self.lobby.seekers()) == sorted(seeking)
        # Seekers of one clock are compatible: two would have been paired.
        controls = [u.time_control for u in rows if u.state == "SEEKING"]
        assert len(set(controls)) == len(controls)
        # Only a seeker's row names a clock.
        assert all(u.time_control is None for u in rows if u.state != "SEEKING")
        for name in seeking:
            assert not self.lobby.is_away(name) and self.lobby.game_of(name) is None

    @invariant()
    def no_invitation_outlives_its_deadline(self) -> None:
        due: list[float] = []
        for info in self.lobby.snapshot():
            deadline = self.lobby.invitation_deadline(info.name)
            if info.state != "INVITATION_SENT":
                assert deadline is None
                continue
            assert deadline == self.deadlines[info.name.casefold()]
            assert deadline > self.ticked
            due.append(deadline)
        for game_id in self.started:
            offer = self.lobby.rematch_offer(game_id)
            if offer is not None:
                by, to, deadline = offer
                assert deadline is not None and deadline > self.ticked
                assert self.lobby.result_screen(by) == self.lobby.result_screen(to) == game_id
                due.append(deadline)
        assert self.lobby.next_deadline() == (min(due) if due else None)

    @invariant()
    def result_screens_hold_connected_players_between_games(self) -> None:
        """Nobody is on a result screen while playing, inviting or seeking, or away; the
        two players of a finished game on its screen are its two players."""
        on: dict[str, list[str]] = {}
        for info in self.lobby.snapshot():
            game_id = self.lobby.result_screen(info.name)
            if game_id is None:
                continue
            assert info.state in ("AVAILABLE", "INVITATION_RECEIVED")
            assert not self.lobby.is_away(info.name)
            assert info.name in self.seats[game_id]
            on.setdefault(game_id, []).append(info.name)
        for game_id, names in on.items():
            assert len(names) <= 2
            assert self.lobby.rematch_possible(game_id, names[0]) == (len(names) == 2)

    @rule(
        name=st.sampled_from(NAMES),
        resume=st.sampled_from(["none", "valid", "wrong"]),
        signed_in=st.booleans(),
    )
    def connect(self, name: str, resume: str, signed_in: bool) -> None:
        """``dee`` is a registered account; a signed-in socket is signed in as dee."""
        conn = self.next_conn
        self.next_conn += 1
        token = {"none": None, "valid": self.tokens.get(name.casefold()), "wrong": "x"}[resume]
        account = AccountInfo(name="Dee", color="blue", wins=3) if signed_in else None
        event = Connected(conn, name, token, account, name_registered=name.casefold() == "dee")
        effects = self.run(event)
        replies = sends_to(effects, conn, self.lobby)
        if resume != "valid" and not signed_in and name.casefold() == "dee":
            assert error_codes(effects) in (["name_registered"], ["invalid_name"])
        valid = is_valid_username(name)
        if signed_in and resume != "valid" and name.casefold() != "dee" and valid:
            assert error_codes(effects) in (["account_mismatch"], ["already_connected"])
        if isinstance(replies[0], Welcome):
            self.opened.append(conn)
            assert isinstance(replies[1], UserList)
            assert name.casefold() in {u.name.casefold() for u in replies[1].users}

    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        if not self.opened:
            return
        conn = data.draw(st.sampled_from(self.opened))
        self.run(Disconnected(conn))
        self.closed.add(conn)

    @rule(data=st.data())
    def disconnect_someone_with_an_invitation(self, data: st.DataObject) -> None:
        """Targeted: a leaver frees a place on the list while their peer's row changes."""
        inviting = [
            conn
            for conn in self.live_conns()
            if (info := self.lobby.user_info(self.lobby.name_of(conn) or "")) is not None
            and info.state in ("INVITATION_SENT", "INVITATION_RECEIVED")
        ]
        if inviting:
            conn = data.draw(st.sampled_from(inviting))
            self.run(Disconnected(conn))
            self.closed.add(conn)

    @rule(
        data=st.data(),
        kind=st.sampled_from([Challenge, Cancel, Accept, Decline, Seek, Unseek, Leave]),
        other=st.sampled_from(NAMES),
    )
    def request(self, data: st.DataObject, kind: Any, other: str) -> None:
        conn = data.draw(st.sampled_from(self.opened)) if self.opened else 999
        if kind is Seek:
            control = data.draw(st.sampled_from(SEEK_CONTROLS))
            self.run(Request(conn, Seek(time_control=control), at=self.now))
            return
        if kind in (Unseek, Leave):
            self.run(Request(conn, kind(), at=self.now))
            return
        field = "opponent" if kind in (Challenge, Cancel) else "challenger"
        self.run(Request(conn, kind(**{field: other}), at=self.now))

    @rule(data=st.data(), kind=st.sampled_from([Seek, Seek, Unseek]))
    def seek_or_unseek(self, data: st.DataObject, kind: Any) -> None:
        """Targeted: quick pairing by users who are online."""
        live = self.live_conns()
        if live:
            conn = data.draw(st.sampled_from(live))
            if kind is Seek:
                message = Seek(time_control=data.draw(st.sampled_from(SEEK_CONTROLS)))
            else:
                message = Unseek()
            self.run(Request(conn, message, self.now))

    @rule(data=st.data(), name=st.sampled_from(NAMES))
    def leave_and_join_again(self, data: st.DataObject, name: str) -> None:
        """Targeted: a guest changes name on the same socket (``leave``, then
        ``new_connection``), in whatever state they are."""
        live = self.live_conns()
        if not live:
            return
        conn = data.draw(st.sampled_from(live))
        self.run(Request(conn, Leave(), at=self.now))
        if self.lobby.name_of(conn) is None:
            self.run(Connected(conn, name, name_registered=name.casefold() == "dee"))

    def live_conns(self) -> list[int]:
        return [c for c in self.opened if self.lobby.name_of(c) is not None]

    @rule(data=st.data())
    def challenge_someone_online(self, data: st.DataObject) -> None:
        """Targeted: random requests alone rarely find two available users."""
        live = self.live_conns()
        if len(live) < 2:
            return
        conn = data.draw(st.sampled_from(live))
        others = [u.name for u in self.lobby.snapshot()]
        self.run(Request(conn, Challenge(opponent=data.draw(st.sampled_from(others))), self.now))

    @rule(data=st.data(), keep_playing=st.booleans())
    def play_a_game_at_once(self, data: st.DataObject, keep_playing: bool) -> None:
        """Targeted: a game started and ended at once, as the games cap is meant to stop;
        or started and left running (random requests alone rarely start one)."""
        available = [
            c
            for c in self.live_conns()
            if (info := self.lobby.user_info(self.lobby.name_of(c) or "")) is not None
            and info.state == "AVAILABLE"
        ]
        if len(available) < 2:
            return
        conn, other = data.draw(st.permutations(available))[:2]
        name, opponent = self.lobby.name_of(conn), self.lobby.name_of(other)
        assert name is not None and opponent is not None
        if error_codes(self.run(Request(conn, Challenge(opponent=opponent), self.now))):
            return
        effects = self.run(Request(other, Accept(challenger=name), self.now))
        for effect in effects:
            if isinstance(effect, StartGame) and not keep_playing:
                self.run(GameEnded(effect.game_id, won_by(opponent)))
                self.ended.add(effect.game_id)

    @rule(data=st.data(), action=st.sampled_from(["accept", "decline", "cancel"]))
    def answer_a_pending_invitation(self, data: st.DataObject, action: str) -> None:
        """Targeted: the invited user answers, or the challenger withdraws."""
        wanted = "INVITATION_SENT" if action == "cancel" else "INVITATION_RECEIVED"
        candidates = [
            c
            for c in self.live_conns()
            if (info := self.lobby.user_info(self.lobby.name_of(c) or "")) is not None
            and info.state == wanted
        ]
        if not candidates:
            return
        conn = data.draw(st.sampled_from(candidates))
        peer = self.lobby.peer_of(self.lobby.name_of(conn) or "")
        assert peer is not None
        message = {
            "accept": Accept(challenger=peer),
            "decline": Decline(challenger=peer),
            "cancel": Cancel(opponent=peer),
        }[action]
        effects = self.run(Request(conn, message, self.now))
        # check_request has checked a refused accept (the games cap): the only refusal here.
        assert error_codes(effects) in ([], ["too_many_games"])
        assert action == "accept" or not error_codes(effects)

    @rule(data=st.data())
    def finish_a_game(self, data: st.DataObject) -> None:
        """Targeted: two users play a game to its end, so that rematches have a result
        screen to be offered on (random events alone rarely get there)."""
        for name in ("cy", "bob"):
            if self.lobby.user_info(name) is None:
                self.connect(name, "none", signed_in=False)
        self.play_a_game_at_once(data, keep_playing=False)

    @rule(
        data=st.data(),
        action=st.sampled_from(["rematch", "rematch", "accept", "decline", "leave"]),
    )
    def on_the_result_screen(self, data: st.DataObject, action: str) -> None:
        """Targeted: a player on a result screen offers, answers or leaves it."""
        on_screen = [
            (conn, game_id)
            for conn in self.live_conns()
            if (game_id := self.lobby.result_screen(self.lobby.name_of(conn) or "")) is not None
        ]
        if not on_screen:
            return
        conn, game_id = data.draw(st.sampled_from(on_screen))
        messages: dict[str, Rematch | AnswerRematch | LeaveResult] = {
            "rematch": Rematch(game_id=game_id),
            "accept": AnswerRematch(game_id=game_id, accept=True),
            "decline": AnswerRematch(game_id=game_id, accept=False),
            "leave": LeaveResult(game_id=game_id),
        }
        message = messages[action]
        effects = self.run(Request(conn, message, self.now))
        if action == "leave":
            assert all(
                isinstance(e, Send) and isinstance(e.message, RematchCancelled) for e in effects
            )

    @rule(data=st.data(), kind=st.sampled_from([Rematch, AnswerRematch, LeaveResult]))
    def rematch_anything(self, data: st.DataObject, kind: Any) -> None:
        """Any connection, any game id: refused with a reason, or played by the rules."""
        conn = data.draw(st.sampled_from(self.opened)) if self.opened else 999
        game_id = data.draw(st.sampled_from([*self.started, "game-unknown"]))
        message: Rematch | AnswerRematch | LeaveResult = (
            AnswerRematch(game_id=game_id, accept=data.draw(st.booleans()))
            if kind is AnswerRematch
            else kind(game_id=game_id)
        )
        self.run(Request(conn, message, self.now))

    def pending_offers(self) -> list[tuple[str, tuple[str, str, float | None]]]:
        return [(g, offer) for g in self.started if (offer := self.lobby.rematch_offer(g))]

    @rule(data=st.data(), accept=st.booleans())
    def answer_a_rematch_offer(self, data: st.DataObject, accept: bool) -> None:
        """Targeted: the player offered a rematch answers it."""
        offers = self.pending_offers()
        if offers:
            game_id, (_, to, _) = data.draw(st.sampled_from(offers))
            conn = self.conn_of(to)
            assert conn is not None
            self.run(Request(conn, AnswerRematch(game_id=game_id, accept=accept), self.now))

    @rule()
    def a_rematch_offer_lapses(self) -> None:
        """Targeted: nobody answers for the whole timeout; the lobby actor ticks."""
        if self.pending_offers():
            self.now += self.rematch_timeout
            self.deadline_event()

    @rule(data=st.data(), how=st.sampled_from(["cross", "accept", "decline", "wait"]))
    def offer_and_answer(self, data: st.DataObject, how: str) -> None:
        """Targeted: one player offers a rematch and the other answers, leaves it pending,
        or presses "Rematch" too at the same moment ("cross"): one game at most."""
        pairs = [
            (conn, game_id)
            for conn in self.live_conns()
            if (name := self.lobby.name_of(conn)) is not None
            and (game_id := self.lobby.result_screen(name)) is not None
            and self.lobby.rematch_possible(game_id, name)
            and self.lobby.rematch_offer(game_id) is None
        ]
        if not pairs:
            return
        first, game_id = data.draw(st.sampled_from(pairs))
        second = next(c for c, g in pairs if g == game_id and c != first)
        games = self.lobby.game_count()
        effects = self.run(Request(first, Rematch(game_id=game_id), self.now))
        if how == "cross":
            effects += self.run(Request(second, Rematch(game_id=game_id), self.now))
        elif how != "wait":
            answer = AnswerRematch(game_id=game_id, accept=how == "accept")
            effects += self.run(Request(second, answer, self.now))
        started = [e for e in effects if isinstance(e, StartGame)]
        assert len(started) <= 1
        assert self.lobby.game_count() == games + len(started)

    @rule(
        data=st.data(),
        level=st.sampled_from(["beginner", "perfect"]),
        first=st.sampled_from(["you", "computer"]),
    )
    def play_computer(self, data: st.DataObject, level: Any, first: Any) -> None:
        """A game against the computer starts at once, or is refused as a seek would be;
        the computer's seat has no socket."""
        live = self.live_conns()
        if not live:
            return
        conn = data.draw(st.sampled_from(live))
        name = self.lobby.name_of(conn)
        assert name is not None
        asker = self.lobby.user_info(name)
        assert asker is not None
        peer = self.lobby.peer_of(name)
        request = Request(conn, PlayComputer(level=level, first=first), self.now)
        capped = self.at_games_cap(request)  # before the request adds its own game
        effects = self.run(request)
        codes = error_codes(effects)
        if asker.state not in ("AVAILABLE", "INVITATION_RECEIVED", "SEEKING"):
            assert codes == ["not_available"]
            return
        if capped:
            assert codes == ["too_many_games"]
            return
        assert codes == []
        [start] = [e for e in effects if isinstance(e, StartGame)]
        assert start.setup.computer is not None and start.setup.computer.level == level
        seat = start.setup.computer.seat
        assert seat == (2 if first == "you" else 1)
        assert (start.conn1, start.conn2) == (
            (conn, COMPUTER_CONN) if seat == 2 else (COMPUTER_CONN, conn)
        )
        assert start.setup.player(seat).name == computer_name(level)
        assert name not in self.lobby.seekers()
        if asker.state == "INVITATION_RECEIVED":
            assert peer is not None
            peer_conn = self.conn_of(peer)
            assert peer_conn is not None
            assert InvitationDeclined(by=asker.name) in sends_to(effects, peer_conn)
            self.declined_at[peer.casefold(), asker.name.casefold()] = request.at

    @rule(
        data=st.data(),
        outcome=st.sampled_from(["p1", "p2", "draw", "aborted"]),
        recorded=st.booleans(),
    )
    def end_game(self, data: st.DataObject, outcome: str, recorded: bool) -> None:
        game_id = data.draw(st.sampled_from([*self.started, "game-unknown"]))
        players = self.lobby.game_players(game_id)
        winner = None
        if players is not None and outcome != "draw":
            # Against the computer, player 2 stands for the computer here.
            winner = players[0] if outcome == "p1" else (players[1:] or ["Computer (x)"])[0]
        records = {u.name: (u.wins, u.losses, u.draws) for u in self.lobby.snapshot()}
        reason = {"draw": "board_full", "aborted": "aborted"}.get(outcome, "four_in_a_row")
        result = GameResult(winner=winner, reason=reason, moves=WON_GAME)  # type: ignore[arg-type]
        ended = GameEnded(game_id, result, recorded=recorded)
        effects = self.run(ended)
        for info in self.lobby.snapshot():
            against_computer = players is not None and len(players) == 1
            if info.name in records and (
                outcome == "aborted" or (info.registered and not recorded) or against_computer
            ):
                assert records[info.name] == (info.wins, info.losses, info.draws)
        if game_id in self.ended or players is None:
            assert effects == []
        self.ended.add(game_id)

    @rule()
    def flush(self) -> None:
        update = self.buffer.take()
        if update is not None:
            assert update.users or update.left or update.online != self.buffered_online
            apply_update(self.buffered_mirror, update.users, update.left)
            self.buffered_online = update.online

    @invariant()
    def states_are_pairwise_consistent(self) -> None:
        for info in self.lobby.snapshot():
            peer = self.lobby.peer_of(info.name)
            game = self.lobby.game_of(info.name)
            if info.state in ("AVAILABLE", "SEEKING"):
                assert peer is None and game is None
                continue
            if info.state == "PLAYING" and peer is None:
                # Against the computer: a game of one person.
                assert game is not None and self.lobby.game_players(game) == (info.name,)
                continue
            assert peer is not None
            other = self.lobby.user_info(peer)
            assert other is not None
            assert self.lobby.peer_of(peer) == info.name
            expected = {
                "INVITATION_SENT": "INVITATION_RECEIVED",
                "INVITATION_RECEIVED": "INVITATION_SENT",
                "PLAYING": "PLAYING",
            }[info.state]
            assert other.state == expected
            if info.state == "PLAYING":
                assert game is not None and self.lobby.game_of(peer) == game
                assert set(self.lobby.game_players(game) or ()) == {info.name, peer}
            else:
                assert game is None
                assert not self.lobby.is_away(info.name)

    @invariant()
    def closed_sockets_appear_nowhere(self) -> None:
        for conn in self.closed:
            assert self.lobby.name_of(conn) is None
        watchers = list(self.lobby.watchers())
        assert len(watchers) == len(set(watchers))
        for conn in watchers:
            name = self.lobby.name_of(conn)
            assert name is not None
            info = self.lobby.user_info(name)
            assert info is not None and info.state != "PLAYING"

    @rule(color=st.sampled_from(["blue", "red"]))
    def change_color(self, color: str) -> None:
        assert self.run(ColorChanged("dee", color)) == []

    @invariant()
    def only_accounts_are_registered(self) -> None:
        for info in self.lobby.snapshot():
            assert info.registered == (info.name == "Dee")

    @invariant()
    def away_users_are_only_players(self) -> None:
        for info in self.lobby.snapshot():
            if self.lobby.is_away(info.name):
                assert info.state == "PLAYING"

    @invariant()
    def replaying_updates_reproduces_the_list(self) -> None:
        listed = {u.name: u for u in self.lobby.listed()}
        assert self.mirror == listed
        assert self.online == self.lobby.user_count()
        pending = copy.deepcopy(self.buffer).take()
        view, online = dict(self.buffered_mirror), self.buffered_online
        if pending is not None:
            apply_update(view, pending.users, pending.left)
            online = pending.online
        assert view == listed
        assert online == self.lobby.user_count()

    @invariant()
    def the_list_is_the_first_users_up_to_the_limit(self) -> None:
        registry = [u.name for u in self.lobby.snapshot()]
        listed = [u.name for u in self.lobby.listed()]
        # The registry keeps join order: the listed users are its head, in that order.
        limit = self.list_limit or len(registry)
        assert listed == registry[:limit]

    @invariant()
    def unlisted_users_know_their_own_row(self) -> None:
        for conn in self.live_conns():
            name = self.lobby.name_of(conn)
            assert name is not None
            if not self.lobby.is_listed(name):
                assert self.own_rows[name.casefold()] == self.lobby.user_info(name)

    @rule()
    def restore_a_shadow(self) -> None:
        """Snapshot the lobby now, through JSON text, and restore it beside the original
        (with token and game id makers that go on where the original's are)."""
        saved = json.loads(json.dumps(self.lobby.save(), allow_nan=False))
        self.shadow = LobbyState.restore(
            saved,
            new_token=Numbered("token", self.new_token.made),
            new_game_id=Numbered("game", self.new_game_id.made),
            list_limit=self.list_limit,
            max_games_per_minute=self.max_games_per_minute,
            invitation_timeout=self.invitation_timeout,
            rematch_timeout=self.rematch_timeout,
        )

    @rule(as_text=st.booleans())
    def save_by_parts(self, as_text: bool) -> None:
        """Start saving the lobby by parts (once), then apply the parts changed since the
        last time, through JSON text (``as_text``: as the lobby writes it for a cluster's
        core, a user's by hand): the parts give exactly the whole save, and restore to the
        same lobby."""
        if self.parts is None:
            self.lobby.track_changes()
            self.parts = {}
        if as_text:
            texts, deletes = self.lobby.take_changed_texts()
            puts = {name: json.loads(text) for name, text in texts.items()}
            assert all(text == _compact(puts[name]) for name, text in texts.items())
        else:
            puts, deletes = json.loads(json.dumps(self.lobby.take_changes(), allow_nan=False))
        for name in deletes:
            self.parts.pop(name, None)
        self.parts.update(puts)
        whole = json.loads(json.dumps(self.lobby.save(), allow_nan=False))
        assert LobbyState.save_from_parts(self.parts) == whole
        restored = LobbyState.restore(
            LobbyState.save_from_parts(self.parts),
            new_token=Numbered("token", self.new_token.made),
            new_game_id=Numbered("game", self.new_game_id.made),
            list_limit=self.list_limit,
            max_games_per_minute=self.max_games_per_minute,
            invitation_timeout=self.invitation_timeout,
            rematch_timeout=self.rematch_timeout,
        )
        assert restored.save() == self.lobby.save()

    @rule()
    def restore_on_another_clock(self) -> None:
        saved = json.loads(json.dumps(self.lobby.save(), allow_nan=False))
        self.moved = LobbyState.restore(
            LobbyState.shifted_save(saved, MOVED_BY),
            new_token=Numbered("token", self.new_token.made),
            new_game_id=Numbered("game", self.new_game_id.made),
            list_limit=self.list_limit,
            max_games_per_minute=self.max_games_per_minute,
            invitation_timeout=self.invitation_timeout,
            rematch_timeout=self.rematch_timeout,
        )

    @invariant()
    def the_moved_lobby_is_the_lobby_later(self) -> None:
        if self.moved is None:
            return
        expected = LobbyState.shifted_save(self.lobby.save(), MOVED_BY)
        assert _rounded(self.moved.save()) == _rounded(expected)
        deadline = self.lobby.next_deadline()
        moved_deadline = self.moved.next_deadline()
        assert (deadline is None) == (moved_deadline is None)
        if deadline is not None and moved_deadline is not None:
            assert moved_deadline == pytest.approx(deadline + MOVED_BY)

    @invariant()
    def the_shadow_is_the_lobby(self) -> None:
        if self.shadow is None:
            return
        assert self.shadow.save() == self.lobby.save()
        assert self.shadow.next_deadline() == self.lobby.next_deadline()
        assert self.shadow.snapshot() == self.lobby.snapshot()
        assert self.shadow.listed() == self.lobby.listed()
        assert list(self.shadow.watchers()) == list(self.lobby.watchers())

    @invariant()
    def games_match_playing_users(self) -> None:
        playing = [u for u in self.lobby.snapshot() if u.state == "PLAYING"]
        # Two people a game, one against the computer (no peer).
        alone = [u for u in playing if self.lobby.peer_of(u.name) is None]
        assert len(playing) == 2 * self.lobby.game_count() - len(alone)


TestLobbyMachine = LobbyMachine.TestCase


class LimitedLobbyMachine(LobbyMachine):
    list_limit = 2
    max_games_per_minute = 2


TestLimitedLobbyMachine = LimitedLobbyMachine.TestCase


# --------------------------------------------------------------------------- snapshots

CONFIGURATION = {
    "_time_controls",
    "_grace_seconds",
    "_chat",
    "_invitation_timeout",
    "_max_games",
    "_new_token",
    "_new_game_id",
    "_list_limit",
    "_decline_cooldown",
    "_rematch_timeout",
}
"""What ``__init__`` is given (a restoring process passes its own)."""
SAVED = {
    "_users",
    "_conns",
    "_games",
    "_listed",
    "_waiting",
    "_pool",
    "_deadlines",
    "_invitation_numbers",
    "_games_started",
    "_declines",
    "_rematches",
    "_rematch_deadlines",
    "_game_controls",
}
"""What ``save`` writes and ``restore`` reads."""
TRACKING = {"_tables", "_rest_saved"}
"""How the lobby is saved by parts (``track_changes``): no state of its own (the machine's
``save_by_parts`` checks the parts give exactly ``save``)."""


def test_save_covers_every_attribute() -> None:
    """A new attribute of ``LobbyState`` fails here until it is configuration, or saved and
    restored (then add it to ``SAVED``; the state machine checks it behaves the same)."""
    assert set(vars(make_lobby())) == CONFIGURATION | SAVED | TRACKING


def busy_lobby() -> LobbyState:
    """Every kind of state at once: a game with a player away, an invitation with its
    deadline, a decline cooldown, games counted per socket, a seeker, a registered user,
    an unlisted user, a timed game in progress, a result screen with a rematch offer."""
    lobby = make_lobby(list_limit=5, max_games_per_minute=5)
    for conn, name in enumerate(["ann", "bob", "cy", "dee", "eve", "fay"], start=1):
        connect(lobby, conn, name)
    lobby.handle(Connected(7, "Gus", account=AccountInfo("Gus", "blue", wins=3)))
    lobby.handle(Request(1, Challenge(opponent="bob"), at=1.0))
    lobby.handle(Request(2, Accept(challenger="ann"), at=2.0))
    lobby.handle(Disconnected(1))
    lobby.handle(Request(3, Challenge(opponent="dee"), at=3.0))
    lobby.handle(Request(4, Decline(challenger="cy"), at=4.0))
    timed = TimeControl(base_seconds=180.0, increment_seconds=2.0)
    lobby.handle(Request(3, Challenge(opponent="eve", time_control=timed), at=5.0))
    lobby.handle(Request(6, Seek(), at=6.0))
    for conn, name in enumerate(["hal", "ivy", "jo", "kim"], start=12):
        connect(lobby, conn, name)
    lobby.handle(Request(12, Challenge(opponent="ivy"), at=6.0))
    lobby.handle(Request(13, Accept(challenger="hal"), at=6.0))
    lobby.handle(GameEnded("game-1", won_by("ivy")))
    lobby.handle(Request(12, Rematch(game_id="game-1"), at=6.5))
    lobby.handle(Request(14, Challenge(opponent="kim", time_control=timed), at=7.0))
    lobby.handle(Request(15, Accept(challenger="jo"), at=7.0))
    return lobby


def test_a_saved_lobby_is_json_and_restores_to_the_same_lobby() -> None:
    lobby = busy_lobby()
    saved = lobby.save()
    text = json.dumps(saved, allow_nan=False)
    restored = LobbyState.restore(
        json.loads(text),
        new_token=Numbered("token", 11),
        new_game_id=Numbered("game", 3),
        list_limit=5,
        max_games_per_minute=5,
    )
    assert restored.save() == saved
    assert restored.snapshot() == lobby.snapshot()
    assert restored.is_away("ann") and restored.game_of("bob") == "game-0"
    assert restored.invitation_deadline("cy") == lobby.invitation_deadline("cy") is not None
    assert restored.declined_until("cy", "dee") == 4.0 + DECLINE_COOLDOWN
    assert restored.seekers() == ["fay"] and restored.games_counted(2) == 1
    assert restored.next_deadline() == lobby.next_deadline()
    assert restored.rematch_offer("game-1") == lobby.rematch_offer("game-1") is not None
    assert restored.result_screen("ivy") == "game-1"
    # and from then on it answers as the original: a resume, an expiry, a declined retry,
    # the end of a timed game and its rematch on the same clock
    events: list[Event] = [
        Connected(8, "ann", resume="token-0"),
        Tick(5.0 + DEFAULT_INVITATION_TIMEOUT),
        Request(3, Challenge(opponent="dee"), at=70.0),
        Request(5, Seek(), at=70.0),
        GameEnded("game-2", won_by("kim")),
        Request(14, Rematch(game_id="game-2"), at=71.0),
        Request(15, AnswerRematch(game_id="game-2", accept=True), at=72.0),
    ]
    for event in events:
        assert restored.handle(event) == lobby.handle(event)
    assert restored.save() == lobby.save()


@pytest.mark.parametrize(
    "damage",
    [
        lambda saved: saved.update(version=SAVE_VERSION + 1),
        lambda saved: saved.pop("users"),
        lambda saved: saved.update(conns=[["one", "ann"]]),
        lambda saved: saved.update(deadlines=[[1.0, 2]]),
        lambda saved: saved["users"][0].update(state="NAPPING"),
        lambda saved: saved["users"][0].update(extra=1),
        lambda saved: saved.update(listed=["nobody"]),
        lambda saved: saved["users"].append(dict(saved["users"][0])),
        lambda saved: saved["rematches"][0].update(to="nobody"),
        lambda saved: saved.update(game_controls=[["game-2", {"base_seconds": "x"}]]),
    ],
)
def test_a_damaged_snapshot_is_refused(damage: Callable[[dict[str, Any]], object]) -> None:
    saved = busy_lobby().save()
    damage(saved)
    with pytest.raises(ValueError, match="not a lobby snapshot"):
        LobbyState.restore(saved, new_token=str, new_game_id=str)


def test_player_away_effect_only_for_players() -> None:
    lobby = make_lobby()
    connect(lobby, 1, "ann")
    effects = lobby.handle(Disconnected(1))
    assert not any(isinstance(e, PlayerAway) for e in effects)
    assert lobby.user_count() == 0


MOVED_BY = 12345.678
"""How far ahead the clock of the standby is, in ``LobbyMachine.moved``."""


def _later(event: Event, delta: float) -> Event:
    """``event`` as it arrives on a clock ``delta`` seconds ahead."""
    match event:
        case Request(at=at):
            return attrs.evolve(event, at=at + delta)
        case Tick(now=now):
            return Tick(now + delta)
    return event


def _rounded(value: object) -> object:
    """Times compared to the microsecond (moving a time and back may round)."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if attrs.has(type(value)):
        return (type(value), [_rounded(getattr(value, f.name)) for f in attrs.fields(type(value))])
    return value


def _compact(value: object) -> str:
    """``value`` as the JSON encoder writes a part (compact, ASCII)."""
    return json.dumps(value, separators=(",", ":"))


_controls = st.builds(
    TimeControl,
    base_seconds=st.floats(allow_nan=True) | st.integers(0, 10**6),
    increment_seconds=st.floats(0, 60) | st.integers(0, 60),
)
_names = st.text(max_size=6)


@given(
    user=st.builds(
        lobby_state._User,
        name=_names,
        token=_names,
        conn=st.none() | st.integers(-1, 10**9),
        state=st.sampled_from(["AVAILABLE", "PLAYING", "INVITATION_SENT"]),
        peer=st.none() | _names,
        game_id=st.none() | _names,
        wins=st.integers(0, 10**12),
        losses=st.integers(0, 9),
        draws=st.integers(0, 9) | st.just(True),
        registered=st.booleans(),
        color=st.none() | _names,
        invitation=st.none()
        | st.tuples(st.floats(allow_nan=False) | st.integers(0, 9), st.integers(0, 10**6)),
        time_control=st.none() | _controls,
        result=st.none()
        | st.builds(
            lobby_state._Result,
            game_id=_names,
            opponent=_names,
            first=st.booleans(),
            time_control=st.none() | _controls,
        ),
        offers=st.lists(st.floats(allow_nan=False) | st.integers(0, 9), max_size=3).map(tuple),
    )
)
def test_a_users_part_written_by_hand_is_the_encoders_text(user: Any) -> None:
    """A user's part (``take_changed_texts``: a cluster's core commits one each time a
    player challenges, starts or ends a game) is byte for byte the encoder's text for the
    user's saved data, whatever values its fields hold (a bool where a count goes takes
    the encoder's way)."""
    assert lobby_state._user_text(user) == _compact(lobby_state._saver.unstructure(user))


def test_a_users_part_is_written_without_the_json_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON encoder took about 4 us for a user's part (cattrs' unstructuring 1.3 more):
    the parts a challenge and an accept change are the same text written by hand."""
    lobbies = [LobbyState(Numbered("token"), Numbered("game")) for _ in range(2)]
    for lobby in lobbies:
        lobby.track_changes()
        lobby.take_changes()
        for conn, name in ((1, "ann"), (2, "bob")):
            lobby.handle(Connected(conn, name))
        lobby.handle(Request(1, Challenge(opponent="bob"), 0.0))
        lobby.handle(Request(2, Accept(challenger="ann"), 0.0))
    encoded = record_encodes(monkeypatch, lobby_state)
    texts, gone = lobbies[0].take_changed_texts()
    monkeypatch.undo()
    parts, gone_too = lobbies[1].take_changes()
    assert {"u:ann", "u:bob"} <= texts.keys() and gone == gone_too
    assert texts == {name: _compact(part) for name, part in parts.items()}
    assert not any(
        isinstance(value, lobby_state._User) or (isinstance(value, dict) and "token" in value)
        for value in encoded
    )
