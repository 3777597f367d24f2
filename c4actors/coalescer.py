"""One coalescing buffer for the lobby's two broadcast lists: rows by key, removals, a count.

The lobby broadcasts the users (``lobby_update``) and the games in progress
(``game_list_update``) the same way: changes to rows, rows gone, and a total.  Both batch
their changes into one frame per tick with the same timing policy, so the policy lives here
once and ``lobby_updates.LobbyUpdateBuffer`` and ``live_games.GameListBuffer`` only say which
list they carry and which message they make of a ``Batch``.

A pure value: no task, no clock of its own (every call that depends on time is given
``now``), so the policy is tested with plain numbers (``tests/test_coalescer.py``).

What is kept, and why: only each key's latest row, because a client needs the row's state
now, not its history; a key removed after a change appears only in ``removed``, and one
removed then changed again appears in both (clients apply ``removed`` first, then ``rows``,
so it ends up present).  A count that changed and came back before the batch went out is
no change at all.

When a batch is due, and why:

* a row change goes out one ``tick`` after the first change of the batch, so a burst of
  changes costs one broadcast, not one per change;
* a change of the count alone waits for the longer ``count_tick``: it is worth less than a
  row, and on a busy server almost every join changes it;
* both ticks lengthen with the audience the last broadcast reached (``reached``), because a
  broadcast costs server CPU per recipient;
* ``tick <= 0`` turns coalescing off: every change is due at once (tests use it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Final, Generic, TypeVar

import attrs

TICK_PER_WATCHER: Final = 0.00015
"""Seconds of row tick per recipient: a broadcast costs about 50 us of CPU per recipient,
and its fan-out is kept to a third of the tick."""
COUNT_TICK: Final = 1.0
"""Shortest wait before a count-only batch..."""
COUNT_TICK_PER_WATCHER: Final = 0.005
"""...lengthened by this much per recipient, so count broadcasts stay under ~5% of a core."""

Row = TypeVar("Row")


@attrs.frozen
class Batch(Generic[Row]):
    """What went out in one broadcast: the latest ``rows``, the keys ``removed`` (to apply
    first), and the ``count``."""

    rows: list[Row]
    removed: list[str]
    count: int


@attrs.define
class Coalescer(Generic[Row]):
    """Coalesces row changes, removals and a count into one ``Batch`` per tick.

    ``key`` names a row (a user's name, a game's id); ``tick`` is the shortest row tick
    (``--lobby-tick``).  ``due`` says when the pending batch must go out, ``take`` hands it
    over, and ``reached`` tells the coalescer how many recipients it reached, which sets
    the next ticks' length."""

    key: Callable[[Row], str]
    tick: float = 0.0
    _rows: dict[str, Row] = attrs.field(factory=dict)
    _removed: dict[str, None] = attrs.field(factory=dict)
    _count: int = 0
    _count_sent: int = 0
    _audience: int = 0
    _due: float = math.inf

    def add(self, rows: Iterable[Row], removed: Iterable[str], count: int, now: float) -> None:
        """Buffer a change made at time ``now`` (``removed`` applied before ``rows``) and
        set when the batch is due."""
        was_pending = bool(self)
        was_count_only = self.count_only
        changed_rows = False
        for key in removed:
            changed_rows = True
            self._rows.pop(key, None)
            self._removed[key] = None
        for row in rows:
            changed_rows = True
            self._rows[self.key(row)] = row
        self._count = count
        if self.tick <= 0:
            self._due = now
        elif not changed_rows:
            if not was_pending:
                self._due = now + self.count_tick
        elif not was_pending:
            self._due = now + self.effective_tick
        elif was_count_only:
            # A row change pending brings a waiting count forward to the row tick.
            self._due = min(self._due, now + self.effective_tick)

    def __bool__(self) -> bool:
        return bool(self._rows or self._removed) or self._count != self._count_sent

    @property
    def count_only(self) -> bool:
        """Only the count changed (or nothing): no row to send."""
        return not (self._rows or self._removed)

    @property
    def due(self) -> float | None:
        """When the pending batch must be sent; None when nothing is pending."""
        return self._due if self else None

    def take(self) -> Batch[Row] | None:
        """The pending batch, or None when nothing changed; the coalescer is then empty."""
        if not self:
            return None
        batch = Batch(list(self._rows.values()), list(self._removed), self._count)
        self._rows.clear()
        self._removed.clear()
        self._count_sent = self._count
        self._due = math.inf
        return batch

    def reached(self, audience: int) -> None:
        """The batch just taken was delivered to ``audience`` connections."""
        self._audience = audience

    @property
    def effective_tick(self) -> float:
        """The row tick, lengthened under load: with a large audience each tick's fan-out
        is kept to a third of the tick (``TICK_PER_WATCHER``), and broadcasts to a third of
        the core however busy the lobby: 2,000 recipients get a tick of 0.3 s, 10,000 of
        1.5 s."""
        return max(self.tick, self._audience * TICK_PER_WATCHER)

    @property
    def count_tick(self) -> float:
        """The wait before a count-only batch: its broadcasts (about 40 us per recipient)
        are kept to a few percent of the core: 1 s up to 200 recipients, 10 s at 2,000, 50 s
        at 10,000 (the count also rides along in every row batch)."""
        return max(COUNT_TICK, self._audience * COUNT_TICK_PER_WATCHER)
