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
"""

from __future__ import annotations

import math
from typing import Final

import attrs

from c4actors.lobby_state import LobbyChanged
from protocol.messages import LobbyUpdate, UserInfo

TICK_PER_WATCHER: Final = 0.00015
"""Seconds of row tick per watcher: a broadcast costs about 50 us of CPU per watcher, and
its fan-out is kept to a third of the tick."""
COUNT_TICK: Final = 1.0
"""Shortest wait before a count-only ``lobby_update``..."""
COUNT_TICK_PER_WATCHER: Final = 0.005
"""...lengthened by this much per watcher, so count broadcasts stay under ~5% of a core."""


@attrs.define
class LobbyUpdateBuffer:
    """Coalesces ``LobbyChanged`` effects into one ``lobby_update`` per tick.

    Only each user's latest info is kept; a user who joined and left within one
    tick appears only in ``left``.  Clients apply ``left`` first, then ``users``,
    so a name that left and came back appears in both and ends up present.

    ``tick`` is the shortest row tick (``--lobby-tick``); ``due`` says when the pending
    update must go out, ``take`` hands it over, and ``reached`` tells the buffer how many
    watchers the broadcast reached, which sets the next ticks' length.
    """

    tick: float = 0.0
    _users: dict[str, UserInfo] = attrs.field(factory=dict)
    _left: dict[str, None] = attrs.field(factory=dict)
    _online: int = 0
    _online_sent: int = 0
    _watchers: int = 0
    _due: float = math.inf

    def add(self, change: LobbyChanged, now: float) -> None:
        """Buffer ``change`` (made at time ``now``) and set when the update is due."""
        was_pending = bool(self)
        was_count_only = self.count_only
        for name in change.left:
            self._users.pop(name, None)
            self._left[name] = None
        for info in change.users:
            self._users[info.name] = info
        self._online = change.online
        if self.tick <= 0:
            self._due = now
        elif change.count_only:
            if not was_pending:
                self._due = now + self.count_tick
        elif not was_pending:
            self._due = now + self.effective_tick
        elif was_count_only:
            # A row change pending brings a waiting count forward to the row tick.
            self._due = min(self._due, now + self.effective_tick)

    def __bool__(self) -> bool:
        return bool(self._users or self._left) or self._online != self._online_sent

    @property
    def count_only(self) -> bool:
        """Only the count changed (or nothing): no row to send."""
        return not (self._users or self._left)

    @property
    def due(self) -> float | None:
        """When the pending update must be sent; None when nothing is pending."""
        return self._due if self else None

    def take(self) -> LobbyUpdate | None:
        """The pending update, or None when nothing changed; the buffer is then empty."""
        if not self:
            return None
        update = LobbyUpdate(
            users=list(self._users.values()), left=list(self._left), online=self._online
        )
        self._users.clear()
        self._left.clear()
        self._online_sent = self._online
        self._due = math.inf
        return update

    def reached(self, watchers: int) -> None:
        """The update just taken was delivered to ``watchers`` connections."""
        self._watchers = watchers

    @property
    def effective_tick(self) -> float:
        """The row tick, lengthened under load: with many watchers each tick's fan-out is
        kept to a third of the tick (``TICK_PER_WATCHER``), and broadcasts to a third of the
        core however busy the lobby: 2,000 watchers get a tick of 0.3 s, 10,000 of 1.5 s."""
        return max(self.tick, self._watchers * TICK_PER_WATCHER)

    @property
    def count_tick(self) -> float:
        """The wait before a count-only update: its broadcasts (about 40 us per watcher) are
        kept to a few percent of the core: 1 s up to 200 watchers, 10 s at 2,000, 50 s at
        10,000 (the count also rides along in every row update)."""
        return max(COUNT_TICK, self._watchers * COUNT_TICK_PER_WATCHER)
