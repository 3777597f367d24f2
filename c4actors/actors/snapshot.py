"""The lobby's ``user_list``, kept encoded row by row, so a snapshot costs one string join.

Fed with the same ``LobbyChanged`` effects that make the ``lobby_update`` broadcasts,
which (the lobby core's property tests check) reproduce the registry exactly.
"""

from __future__ import annotations

from c4actors.lobby_state import LobbyChanged
from protocol.codec import encode_user_info, encode_user_list


class UserListCache:
    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._frame: str | None = None

    def apply(self, change: LobbyChanged) -> None:
        for name in change.left:
            self._rows.pop(name, None)
        for info in change.users:
            self._rows[info.name] = encode_user_info(info)
        self._frame = None

    def frame(self) -> str:
        """The encoded ``user_list`` message (reused until the lobby changes again)."""
        if self._frame is None:
            self._frame = encode_user_list(self._rows.values())
        return self._frame
