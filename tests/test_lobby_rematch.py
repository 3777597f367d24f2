"""Rematches in the pure lobby core: offered on the result screen, accepted (seats swapped,
same clock), declined, crossing, called off when a player leaves, expired at a ``Tick``,
and rate-limited.  The state machine in tests/test_lobby_state.py runs them at random."""

from __future__ import annotations

import itertools

import pytest

from c4actors.game_record import GameResult
from c4actors.lobby_state import (
    DECLINE_COOLDOWN,
    DEFAULT_REMATCH_TIMEOUT,
    REMATCH_WINDOW,
    Connected,
    Disconnected,
    Effect,
    GameEnded,
    LobbyState,
    Request,
    Send,
    StartGame,
    Tick,
)
from protocol.messages import (
    Accept,
    AnswerRematch,
    Challenge,
    Decline,
    Error,
    Invitation,
    InvitationDeclined,
    LeaveResult,
    Rematch,
    RematchCancelled,
    RematchDeclined,
    RematchOffered,
    Seek,
    TimeControl,
)
from tests.test_lobby_state import error_codes, sends_to

ANN, BOB, CID = 1, 2, 3
THREE_TWO = TimeControl(base_seconds=180, increment_seconds=2)
OVER = GameResult(winner=None, reason="board_full", moves=(0, 1))


def lobby_of(*names: str, **options: object) -> LobbyState:
    tokens = (f"token-{i}" for i in itertools.count())
    games = (f"game-{i}" for i in itertools.count())
    lobby = LobbyState(
        new_token=lambda: next(tokens),
        new_game_id=lambda: next(games),
        **({"max_games_per_minute": None} | options),  # type: ignore[arg-type]
    )
    for conn, name in enumerate(names, start=1):
        lobby.handle(Connected(conn, name))
    return lobby


def finished_game(lobby: LobbyState, control: TimeControl | None = None, at: float = 0.0) -> str:
    """ann challenges bob, bob accepts (bob moves first), the game ends: both on its result."""
    lobby.handle(Request(ANN, Challenge(opponent="bob", time_control=control), at=at))
    [start] = starts(lobby.handle(Request(BOB, Accept(challenger="ann"), at=at)))
    assert (start.setup.player1.name, start.setup.player2.name) == ("bob", "ann")
    lobby.handle(GameEnded(start.game_id, OVER))
    assert lobby.result_screen("ann") == lobby.result_screen("bob") == start.game_id
    return start.game_id


def offered_by(
    name: str, game_id: str, expires_in: float = DEFAULT_REMATCH_TIMEOUT
) -> RematchOffered:
    return RematchOffered(game_id=game_id, by=name, expires_in=expires_in)


def starts(effects: list[Effect]) -> list[StartGame]:
    return [e for e in effects if isinstance(e, StartGame)]


def rematch(lobby: LobbyState, conn: int, game_id: str, at: float = 1.0) -> list[Effect]:
    return lobby.handle(Request(conn, Rematch(game_id=game_id), at=at))


def answer(
    lobby: LobbyState, conn: int, game_id: str, accept: bool, at: float = 2.0
) -> list[Effect]:
    return lobby.handle(Request(conn, AnswerRematch(game_id=game_id, accept=accept), at=at))


def test_an_accepted_rematch_starts_at_once_with_the_seats_swapped_on_the_same_clock() -> None:
    lobby = lobby_of("ann", "bob")
    game = finished_game(lobby, THREE_TWO)
    effects = rematch(lobby, ANN, game)
    offered = RematchOffered(game_id=game, by="ann", expires_in=DEFAULT_REMATCH_TIMEOUT)
    assert sends_to(effects, ANN) == sends_to(effects, BOB) == [offered]
    assert lobby.rematch_offer(game) == ("ann", "bob", 1.0 + DEFAULT_REMATCH_TIMEOUT)
    [start] = starts(answer(lobby, BOB, game, True))
    # bob moved first in the finished game: ann does now.
    assert (start.setup.player1.name, start.setup.player2.name) == ("ann", "bob")
    assert (start.conn1, start.conn2) == (ANN, BOB)
    assert start.setup.time_control == THREE_TWO
    assert start.setup.rematch_of == game
    assert lobby.rematch_offer(game) is None
    assert lobby.result_screen("ann") is None and lobby.result_screen("bob") is None
    assert lobby.game_of("ann") == lobby.game_of("bob") == start.game_id
    # ...and the first player alternates again in the rematch of the rematch.
    lobby.handle(GameEnded(start.game_id, OVER))
    rematch(lobby, BOB, start.game_id, at=3.0)
    [again] = starts(rematch(lobby, ANN, start.game_id, at=3.0))
    assert (again.setup.player1.name, again.setup.player2.name) == ("bob", "ann")


