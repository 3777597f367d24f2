"""Which time controls a challenge may ask for: the presets the page offers and the bounds
of a custom one.

One source for the server (the lobby core refuses a challenge outside the bounds with
``invalid_time_control``) and the page (``GET /api/config`` serves the presets and the
bounds, so the page's form cannot drift from what the server accepts).  Pure values.
"""

from __future__ import annotations

import math
from typing import Final

import attrs

from protocol.messages import TimeControl

PRESETS: Final[tuple[TimeControl, ...]] = (
    TimeControl(base_seconds=60, increment_seconds=0),
    TimeControl(base_seconds=180, increment_seconds=2),
    TimeControl(base_seconds=300, increment_seconds=0),
)
"""1+0, 3+2 and 5+0 (minutes + seconds), as chess sites name them."""

MIN_BASE_SECONDS: Final = 15.0
MAX_BASE_SECONDS: Final = 3 * 3600.0
MAX_INCREMENT_SECONDS: Final = 60.0
DEFAULT_FIRST_MOVE_SECONDS: Final = 30.0
"""Seconds each player of a timed game has for their first move (their clock starts after
it); ``c4actors serve --first-move-seconds``."""


@attrs.frozen(kw_only=True)
class TimeControlRules:
    """The bounds a custom time control must keep.  ``min_base_seconds`` can be lowered
    (``c4actors serve --min-base-seconds``) so that a test can lose a game on time in a
    few seconds; nobody needs that in play."""

    min_base_seconds: float = MIN_BASE_SECONDS
    max_base_seconds: float = MAX_BASE_SECONDS
    max_increment_seconds: float = MAX_INCREMENT_SECONDS

    def refusal(self, control: TimeControl) -> str | None:
        """Why ``control`` is refused, or None when it is within the bounds."""
        base, increment = control.base_seconds, control.increment_seconds
        low = self.min_base_seconds
        if not (math.isfinite(base) and base > 0 and low <= base <= self.max_base_seconds):
            return (
                f"the base time must be {_seconds(self.min_base_seconds)} to "
                f"{_seconds(self.max_base_seconds)} seconds"
            )
        if not (math.isfinite(increment) and 0 <= increment <= self.max_increment_seconds):
            return f"the increment must be 0 to {_seconds(self.max_increment_seconds)} seconds"
        return None

    def page_config(self) -> dict[str, object]:
        """What ``GET /api/config`` says of time controls (docs/protocol.md)."""
        return {
            "presets": [
                {"base_seconds": p.base_seconds, "increment_seconds": p.increment_seconds}
                for p in PRESETS
            ],
            "min_base_seconds": self.min_base_seconds,
            "max_base_seconds": self.max_base_seconds,
            "max_increment_seconds": self.max_increment_seconds,
        }


def _seconds(value: float) -> str:
    return f"{value:g}"
