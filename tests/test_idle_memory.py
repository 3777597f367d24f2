"""What an idle connected user holds, through a real server (issue 5: memory per idle user
<= 1.5x the bare echo's per connection).

A join's ``user_list`` (about 5 KB with a full list, a string of its own for an unlisted
user) is written to the socket in the lobby's step, never queued for the connection's writer
task: queued, every join left a hole of that size in the heap (``actors.snapshot``).
"""

from __future__ import annotations

import pytest

from c4actors.actors.mailbox import Mailbox, Outgoing
from protocol import UserList, decode_server
from tests.support import connect, open_server


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the server queued for a connection's writer task."""
    texts: list[str] = []
    deliver = Mailbox.deliver

    def recording(self: Mailbox, item: Outgoing) -> bool:
        if isinstance(item, str):
            texts.append(item)
        return deliver(self, item)

    monkeypatch.setattr(Mailbox, "deliver", recording)
    return texts


async def test_a_joins_user_list_is_written_at_once_not_queued(queued: list[str]) -> None:
    # A list of one: ann is listed (the common frame), bob is not (a list with his own row).
    async with (
        open_server(lobby_list_limit=1) as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        # Both joined: each read its welcome and its user_list (``Client.join``).
        assert (ann.name, bob.name) == ("ann", "bob")
        lists = [text for text in queued if isinstance(decode_server(text), UserList)]
        assert not lists, f"queued for the writer task: {lists}"