def test_two_crossing_offers_start_one_game() -> None:
    lobby = lobby_of("ann", "bob")
    game = finished_game(lobby)
    assert starts(rematch(lobby, ANN, game)) == []
    [start] = starts(rematch(lobby, BOB, game))
    assert start.setup.rematch_of == game
    # The second press of either, arriving after the game started, starts nothing.
    for conn in (ANN, BOB):
        effects = rematch(lobby, conn, game)
        assert error_codes(effects) == ["not_available"]
        effects = answer(lobby, conn, game, True)
        assert error_codes(effects) == ["no_rematch_offer"]
    assert lobby.game_count() == 1


def test_a_declined_offer_tells_both_and_the_offerer_waits_a_minute() -> None:
    lobby = lobby_of("ann", "bob")
    game = finished_game(lobby)
    rematch(lobby, ANN, game, at=1.0)
    effects = answer(lobby, BOB, game, False, at=2.0)
    declined = RematchDeclined(game_id=game, by="bob")
    assert sends_to(effects, ANN) == sends_to(effects, BOB) == [declined]
    assert lobby.result_screen("ann") == lobby.result_screen("bob") == game
    assert error_codes(rematch(lobby, ANN, game, at=3.0)) == ["declined_recently"]
    # Nor may the declined player challenge bob instead in the meantime.
    challenge = lobby.handle(Request(ANN, Challenge(opponent="bob"), at=3.0))
    assert error_codes(challenge) == ["declined_recently"]
    # The one who declined may still offer; a minute later ann may too.
    assert sends_to(rematch(lobby, BOB, game, at=4.0), ANN) == [offered_by("bob", game)]
    answer(lobby, ANN, game, False, at=5.0)
    effects = rematch(lobby, ANN, game, at=2.0 + DECLINE_COOLDOWN)
    assert sends_to(effects, BOB) == [
        RematchOffered(game_id=game, by="ann", expires_in=DEFAULT_REMATCH_TIMEOUT)
    ]


def test_an_unanswered_offer_expires_at_the_first_tick_after_its_deadline() -> None:
    lobby = lobby_of("ann", "bob", rematch_timeout=30.0)
    game = finished_game(lobby)
    rematch(lobby, ANN, game, at=10.0)
    assert lobby.next_deadline() == 40.0
    assert lobby.handle(Tick(39.9)) == []
    effects = lobby.handle(Tick(40.0))
    assert sends_to(effects, ANN) == [RematchCancelled(game_id=game, by="bob", reason="expired")]
    assert sends_to(effects, BOB) == [RematchCancelled(game_id=game, by="ann", reason="expired")]
    assert lobby.rematch_offer(game) is None and lobby.next_deadline() is None
    assert error_codes(answer(lobby, BOB, game, True, at=41.0)) == ["no_rematch_offer"]
    # Both are still on the result screen: another offer may follow.
    assert sends_to(rematch(lobby, BOB, game, at=42.0), ANN) == [offered_by("bob", game, 30.0)]


def test_without_a_timeout_an_offer_waits_until_a_player_leaves() -> None:
    lobby = lobby_of("ann", "bob", rematch_timeout=None)
    game = finished_game(lobby)
    effects = rematch(lobby, ANN, game)
    assert sends_to(effects, BOB) == [RematchOffered(game_id=game, by="ann", expires_in=None)]
    assert lobby.next_deadline() is None
    with pytest.raises(ValueError, match="rematch_timeout"):
        lobby_of(rematch_timeout=0.0)


@pytest.mark.parametrize(
    "leave",
    [
        pytest.param(lambda lobby, at: lobby.handle(Disconnected(BOB)), id="disconnect"),
        pytest.param(
            lambda lobby, at: lobby.handle(Request(BOB, LeaveResult(game_id="game-0"), at)),
            id="leave_result",
        ),
        pytest.param(
            lambda lobby, at: lobby.handle(Request(BOB, Challenge(opponent="cid"), at)),
            id="challenge",
        ),
        pytest.param(lambda lobby, at: lobby.handle(Request(BOB, Seek(), at)), id="seek"),
        pytest.param(
            lambda lobby, at: lobby.handle(Connected(9, "bob", resume="token-1")), id="reload"
        ),
    ],
)
def test_an_offer_ends_when_either_player_leaves_the_result_screen(leave: object) -> None:
    lobby = lobby_of("ann", "bob", "cid")
    game = finished_game(lobby)
    rematch(lobby, ANN, game)
    effects = leave(lobby, 3.0)  # type: ignore[operator]
    assert sends_to(effects, ANN) == [RematchCancelled(game_id=game, by="bob", reason="left")]
    assert lobby.rematch_offer(game) is None and lobby.result_screen("bob") is None
    assert lobby.next_deadline() is None or lobby.rematch_offer(game) is None
    # The one who stays cannot offer again: a clear code says why.
    assert error_codes(rematch(lobby, ANN, game, at=4.0)) == ["opponent_left"]
    assert not lobby.rematch_possible(game, "ann")


