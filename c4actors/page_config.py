"""The rules the page applies before asking the server, served from their one source.

The page checks a name or a password as the user types and paints tokens in the palette's
colours; those rules live in the server's own modules (``lobby_state``, ``accounts``,
``colors``) and ``GET /api/config`` serves them, so the page (``www/config.js``) holds no
copy that could drift.  Pure: a function of those constants and the server's settings.
"""

from __future__ import annotations

from typing import Any

from c4actors.accounts import PASSWORD_MAX, PASSWORD_MIN
from c4actors.colors import DEFAULT_PLAYER1, DEFAULT_PLAYER2, PALETTE
from c4actors.lobby_state import USERNAME_MAX, USERNAME_RE
from c4actors.time_controls import TimeControlRules


def page_config(
    *, grace_seconds: float, time_controls: TimeControlRules | None = None
) -> dict[str, Any]:
    """The JSON body of ``GET /api/config`` (documented in docs/protocol.md)."""
    return {
        "name": {
            # Anchored: JavaScript's RegExp.test searches, Python's fullmatch does not.
            "pattern": f"^(?:{USERNAME_RE.pattern})$",
            "max_length": USERNAME_MAX,
        },
        "password": {"min_length": PASSWORD_MIN, "max_length": PASSWORD_MAX},
        "palette": dict(PALETTE),
        "guest_colors": {"player1": DEFAULT_PLAYER1, "player2": DEFAULT_PLAYER2},
        "grace_seconds": grace_seconds,
        "time_controls": (time_controls or TimeControlRules()).page_config(),
    }
