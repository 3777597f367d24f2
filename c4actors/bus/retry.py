"""Calling the bus until it answers, for the loops that must not give up on an outage.

Why one helper: every process's bus loops (the relays' links, the records' writers) treat
``BusUnavailable`` alike: wait with doubling pauses, say once that the bus is gone and once
that it is back, so an outage of minutes is two log lines, not thousands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import trio

from c4actors.bus.records import BusUnavailable

FIRST_WAIT: Final = 0.05
MAX_WAIT: Final = 2.0

_T = TypeVar("_T")


async def until_available(call: Callable[[], Awaitable[_T]], what: str, log: logging.Logger) -> _T:
    """``call()``'s result, calling it again while it raises ``BusUnavailable``: one
    WARNING on ``log`` when an outage starts, one INFO line when it ends."""
    delay = FIRST_WAIT
    warned = False
    while True:
        try:
            result = await call()
        except BusUnavailable as error:
            if not warned:
                log.warning("bus unavailable while %s: %s (retrying)", what, error)
                warned = True
            await trio.sleep(delay)
            delay = min(2 * delay, MAX_WAIT)
            continue
        if warned:
            log.info("bus back while %s", what)
        return result
