"""Failed-login throttling: a sliding window of failures per account name and per address.

Pure (the clock is passed in), so the tests run it without waiting.
"""

from __future__ import annotations

import collections
from typing import Final

import attrs

WINDOW_SECONDS: Final = 15 * 60
MAX_FAILURES_PER_NAME: Final = 5
MAX_FAILURES_PER_ADDRESS: Final = 20


@attrs.define
class LoginThrottle:
    window: float = WINDOW_SECONDS
    per_name: int = MAX_FAILURES_PER_NAME
    per_address: int = MAX_FAILURES_PER_ADDRESS
    _failures: dict[str, collections.deque[float]] = attrs.field(factory=dict)

    def retry_after(self, name: str, address: str, now: float) -> float:
        """Seconds until a login for ``name`` from ``address`` may be tried again (0: now)."""
        waits = [
            self._wait(f"name:{name.casefold()}", self.per_name, now),
            self._wait(f"addr:{address}", self.per_address, now),
        ]
        return max(waits)

    def failed(self, name: str, address: str, now: float) -> None:
        for key in (f"name:{name.casefold()}", f"addr:{address}"):
            self._failures.setdefault(key, collections.deque()).append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name.casefold()}", None)

    def _wait(self, key: str, limit: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < limit:
            return 0.0
        return times[-limit] + self.window - now
