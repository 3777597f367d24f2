"""What the lobby and game actors tell whoever keeps their state outside the process.

In one process nobody does: the actors hold ``journal=None``.  In a cluster's core the
relay gives the lobby a ``Journal`` when it takes the lease (``TakeOver``), and the
lobby hands it to every game it starts; the relay then writes what changed to Redis,
together with the acknowledgement of the inputs that changed it
(``c4actors.cluster.keeper``).  Every method only notes the change and never waits: the
write happens later, once the actors have handled everything an input caused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from c4actors.chat_rules import ChatRoom, Voice
from c4actors.game_record import GameRecord
from c4actors.game_state import Game


class Journal(Protocol):
    def lobby_changed(self, take: Callable[[], tuple[dict[str, str], list[str]]]) -> None:
        """The lobby's state changed; ``take`` gives the parts changed since it was last
        called, each as its JSON text (``LobbyState.take_changed_texts``; called when they
        are written, so many changes cost one write of each part changed)."""
        ...

    def game_changed(self, game: Game) -> None:
        """A game's state is now ``game`` (started, moved, ended...)."""
        ...

    def game_gone(self, game_id: str) -> None:
        """The game ended and the lobby has been told: it is no longer restored."""
        ...

    def game_recorded(self, record: GameRecord) -> None:
        """The game ended and this is its record, to be kept in the SQL store: committed
        with the game's end and written to the store by another process (a cluster's
        edges), so the game actor does not write it itself and the write cannot fail here."""
        ...

    def chat_changed(self, game_id: str, voices: tuple[Voice, Voice]) -> None:
        """A message was accepted in the game's chat: its players' ``voices`` (what the
        flood rule remembers) are now these."""
        ...

    def chat_lingers(self, game: Game, room: ChatRoom | None) -> None:
        """A finished game's chat, open a while after its end (its record written and the
        lobby told, so the game itself is gone), is now ``room``; None once it closed."""
        ...

    def audience_changed(self, game_id: str, save: Callable[[str], dict[str, Any] | None]) -> None:
        """Who watches ``game_id``, or who watched it to its end and is kept to follow its
        players into a rematch, changed; ``save(game_id)`` gives that game's audience as
        data (``LobbyActor.save_audience``; None: nobody any more), called when it is
        written.  Noted one game at a time, so a spectator's arrival rewrites its game's
        audience only, not every game's (O(that game's spectators), not O(all of them))."""
        ...

    def following_changed(self, conn: int, following: bool) -> None:
        """Connection ``conn`` follows the list of games now, or no longer: noted one at a
        time (every page follows it, so saving all followers on each change would make
        every join O(users))."""
        ...
