"""The chat of one game as a pure value: what a message may say, the flood rule, who hears it.

A game's ``ChatRoom`` sits beside its ``Game`` (``c4actors.game_state``): the game actor
holds both and feeds chat requests to ``say(room, game, request, now)``, which returns
the new room and the effects (the same ``Send`` effects as the game core's).  Kept apart
from the game reducer so that the rules of play and the rules of talk change separately.
No I/O, no clock: ``now`` is passed in (monotonic seconds, as the game's deadlines), and
the wall-clock time shown to people (``ChatRequest.sent_at``) comes with the request.

Rules (checked by ``tests/test_chat_rules.py``):

* a message is 1..``MAX_CHARS`` characters once its ends are stripped of whitespace;
  control characters, lone surrogates, line and paragraph separators and bidirectional
  overrides are refused (``chat_invalid``), never stripped silently, so what the sender
  sees refused is exactly what they typed;
* flood: a sender who had ``BURST`` messages accepted in the last ``BURST_SECONDS`` has
  the next one dropped (Lichess drops the 5th within 10 s), and so is a near-duplicate
  (``near_duplicate``) of one of their messages accepted in the last
  ``DUPLICATE_SECONDS``; both are answered ``chat_flood``.  Refused messages do not count,
  so a sender who waits can always speak again;
* only the socket holding a seat may speak (``unknown_game`` otherwise, like a move);
  the chat is open during the game and for ``ChatSettings.after_game_seconds`` after its
  end (``chat_closed`` beyond), or never when the operator turned it off (``chat_off``);
  it closes earlier once both players have moved on (started another game or left), so a
  server whose players play game after game keeps no finished game alive for them;
* an accepted message is one ``chat_message`` to everyone who hears the game: today the
  players who are connected; a spectator, when spectators exist, joins ``audience``.
"""

from __future__ import annotations

import difflib
import unicodedata
from typing import Final

import attrs

from c4actors.game_state import SEATS, ConnId, Effect, Game, Send
from protocol.messages import ChatMessage, Error, ErrorCode, PlayerNumber

MAX_CHARS: Final = 140
BURST: Final = 4
"""Messages one sender may have accepted within ``BURST_SECONDS``; the next is dropped."""
BURST_SECONDS: Final = 10.0
DUPLICATE_SECONDS: Final = 30.0
"""How long a sender's message is remembered to refuse its near-duplicates."""
SIMILARITY: Final = 0.9
"""Two normalised texts at least this alike (``difflib`` ratio) are near-duplicates."""
DEFAULT_AFTER_GAME_SECONDS: Final = 120.0

_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@attrs.frozen(kw_only=True)
class ChatSettings:
    """The operator's choices (``c4actors serve --chat``, ``--chat-after``)."""

    enabled: bool = True
    after_game_seconds: float = DEFAULT_AFTER_GAME_SECONDS
    """How long the players may still talk once the game is over."""


# --------------------------------------------------------------------------- text


class ChatRefused(Exception):
    """A message the rules refuse: ``code`` for ``error.code``, ``message`` for people."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.code: ErrorCode = code
        self.message = message


def clean_text(text: str) -> str:
    """The text as it is shown: its ends stripped of whitespace; raises ``ChatRefused``."""
    text = text.strip()
    if not text:
        raise ChatRefused("chat_invalid", "an empty message (or only spaces) is not sent")
    if len(text) > MAX_CHARS:
        raise ChatRefused("chat_too_long", f"a message has at most {MAX_CHARS} characters")
    for char in text:
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ChatRefused(
                "chat_invalid", f"control character U+{ord(char):04X} is not allowed in chat"
            )
    return text


def normalise(text: str) -> str:
    """What two messages are compared by: case folded, letters and digits only, so
    ``gg``, ``GG!`` and ``g g`` are one message."""
    return "".join(char for char in text.casefold() if char.isalnum())


def near_duplicate(a: str, b: str) -> bool:
    """Whether two *normalised* texts say the same thing (equal, or nearly so when long
    enough for one changed character to be noise rather than meaning)."""
    if a == b:
        return True
    if min(len(a), len(b)) < 8:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= SIMILARITY


# --------------------------------------------------------------------------- flood


@attrs.frozen
class Said:
    """One accepted message of a sender: when (``now``) and its normalised text."""

    at: float
    norm: str


@attrs.frozen
class Voice:
    """One sender's recent accepted messages, oldest first (only those the rule needs)."""

    recent: tuple[Said, ...] = ()

    def check(self, norm: str, now: float) -> None:
        """Raise ``ChatRefused("chat_flood", ...)`` if a message said at ``now`` breaks
        the flood rule."""
        burst = [said for said in self.recent if said.at + BURST_SECONDS > now]
        if len(burst) >= BURST:
            wait = BURST_SECONDS - (now - burst[-BURST].at)
            raise ChatRefused(
                "chat_flood",
                f"at most {BURST} messages in {BURST_SECONDS:g} s: wait {max(wait, 0.1):.1f} s",
            )
        # ``said.at + window > now`` rather than ``now - said.at < window``: exactly one
        # window later is then always free, whatever the float rounding.
        for said in self.recent:
            if said.at + DUPLICATE_SECONDS > now and near_duplicate(norm, said.norm):
                raise ChatRefused("chat_flood", "you just said that")

    def shifted(self, delta: float) -> Voice:
        """The same voice on a clock ``delta`` seconds ahead: a cluster's standby restoring
        a game's chat charges nobody's flood limit for the outage."""
        return Voice(tuple(Said(said.at + delta, said.norm) for said in self.recent))

    def said(self, norm: str, now: float) -> Voice:
        """The voice after a message was accepted; forgets what no rule looks at any more."""
        keep = max(BURST_SECONDS, DUPLICATE_SECONDS)
        recent = tuple(said for said in self.recent if said.at + keep > now)
        return Voice((*recent, Said(now, norm)))


