"""The lobby core carries a challenge's time control to the invitation and the game setup,
and refuses one outside the bounds (c4actors/time_controls.py)."""

from __future__ import annotations

import itertools

from c4actors.lobby_state import Connected, LobbyState, Request, StartGame
from c4actors.time_controls import PRESETS, TimeControlRules
from protocol.messages import (
    Accept,
    Cancel,
    Challenge,
    Error,
    Invitation,
    InvitationSent,
    TimeControl,
)
from tests.test_lobby_state import error_codes, sends_to

THREE_TWO = TimeControl(base_seconds=180, increment_seconds=2)


def lobby_of(*names: str, rules: TimeControlRules | None = None) -> LobbyState:
    tokens = (f"token-{i}" for i in itertools.count())
    games = (f"game-{i}" for i in itertools.count())
    lobby = LobbyState(
        new_token=lambda: next(tokens),
        new_game_id=lambda: next(games),
        max_games_per_minute=None,
        time_controls=rules,
    )
    for conn, name in enumerate(names, start=1):
        lobby.handle(Connected(conn, name))
    return lobby


def test_the_time_control_goes_from_challenge_to_invitation_to_game() -> None:
    lobby = lobby_of("ann", "bob")
    effects = lobby.handle(Request(1, Challenge(opponent="bob", time_control=THREE_TWO), at=0.0))
    assert sends_to(effects, 1) == [InvitationSent(to="bob", time_control=THREE_TWO)]
    assert sends_to(effects, 2) == [Invitation(from_="ann", time_control=THREE_TWO)]
    effects = lobby.handle(Request(2, Accept(challenger="ann"), at=1.0))
    [start] = [e for e in effects if isinstance(e, StartGame)]
    assert start.setup.time_control == THREE_TWO


def test_an_untimed_challenge_starts_an_untimed_game() -> None:
    lobby = lobby_of("ann", "bob")
    effects = lobby.handle(Request(1, Challenge(opponent="bob"), at=0.0))
    assert sends_to(effects, 2) == [Invitation(from_="ann")]
    effects = lobby.handle(Request(2, Accept(challenger="ann"), at=1.0))
    [start] = [e for e in effects if isinstance(e, StartGame)]
    assert start.setup.time_control is None


def test_a_withdrawn_timed_challenge_leaves_no_clock_behind() -> None:
    lobby = lobby_of("ann", "bob")
    lobby.handle(Request(1, Challenge(opponent="bob", time_control=THREE_TWO), at=0.0))
    lobby.handle(Request(1, Cancel(opponent="bob"), at=1.0))
    lobby.handle(Request(1, Challenge(opponent="bob"), at=2.0))
    effects = lobby.handle(Request(2, Accept(challenger="ann"), at=3.0))
    [start] = [e for e in effects if isinstance(e, StartGame)]
    assert start.setup.time_control is None


def test_a_resumed_session_is_told_the_pending_invitation_s_clock() -> None:
    lobby = lobby_of("ann", "bob")
    lobby.handle(Request(1, Challenge(opponent="bob", time_control=THREE_TWO), at=0.0))
    effects = lobby.handle(Connected(3, "bob", resume="token-1"))
    assert Invitation(from_="ann", time_control=THREE_TWO) in sends_to(effects, 3, lobby)


def test_time_controls_outside_the_bounds_are_refused_and_change_nothing() -> None:
    lobby = lobby_of("ann", "bob")
    for control in [
        TimeControl(base_seconds=5),
        TimeControl(base_seconds=0),
        TimeControl(base_seconds=4 * 3600),
        TimeControl(base_seconds=60, increment_seconds=-1),
        TimeControl(base_seconds=60, increment_seconds=61),
    ]:
        effects = lobby.handle(Request(1, Challenge(opponent="bob", time_control=control), at=0))
        assert error_codes(effects) == ["invalid_time_control"] and len(effects) == 1
        [error] = sends_to(effects, 1)
        assert isinstance(error, Error) and error.ref == "challenge"
    for name in ("ann", "bob"):
        info = lobby.user_info(name)
        assert info is not None and info.state == "AVAILABLE"
    for preset in PRESETS:
        assert TimeControlRules().refusal(preset) is None


def test_a_lower_minimum_allows_tiny_clocks_for_tests() -> None:
    lobby = lobby_of("ann", "bob", rules=TimeControlRules(min_base_seconds=1))
    tiny = TimeControl(base_seconds=2)
    effects = lobby.handle(Request(1, Challenge(opponent="bob", time_control=tiny), at=0))
    assert sends_to(effects, 2) == [Invitation(from_="ann", time_control=tiny)]
