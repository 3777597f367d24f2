"""What an idle connected user holds, through a real server (issue 5: memory per idle user
<= 1.5x the bare echo's per connection).

A join's ``user_list`` (about 5 KB with a full list, a string of its own for an unlisted
user) is written to the socket in the lobby's step, never queued for the connection's writer
task: queued, every join left a hole of that size in the heap (``actors.snapshot``).

An idle user has no writer task: the lobby writes its frames (``welcome``, the list, every
``lobby_update``) straight to the socket, and the writer starts only at the first item
queued for it (a reply of the connection's own reader here), then stays.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from c4actors.actors.mailbox import Mailbox, Outgoing
from protocol import Error, LobbyUpdate, UserList, decode_server
from tests.support import connect, open_server


def writer_tasks() -> int:
    """The connections' writer tasks running in this process."""
    count = 0
    nurseries = list(trio.lowlevel.current_root_task().child_nurseries)
    while nurseries:
        for task in nurseries.pop().child_tasks:
            count += task.name.endswith("UserActor._write")
            nurseries.extend(task.child_nurseries)
    return count


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


async def test_an_idle_user_has_no_writer_task_until_something_is_queued() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat"),
    ):
        # Each join is a lobby_update to those in the lobby: ann hears of bob and cat.
        heard: set[str] = set()
        while heard != {"ann", "bob", "cat"}:
            update = await ann.expect(LobbyUpdate)
            heard.update(user.name for user in update.users)
        await trio.testing.wait_all_tasks_blocked()
        assert writer_tasks() == 0
        # A reply of bob's own reader is queued: his writer starts, and stays.
        await bob.send_raw("not json")
        await bob.expect_skipping(Error, LobbyUpdate)
        assert writer_tasks() == 1
        await bob.send_raw("not json either")
        await bob.expect_skipping(Error, LobbyUpdate)
        assert writer_tasks() == 1
