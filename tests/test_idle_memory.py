"""What an idle connected user holds, through a real server (issue 5: memory per idle user
<= 1.5x the bare echo's per connection).

A join's ``user_list`` (about 5 KB with a full list, a string of its own for an unlisted
user) is written to the socket in the lobby's step, never queued for the connection's writer
task: queued, every join left a hole of that size in the heap (``actors.snapshot``).

An idle user has no writer task and no inbox: the lobby writes its frames (``welcome``, the
list, every ``lobby_update``) straight to the socket, and the inbox and the writer are made
only at the first item queued for it (a reply of the connection's own reader here), then
stay.  The same on a cluster's edge, whose relay writes the core's frames.
"""

from __future__ import annotations

import gc

import pytest
import trio
import trio.testing

from c4actors.actors.mailbox import Mailbox, Outgoing
from c4actors.actors.user import UserActor
from c4actors.bus import InMemoryBus
from protocol import Error, LobbyUpdate, UserList, decode_server
from tests.support import Client, connect, open_server
from tests.test_cluster_failover import in_process_cluster


def writer_tasks() -> int:
    """The connections' writer tasks running in this process."""
    count = 0
    nurseries = list(trio.lowlevel.current_root_task().child_nurseries)
    while nurseries:
        for task in nurseries.pop().child_tasks:
            count += task.name.endswith("UserActor._write")
            nurseries.extend(task.child_nurseries)
    return count


def inboxes() -> dict[str, bool]:
    """Whether each user actor alive in this process has an inbox, by name."""
    gc.collect()  # not those of an earlier test
    return {
        actor.name or "": actor._inbox is not None
        for actor in gc.get_objects()
        if isinstance(actor, UserActor)
    }


async def heard_of(client: Client, names: set[str]) -> None:
    """Until ``client`` has had ``lobby_update``s naming all of ``names``."""
    heard: set[str] = set()
    while not names <= heard:
        update = await client.expect(LobbyUpdate)
        heard.update(user.name for user in update.users)


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


async def test_an_idle_user_has_no_inbox_until_something_is_queued() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "cat"),
    ):
        await heard_of(ann, {"bob", "cat"})
        await trio.testing.wait_all_tasks_blocked()
        assert inboxes() == {"ann": False, "bob": False, "cat": False}
        await bob.send_raw("not json")
        await bob.expect_skipping(Error, LobbyUpdate)
        assert inboxes() == {"ann": False, "bob": True, "cat": False}


async def test_an_idle_user_on_an_edge_has_no_inbox_nor_writer_task() -> None:
    """A core and two edges in this process: the edges' relays write the core's frames
    (``welcome``, the list, ``lobby_update``s) straight to their idle users' sockets."""
    async with (
        in_process_cluster(InMemoryBus()) as (edge_a, edge_b),
        connect(edge_a, "ann") as ann,
        connect(edge_b, "bob") as bob,
        connect(edge_a, "cat"),
        connect(edge_b, "dan"),
    ):
        await heard_of(ann, {"bob", "cat", "dan"})
        await heard_of(bob, {"cat", "dan"})
        await trio.testing.wait_all_tasks_blocked()
        assert inboxes() == {"ann": False, "bob": False, "cat": False, "dan": False}
        assert writer_tasks() == 0
        await bob.send_raw("not json")
        await bob.expect_skipping(Error, LobbyUpdate)
        assert inboxes() == {"ann": False, "bob": True, "cat": False, "dan": False}
        assert writer_tasks() == 1
