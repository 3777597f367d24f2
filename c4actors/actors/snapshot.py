"""The lobby's ``user_list``, kept encoded row by row, so a snapshot costs one string join.

Fed with the same ``LobbyChanged`` effects that make the ``lobby_update`` broadcasts,
which (the lobby core's property tests check) reproduce the listed users exactly.

``prepared`` gives it as a ``PreparedFrame``, which the lobby writes to the newcomer's socket
at once (``Mailbox.deliver_frame``) rather than queueing it for the connection's writer task
(issue 5, idle memory): an unlisted user's list is a string of its own, about 5 KB with 100
rows, and the frame bytes made of it as many again.  Queued, each lived until its writer's
turn while other connections' handshakes took long-lived blocks from the heap around it, so
every join left a hole of about that size in the heap: about 5 KiB of resident memory per
connected user that no later join could reuse (measured with ``mallinfo2``: free heap bytes
grew with the users).  Written at once, it is gone within the lobby's step.
"""

from __future__ import annotations

from c4actors.lobby_state import LobbyChanged
from c4actors.websocket_frames import PreparedFrame
from protocol.codec import encode_user_info, encode_user_list
from protocol.messages import UserInfo


class UserListCache:
    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._online = 0
        self._frame: str | None = None
        self._prepared: PreparedFrame | None = None

    def apply(self, change: LobbyChanged) -> None:
        for name in change.left:
            self._rows.pop(name, None)
        for info in change.users:
            self._rows[info.name] = encode_user_info(info)
        self._online = change.online
        self._frame = None
        self._prepared = None

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

    def prepared(self, own: UserInfo | None = None) -> PreparedFrame:
        """``frame(own)`` as a ``PreparedFrame``: the common one (no ``own`` row) is kept,
        with its bytes, until the lobby changes, for every listed user it is written to."""
        if own is not None:
            return PreparedFrame(self.frame(own))
        if self._prepared is None:
            self._prepared = PreparedFrame(self.frame())
        return self._prepared
