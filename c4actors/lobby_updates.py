"""When and what the lobby broadcasts: ``LobbyChanged`` effects coalesced into ticks.

A pure value beside ``lobby_state``: no task, no clock of its own (every call that
depends on time is given ``now``), so the timing policy is tested with plain numbers
and the lobby actor only sleeps until ``due`` and delivers what ``take`` returns.

The policy, and why:

* a row change goes out one ``tick`` after the first change of the batch, so a burst
  of joins costs one broadcast, not one per join;
* a change of the online count alone (users beyond the list limit came or went) waits
  for the longer ``count_tick``: it is worth less than a row, and on a busy server every
  join changes it;
* both ticks lengthen with the number of watchers the last broadcast reached, because a
  broadcast costs server CPU per watcher (see ``effective_tick`` and ``count_tick``);
* ``tick <= 0`` turns coalescing off: every change is due at once (tests use it).

The buffering and the timing are ``c4actors.coalescer``'s, shared with the list of games
(``live_games.GameListBuffer``); this module says what a ``lobby_update`` carries.
"""

from __future__ import annotations

import attrs

from c4actors.coalescer import COUNT_TICK, COUNT_TICK_PER_WATCHER, TICK_PER_WATCHER, Coalescer
from c4actors.lobby_state import LobbyChanged
from protocol.messages import LobbyUpdate, UserInfo

__all__ = ["COUNT_TICK", "COUNT_TICK_PER_WATCHER", "TICK_PER_WATCHER", "LobbyUpdateBuffer"]


def _name(info: UserInfo) -> str:
    return info.name


@attrs.define
class LobbyUpdateBuffer:
    """Coalesces ``LobbyChanged`` effects into one ``lobby_update`` per tick (a
    ``c4actors.coalescer.Coalescer`` of user rows keyed by name, the online count).

    Only each user's latest info is kept; a user who joined and left within one
    tick appears only in ``left``.  Clients apply ``left`` first, then ``users``,
    so a name that left and came back appears in both and ends up present.

    ``tick`` is the shortest row tick (``--lobby-tick``); ``due`` says when the pending
    update must go out, ``take`` hands it over, and ``reached`` tells the buffer how many
    watchers the broadcast reached, which sets the next ticks' length.
    """

    tick: float = 0.0
    _rows: Coalescer[UserInfo] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rows = Coalescer(_name, self.tick)

    def add(self, change: LobbyChanged, now: float) -> None:
        """Buffer ``change`` (made at time ``now``) and set when the update is due."""
        self._rows.add(change.users, change.left, change.online, now)

    def __bool__(self) -> bool:
        return bool(self._rows)

    @property
    def count_only(self) -> bool:
        """Only the count changed (or nothing): no row to send."""
        return self._rows.count_only

    @property
    def due(self) -> float | None:
        """When the pending update must be sent; None when nothing is pending."""
        return self._rows.due

    def take(self) -> LobbyUpdate | None:
        """The pending update, or None when nothing changed; the buffer is then empty."""
        batch = self._rows.take()
        if batch is None:
            return None
        return LobbyUpdate(users=batch.rows, left=batch.removed, online=batch.count)

    def reached(self, watchers: int) -> None:
        """The update just taken was delivered to ``watchers`` connections."""
        self._rows.reached(watchers)

    @property
    def effective_tick(self) -> float:
        """The row tick, lengthened under load (``Coalescer.effective_tick``)."""
        return self._rows.effective_tick

    @property
    def count_tick(self) -> float:
        """The wait before a count-only update (``Coalescer.count_tick``)."""
        return self._rows.count_tick