# --------------------------------------------------------------------------- the room


@attrs.frozen
class ChatRequest:
    """Socket ``conn``, signed in as ``name``, says ``text``; ``sent_at`` is the wall-clock
    time (epoch seconds) shown with it."""

    conn: ConnId
    name: str
    text: str
    sent_at: float


@attrs.frozen(kw_only=True)
class ChatRoom:
    """The chat of one game: the settings, when it closes (set at the game's end) and each
    seat's ``Voice``.  A plain value like ``Game``."""

    settings: ChatSettings = attrs.field(factory=ChatSettings)
    closes_at: float | None = None
    voices: tuple[Voice, Voice] = (Voice(), Voice())
    audience: tuple[ConnId, ...] = ()
    """Sockets that hear the chat besides the players (spectators, once they exist)."""
    moved_on: frozenset[ConnId] = frozenset()
    """Players' sockets that started another game (or closed) since this one ended."""

    def game_ended(self, now: float) -> ChatRoom:
        """The game is over at ``now``: the chat stays open ``after_game_seconds`` more."""
        if self.closes_at is not None:
            return self
        return attrs.evolve(self, closes_at=now + self.settings.after_game_seconds)

    def player_moved_on(self, conn: ConnId, game: Game, now: float) -> ChatRoom:
        """Socket ``conn`` started another game or closed: once every player of the finished
        game has, nobody is on its result screen any more and the chat closes at ``now``."""
        room = attrs.evolve(self, moved_on=self.moved_on | {conn})
        if room.closes_at is not None and all(c in room.moved_on for c in game.connected()):
            room = attrs.evolve(room, closes_at=min(room.closes_at, now))
        return room

    @property
    def lingers(self) -> bool:
        """Whether anyone may still talk after the game (the shell waits that long)."""
        return self.settings.enabled and self.settings.after_game_seconds > 0


def say(
    room: ChatRoom, game: Game, request: ChatRequest, now: float
) -> tuple[ChatRoom, list[Effect]]:
    """Apply one chat request; never raises.  Refusals are one ``error`` (``ref`` ``chat``)
    to the sender and leave ``room`` as it was."""
    try:
        number = _speaker(room, game, request, now)
        text = clean_text(request.text)
        norm = normalise(text)
        voice = room.voices[number - 1]
        voice.check(norm, now)
    except ChatRefused as refusal:
        error = Error(code=refusal.code, message=refusal.message, ref="chat")
        return room, [Send((request.conn,), error)]
    voice = voice.said(norm, now)
    voices = (voice, room.voices[1]) if number == 1 else (room.voices[0], voice)
    room = attrs.evolve(room, voices=voices)
    line = ChatMessage(game_id=game.game_id, from_=request.name, text=text, at=request.sent_at)
    hearers = game.connected() + tuple(c for c in room.audience if c not in game.connected())
    return room, [Send(hearers, line, spectators=True)]


def _speaker(room: ChatRoom, game: Game, request: ChatRequest, now: float) -> PlayerNumber:
    if not room.settings.enabled:
        raise ChatRefused("chat_off", "chat is turned off on this server")
    for number in SEATS:
        seat = game.seat(number)
        if game.setup.player(number).name == request.name and seat.conn == request.conn:
            break
    else:
        raise ChatRefused("unknown_game", "you are not playing in this game")
    if room.closes_at is not None and now >= room.closes_at:
        raise ChatRefused("chat_closed", "the chat of this game is closed")
    return number
