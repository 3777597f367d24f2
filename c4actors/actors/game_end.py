"""The end of a game, once its core has decided it: save it and tell the lobby, in the
order the players' records need.

Registered players' records mirror the store, so the lobby hears of a game with a registered
player only once the store has it (``GameEnded.recorded`` says whether it has).  Guests'
records live in the lobby only, so their players are freed first (they may start their next
game) and the game is saved after.  A game that is not kept (``GameResult.kept``: left before
both players moved) is not saved.  While the server stops, the lobby is going away and is not
told (``report`` is None).

Error handling: a failed save is logged and ``not_saved`` is called, so the game actor can
tell the players their records are unchanged; the report still goes out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import trio

from c4actors.game_record import GameRecord
from c4actors.lobby_state import GameEnded
from c4actors.store import Store

log = logging.getLogger("c4actors.game")


async def save_and_report(
    record: GameRecord,
    store: Store,
    report: Callable[[GameEnded], Awaitable[None]] | None,
    not_saved: Callable[[], None],
) -> None:
    """Save ``record`` and report it to the lobby, in the order the module docstring gives."""
    result, registered = record.result, record.setup.any_registered
    recorded = True
    if result.kept and registered:
        recorded = await _save(record, store, not_saved)
    if report is not None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await report(GameEnded(record.game_id, result, recorded))
    if result.kept and not registered:
        await _save(record, store, not_saved)


async def _save(record: GameRecord, store: Store, not_saved: Callable[[], None]) -> bool:
    try:
        await store.record_game(record)
    except Exception:
        log.exception("could not save game game_id=%s", record.game_id)
        not_saved()
        return False
    return True