def test_the_offerer_leaving_calls_the_offer_off_too() -> None:
    lobby = lobby_of("ann", "bob")
    game = finished_game(lobby)
    rematch(lobby, ANN, game)
    effects = lobby.handle(Request(ANN, LeaveResult(game_id=game), at=2.0))
    assert sends_to(effects, BOB) == [RematchCancelled(game_id=game, by="ann", reason="left")]
    assert error_codes(answer(lobby, BOB, game, True)) == ["no_rematch_offer"]
    assert error_codes(rematch(lobby, BOB, game)) == ["opponent_left"]
    # Leaving again, or a result screen one is not on, is never answered.
    assert lobby.handle(Request(ANN, LeaveResult(game_id=game), at=3.0)) == []
    assert lobby.handle(Request(BOB, LeaveResult(game_id="game-x"), at=3.0)) == []


def test_accepting_another_invitation_leaves_the_result_screen() -> None:
    lobby = lobby_of("ann", "bob", "cid")
    game = finished_game(lobby)
    rematch(lobby, ANN, game)
    lobby.handle(Request(CID, Challenge(opponent="bob"), at=2.0))
    effects = lobby.handle(Request(BOB, Accept(challenger="cid"), at=3.0))
    assert sends_to(effects, ANN) == [RematchCancelled(game_id=game, by="bob", reason="left")]
    assert error_codes(rematch(lobby, ANN, game, at=4.0)) == ["opponent_left"]


def test_a_rematch_declines_the_invitations_its_players_held() -> None:
    lobby = lobby_of("ann", "bob", "cid")
    game = finished_game(lobby)
    effects = lobby.handle(Request(CID, Challenge(opponent="ann"), at=1.0))
    assert sends_to(effects, ANN) == [Invitation(from_="cid")]
    # Holding an invitation, ann is still on the result screen: the offer reaches her there.
    rematch(lobby, BOB, game, at=2.0)
    effects = answer(lobby, ANN, game, True, at=3.0)
    assert InvitationDeclined(by="ann") in sends_to(effects, CID)
    assert len(starts(effects)) == 1
    assert lobby.peer_of("cid") is None


def test_refusals_say_why_and_change_nothing() -> None:
    lobby = lobby_of("ann", "bob", "cid")
    game = finished_game(lobby)
    assert error_codes(rematch(lobby, CID, game)) == ["unknown_game"]
    assert error_codes(rematch(lobby, ANN, "game-x")) == ["unknown_game"]
    assert error_codes(answer(lobby, BOB, game, True)) == ["no_rematch_offer"]
    rematch(lobby, ANN, game)
    assert error_codes(rematch(lobby, ANN, game)) == ["already_offered"]
    assert error_codes(answer(lobby, ANN, game, True)) == ["no_rematch_offer"]
    assert error_codes(answer(lobby, CID, game, True)) == ["no_rematch_offer"]
    assert lobby.rematch_offer(game) == ("ann", "bob", 1.0 + DEFAULT_REMATCH_TIMEOUT)


def test_two_offers_a_minute_at_most() -> None:
    lobby = lobby_of("ann", "bob", rematch_timeout=5.0)
    game = finished_game(lobby)
    for at in (0.0, 10.0):
        rematch(lobby, ANN, game, at=at)
        lobby.handle(Tick(at + 5.0))  # expired unanswered
    effects = rematch(lobby, ANN, game, at=20.0)
    assert error_codes(effects) == ["rematch_offer_limit"]
    [refusal] = effects
    assert isinstance(refusal, Send) and isinstance(refusal.message, Error)
    assert "wait 40 s" in refusal.message.message
    assert lobby.rematch_offer(game) is None
    effects = rematch(lobby, ANN, game, at=REMATCH_WINDOW)
    assert sends_to(effects, BOB) == [offered_by("ann", game, 5.0)]


def test_the_games_cap_applies_to_offers_and_acceptances() -> None:
    lobby = lobby_of("ann", "bob", max_games_per_minute=1)
    game = finished_game(lobby)
    assert error_codes(rematch(lobby, ANN, game)) == ["too_many_games"]
    assert lobby.rematch_offer(game) is None


def test_a_player_who_left_during_the_game_leaves_no_result_screen() -> None:
    lobby = lobby_of("ann", "bob", grace_seconds=20.0)
    lobby.handle(Request(ANN, Challenge(opponent="bob"), at=0.0))
    [start] = starts(lobby.handle(Request(BOB, Accept(challenger="ann"), at=0.0)))
    lobby.handle(Disconnected(BOB))
    lobby.handle(GameEnded(start.game_id, GameResult(winner="ann", reason="disconnect")))
    assert lobby.result_screen("ann") == start.game_id
    assert error_codes(rematch(lobby, ANN, start.game_id)) == ["opponent_left"]
    # A newcomer under the old opponent's name is not that opponent.
    lobby.handle(Connected(5, "bob"))
    assert error_codes(rematch(lobby, ANN, start.game_id)) == ["opponent_left"]


def test_a_declined_invitation_does_not_leave_the_result_screen() -> None:
    lobby = lobby_of("ann", "bob", "cid")
    game = finished_game(lobby)
    lobby.handle(Request(CID, Challenge(opponent="bob"), at=1.0))
    lobby.handle(Request(BOB, Decline(challenger="cid"), at=2.0))
    assert lobby.rematch_possible(game, "bob")
