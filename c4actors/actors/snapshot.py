"""The lobby's ``user_list``, kept encoded row by row, so a snapshot costs one string join.

Fed with the same ``LobbyChanged`` effects that make the ``lobby_update`` broadcasts,
which (the lobby core's property tests check) reproduce the listed users exactly.
"""

from __future__ import annotations

from c4actors.lobby_state import LobbyChanged
from protocol.codec import encode_user_info, encode_user_list
from protocol.messages import UserInfo


class UserListCache:
    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._online = 0
        self._frame: str | None = None

    def apply(self, change: LobbyChanged) -> None:
        for name in change.left:
            self._rows.pop(name, None)
        for info in change.users:
            self._rows[info.name] = encode_user_info(info)
        self._online = change.online
        self._frame = None

    def frame(self, own: UserInfo | None = None) -> str:
        """The encoded ``user_list`` message, with ``own`` (an unlisted user's row) appended.

        The common frame is reused until the lobby changes again; one with an own row is
        one more join of the (bounded) list."""
        if own is not None:
            rows = [*self._rows.values(), encode_user_info(own)]
            return encode_user_list(rows, self._online)
        if self._frame is None:
            self._frame = encode_user_list(self._rows.values(), self._online)
        return self._frame
