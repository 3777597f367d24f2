"""``StreamFollower``: read a stream on and on, across dropped connections and restarts.

The read-and-resume loop that makes streams lossless where pub/sub was not: the follower
keeps the id of the last entry it handed out and always reads after it, so whatever broke
between two reads (a killed connection, a restarted Redis with its data on disk, a bus
outage), the next successful read starts exactly where the last one stopped, and nothing
is handed out twice.

Error handling: ``BusUnavailable`` is retried, after waits that double from
``first_retry`` up to ``max_retry``; an outage is logged once as a WARNING when it starts
and once at INFO when it ends (no traceback: an outage is an expected event here).  The
owner learns of it through ``outage``, e.g. to refuse actions while the bus is down.
Anything else propagates to the task that owns the follower.
"""

from __future__ import annotations

import logging
from typing import Final

import trio

from c4actors.bus.interface import DEFAULT_COUNT, Bus
from c4actors.bus.records import START, BusUnavailable, Entry, StreamId, parse_id

log = logging.getLogger("c4actors.bus")

FIRST_RETRY: Final = 0.05
MAX_RETRY: Final = 2.0


class StreamFollower:
    """Hands out a stream's entries in order, each once, from ``after`` on."""

    def __init__(
        self,
        bus: Bus,
        stream: str,
        after: StreamId = START,
        *,
        count: int = DEFAULT_COUNT,
        block: float = 5.0,
        first_retry: float = FIRST_RETRY,
        max_retry: float = MAX_RETRY,
    ) -> None:
        parse_id(after)
        self.bus = bus
        self.stream = stream
        self.last_id = after
        """The id of the last entry handed out: where the next read starts."""
        self.count = count
        self.block = block
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.outage: BusUnavailable | None = None
        """The error that started the current outage; None while the bus answers."""

    async def next_batch(self) -> list[Entry]:
        """The next entries (at least one), waiting for them as long as it takes."""
        delay = self.first_retry
        while True:
            try:
                entries = await self.bus.read_after(
                    self.stream, self.last_id, count=self.count, block=self.block
                )
            except BusUnavailable as exc:
                if self.outage is None:
                    self.outage = exc
                    log.warning("bus: reading %s paused: %s", self.stream, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, self.max_retry)
                continue
            if self.outage is not None:
                self.outage = None
                log.info("bus: reading %s resumed after %s", self.stream, self.last_id)
            delay = self.first_retry
            if entries:
                self.last_id = entries[-1].id
                return entries
