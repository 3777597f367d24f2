"""The pure chat core: text rules, the flood rule (unit tests and properties), the room.

The properties are the promises of ``c4actors/chat_rules.py``'s docstring: never a 5th
accepted message within ``BURST_SECONDS``, never an accepted near-duplicate within
``DUPLICATE_SECONDS``, refusals change nothing, and waiting always lets a sender speak.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors.chat_rules import (
    BURST,
    BURST_SECONDS,
    DUPLICATE_SECONDS,
    MAX_CHARS,
    ChatRefused,
    ChatRequest,
    ChatRoom,
    ChatSettings,
    Voice,
    clean_text,
    near_duplicate,
    normalise,
    say,
)
from c4actors.game_record import GameSetup, Player
from c4actors.game_state import Aborted, Game, Send, apply, start
from protocol.messages import ChatMessage, Error

SETUP = GameSetup(
    game_id="g1",
    player1=Player(name="ann", color="red"),
    player2=Player(name="bob", color="yellow"),
)


def new_game() -> Game:
    game, _ = start(SETUP, (1, 2), 20.0)
    return game


def refusal(effects: list[Send]) -> str:
    [effect] = effects
    assert isinstance(effect.message, Error) and effect.message.ref == "chat"
    return effect.message.code


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("text", "shown"),
    [("hi", "hi"), ("  good luck!  ", "good luck!"), ("é" * MAX_CHARS, "é" * MAX_CHARS)],
)
def test_clean_text_strips_the_ends(text: str, shown: str) -> None:
    assert clean_text(text) == shown


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "chat_invalid"),
        ("   \t ", "chat_invalid"),
        ("x" * (MAX_CHARS + 1), "chat_too_long"),
        ("a\nb", "chat_invalid"),
        ("a\x00b", "chat_invalid"),
        ("a\x7fb", "chat_invalid"),
        ("a\x9bb", "chat_invalid"),
        ("a\u2028b", "chat_invalid"),
        ("abc\u202edcba", "chat_invalid"),
        ("a\ud800b", "chat_invalid"),
    ],
)
def test_clean_text_refusals(text: str, code: str) -> None:
    with pytest.raises(ChatRefused) as info:
        clean_text(text)
    assert info.value.code == code


@given(st.text(max_size=2 * MAX_CHARS))
def test_clean_text_never_passes_what_it_promises_to_refuse(text: str) -> None:
    try:
        shown = clean_text(text)
    except ChatRefused as refused:
        assert refused.code in ("chat_invalid", "chat_too_long")
        return
    assert 1 <= len(shown) <= MAX_CHARS
    assert shown == shown.strip() and shown in text
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in shown)
    assert not any("\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" for c in shown)
    shown.encode("utf-8")  # no lone surrogates: the reply can be sent


def test_near_duplicates() -> None:
    assert normalise("G g!") == normalise("gg") == "gg"
    assert near_duplicate("gg", "gg")
    assert not near_duplicate("gg", "gl")
    assert near_duplicate(normalise("what a game that was"), normalise("what a game that was!!"))
    assert near_duplicate(normalise("what a game that was"), normalise("what a game that wa"))
    assert not near_duplicate(normalise("what a game"), normalise("what a move"))


# --------------------------------------------------------------------------- flood


def test_the_fifth_message_within_ten_seconds_is_dropped() -> None:
    voice = Voice()
    for n in range(BURST):
        voice.check(f"message{n}", n * 2.0)
        voice = voice.said(f"message{n}", n * 2.0)
    with pytest.raises(ChatRefused) as info:
        voice.check("another", 9.0)
    assert info.value.code == "chat_flood"
    voice.check("another", BURST_SECONDS)  # the first one has left the window


def test_a_repeat_is_dropped_until_it_is_old() -> None:
    voice = Voice().said("gg", 0.0)
    with pytest.raises(ChatRefused):
        voice.check("gg", DUPLICATE_SECONDS - 0.1)
    voice.check("gg", DUPLICATE_SECONDS)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=12, allow_nan=False),
            st.sampled_from(["gg", "GG!", "good luck", "wp", "nice move", "nice move!", "ok"]),
        ),
        max_size=40,
    )
)
def test_flood_rule_properties(steps: list[tuple[float, str]]) -> None:
    voice = Voice()
    now = 0.0
    accepted: list[tuple[float, str]] = []
    for gap, text in steps:
        now += gap
        norm = normalise(text)
        try:
            voice.check(norm, now)
        except ChatRefused as refused:
            assert refused.code == "chat_flood"
            continue
        voice = voice.said(norm, now)
        accepted.append((now, norm))
    for i, (at, norm) in enumerate(accepted):
        within = [t for t, _ in accepted[: i + 1] if t + BURST_SECONDS > at]
        assert len(within) <= BURST
        for earlier_at, earlier in accepted[:i]:
            if earlier_at + DUPLICATE_SECONDS > at:
                assert not near_duplicate(norm, earlier)
    # Liveness: after a silence as long as every window, anything valid is accepted.
    voice.check(normalise(steps[-1][1]) if steps else "x", now + DUPLICATE_SECONDS)
    assert len(voice.recent) <= len(accepted)


# --------------------------------------------------------------------------- the room


def test_a_message_goes_to_both_players() -> None:
    room, effects = say(ChatRoom(), new_game(), ChatRequest(2, "bob", " hi ", 1000.5), 1.0)
    line = ChatMessage(game_id="g1", from_="bob", text="hi", at=1000.5)
    assert effects == [Send((1, 2), line, spectators=True)]
    assert room.voices[1].recent and not room.voices[0].recent


def test_a_spectator_audience_hears_the_players() -> None:
    room = ChatRoom(audience=(7, 1))
    _, effects = say(room, new_game(), ChatRequest(1, "ann", "hi", 0.0), 1.0)
    assert [effect.to for effect in effects] == [(1, 2, 7)]


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (ChatRequest(3, "cid", "hi", 0.0), "unknown_game"),
        (ChatRequest(3, "ann", "hi", 0.0), "unknown_game"),  # not the socket holding the seat
        (ChatRequest(1, "ann", "", 0.0), "chat_invalid"),
        (ChatRequest(1, "ann", "x" * 141, 0.0), "chat_too_long"),
    ],
)
def test_refusals_change_nothing(request_: ChatRequest, code: str) -> None:
    room = ChatRoom()
    after, effects = say(room, new_game(), request_, 1.0)
    assert after == room
    assert refusal(effects) == code
    assert effects[0].to == (request_.conn,)


def test_chat_off_refuses_everything() -> None:
    room = ChatRoom(settings=ChatSettings(enabled=False))
    _, effects = say(room, new_game(), ChatRequest(1, "ann", "hi", 0.0), 1.0)
    assert refusal(effects) == "chat_off"
    assert not room.lingers


def test_the_chat_stays_open_for_a_while_after_the_end() -> None:
    game, _ = apply(new_game(), Aborted(), 5.0)
    room = ChatRoom(settings=ChatSettings(after_game_seconds=60)).game_ended(5.0)
    assert room.game_ended(30.0) == room  # the first end counts
    _, effects = say(room, game, ChatRequest(1, "ann", "gg", 0.0), 64.9)
    assert isinstance(effects[0].message, ChatMessage)
    _, effects = say(room, game, ChatRequest(1, "ann", "gg", 0.0), 65.0)
    assert refusal(effects) == "chat_closed"


def test_the_chat_closes_once_both_players_moved_on() -> None:
    game, _ = apply(new_game(), Aborted(), 5.0)
    room = ChatRoom().game_ended(5.0)
    room = room.player_moved_on(1, game, 6.0)
    assert room.closes_at == 5.0 + room.settings.after_game_seconds  # bob is still there
    room = room.player_moved_on(2, game, 7.0)
    assert room.closes_at == 7.0
    _, effects = say(room, game, ChatRequest(1, "ann", "gg", 0.0), 7.0)
    assert refusal(effects) == "chat_closed"


def test_moving_on_during_the_game_closes_nothing() -> None:
    room = ChatRoom().player_moved_on(1, new_game(), 1.0).player_moved_on(2, new_game(), 1.0)
    assert room.closes_at is None
