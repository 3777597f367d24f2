"""The mailbox: delivery never blocks, a full inbox closes only that connection (1013),
the close request reaches the connection's actor once, and game routes reach its reader.

No sockets and no tasks: a mailbox is written to without awaiting, so each test fills a
real memory channel and reads back what the connection's writer would see.
"""

from __future__ import annotations

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from c4actors.actors.game_inbox import GameInput
from c4actors.actors.mailbox import (
    CLOSE_REQUESTED,
    CLOSE_TOO_SLOW,
    STAMPS_KEPT,
    JoinedGame,
    Mailbox,
    Outgoing,
)


class Connection:
    """One connection's end of its mailbox: the inbox its writer reads and the close calls."""

    def __init__(self, capacity: int, conn: int = 1) -> None:
        send, self.inbox = trio.open_memory_channel[Outgoing](capacity)
        self.closes = 0
        self.mailbox = Mailbox(conn, send, on_close=self.closed)

    def closed(self) -> None:
        self.closes += 1

    def queued(self) -> list[Outgoing]:
        items: list[Outgoing] = []
        while True:
            try:
                items.append(self.inbox.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return items


def test_delivered_frames_arrive_in_order() -> None:
    connection = Connection(capacity=4)
    assert [connection.mailbox.deliver(frame) for frame in ("a", "b", "c")] == [True] * 3
    assert connection.queued() == ["a", "b", "c"]
    assert not connection.mailbox.closed and connection.closes == 0


@given(capacity=st.integers(1, 8), sent=st.integers(0, 20))
def test_a_full_inbox_closes_the_connection_instead_of_waiting(capacity: int, sent: int) -> None:
    """However many frames arrive, ``deliver`` returns at once: those that fit are queued in
    order, and the first that does not closes the connection (1013), once."""
    connection = Connection(capacity)
    mailbox = connection.mailbox
    accepted = [mailbox.deliver(str(n)) for n in range(sent)]
    fits = min(sent, capacity)
    assert accepted == [True] * fits + [False] * (sent - fits)
    assert connection.queued() == [str(n) for n in range(fits)]
    too_many = sent > capacity
    assert mailbox.closed is too_many
    assert connection.closes == int(too_many)
    if too_many:
        assert (mailbox.close_code, mailbox.close_reason) == (
            CLOSE_TOO_SLOW,
            "too slow: message queue full",
        )


def test_a_full_inbox_closes_only_its_own_connection() -> None:
    slow, other = Connection(capacity=1, conn=1), Connection(capacity=1, conn=2)
    frame = "shared frame, encoded once"
    for connection in (slow, other):
        assert connection.mailbox.deliver(frame)
    other.queued()  # this one keeps up
    assert not slow.mailbox.deliver(frame)
    assert other.mailbox.deliver(frame)
    assert slow.mailbox.closed and slow.closes == 1
    assert not other.mailbox.closed and other.closes == 0
    assert other.queued() == [frame]


def test_a_close_is_queued_after_what_came_before_it() -> None:
    """With room in the inbox the writer sends what is queued, then closes."""
    connection = Connection(capacity=4)
    connection.mailbox.deliver("last words")
    connection.mailbox.close(1008, "rate limit")
    assert connection.queued() == ["last words", CLOSE_REQUESTED]
    assert (connection.mailbox.close_code, connection.mailbox.close_reason) == (1008, "rate limit")


def test_the_first_close_wins_and_calls_back_once() -> None:
    connection = Connection(capacity=4)
    connection.mailbox.close(4000, "session taken over")
    connection.mailbox.close(1001, "server shutting down")
    assert connection.closes == 1
    assert (connection.mailbox.close_code, connection.mailbox.close_reason) == (
        4000,
        "session taken over",
    )
    assert connection.queued() == [CLOSE_REQUESTED]


def test_nothing_is_delivered_after_a_close() -> None:
    connection = Connection(capacity=4)
    connection.mailbox.close(1000, "")
    assert not connection.mailbox.deliver("too late")
    assert connection.queued() == [CLOSE_REQUESTED]


def test_a_connection_already_gone_is_not_an_error() -> None:
    """The writer has closed its end (the socket is gone): delivering or closing is a no-op."""
    connection = Connection(capacity=4)
    connection.inbox.close()
    assert not connection.mailbox.deliver("anyone?")
    assert not connection.mailbox.closed
    connection.mailbox.close(1001, "bye")
    assert connection.mailbox.closed and connection.closes == 1


def test_a_mailbox_without_a_close_callback_still_closes() -> None:
    send, receive = trio.open_memory_channel[Outgoing](1)
    mailbox = Mailbox(7, send)
    mailbox.close(1001, "bye")
    assert mailbox.closed
    assert receive.receive_nowait() is CLOSE_REQUESTED


def test_routes_reach_the_reader_once_in_order_and_never_the_writer() -> None:
    connection = Connection(capacity=4)
    mailbox = connection.mailbox
    assert mailbox.take_routes() == []
    inboxes = [trio.open_memory_channel[GameInput](1)[0] for _ in range(2)]
    routes = [JoinedGame(f"g{n}", inbox) for n, inbox in enumerate(inboxes)]
    for route in routes:
        mailbox.route(route)
    assert mailbox.take_routes() == routes
    assert mailbox.take_routes() == []
    assert connection.queued() == []


def test_a_stamped_reply_is_found_by_its_position_once_written() -> None:
    """The writer counts what it writes; ``written`` says which item answered a request and
    when that request arrived (``c4_reply_seconds``), and forgets stamps it passed."""
    connection = Connection(capacity=8)
    mailbox = connection.mailbox
    mailbox.deliver("update")
    mailbox.deliver_reply("state", 12.5, "move")
    mailbox.deliver("other")
    mailbox.deliver_reply("invitation_sent", 13.0, "lobby")
    assert [mailbox.written(n) for n in (1, 2, 3)] == [None, (12.5, "move"), None]
    assert mailbox.written(4) == (13.0, "lobby")
    assert mailbox.written(4) is None, "a stamp is reported once"
    assert connection.queued() == ["update", "state", "other", "invitation_sent"]


def test_a_reply_not_delivered_is_not_stamped_and_stamps_are_bounded() -> None:
    connection = Connection(capacity=STAMPS_KEPT * 3)
    mailbox = connection.mailbox
    for n in range(STAMPS_KEPT * 2):  # nobody writes: a cluster relay's mailbox
        mailbox.deliver_reply(f"f{n}", float(n + 1), "move")
    assert mailbox.written(1) is None, "the oldest stamps were let go"
    assert mailbox.written(STAMPS_KEPT * 2) == (float(STAMPS_KEPT * 2), "move")
    mailbox.close(1000, "")
    assert not mailbox.deliver_reply("late", 99.0, "move")
    assert mailbox.written(STAMPS_KEPT * 2 + 1) is None


class LazyConnection(Connection):
    """A connection whose inbox is made at the first item queued (``open_inbox``), as a
    user actor's is: ``opens`` counts the calls; ``over`` answers them with None."""

    def __init__(self, capacity: int, conn: int = 1) -> None:
        self.capacity = capacity
        self.closes = 0
        self.opens = 0
        self.over = False
        self.inbox: trio.MemoryReceiveChannel[Outgoing] | None = None  # type: ignore[assignment]
        self.mailbox = Mailbox(conn, None, on_close=self.closed, open_inbox=self.open)

    def open(self) -> trio.MemorySendChannel[Outgoing] | None:
        self.opens += 1
        if self.over:
            return None
        send, self.inbox = trio.open_memory_channel[Outgoing](self.capacity)
        return send

    def queued(self) -> list[Outgoing]:
        return [] if self.inbox is None else super().queued()


def test_a_lazy_inbox_is_made_once_at_the_first_item_and_keeps_the_order() -> None:
    connection = LazyConnection(capacity=4)
    assert connection.opens == 0 and connection.mailbox.queued() == 0
    assert [connection.mailbox.deliver(frame) for frame in ("a", "b", "c")] == [True] * 3
    assert connection.opens == 1
    assert connection.mailbox.queued() == 3
    assert connection.queued() == ["a", "b", "c"]


@given(capacity=st.integers(1, 8), sent=st.integers(0, 20))
def test_a_full_lazy_inbox_closes_the_connection_instead_of_waiting(
    capacity: int, sent: int
) -> None:
    connection = LazyConnection(capacity)
    mailbox = connection.mailbox
    accepted = [mailbox.deliver(str(n)) for n in range(sent)]
    fits = min(sent, capacity)
    assert accepted == [True] * fits + [False] * (sent - fits)
    assert connection.opens == (1 if sent else 0)
    if sent > capacity:
        assert mailbox.closed and mailbox.close_code == CLOSE_TOO_SLOW
        assert connection.closes == 1
    assert connection.queued() == [str(n) for n in range(fits)]


def test_a_close_with_no_inbox_makes_none() -> None:
    """Nothing was queued, so nothing is to be flushed before the close: no inbox made."""
    connection = LazyConnection(capacity=4)
    connection.mailbox.close(1000, "bye")
    assert connection.closes == 1 and connection.opens == 0
    assert not connection.mailbox.deliver("late")
    assert connection.opens == 0


def test_a_close_after_an_item_is_queued_behind_it() -> None:
    connection = LazyConnection(capacity=4)
    connection.mailbox.deliver("a")
    connection.mailbox.close(1000, "bye")
    assert connection.queued() == ["a", CLOSE_REQUESTED]


def test_an_item_for_a_connection_that_is_over_is_refused() -> None:
    connection = LazyConnection(capacity=4)
    connection.over = True
    assert not connection.mailbox.deliver("a")
    assert not connection.mailbox.closed and connection.mailbox.queued() == 0


def test_a_mailbox_needs_an_inbox_or_a_way_to_make_one() -> None:
    with pytest.raises(ValueError, match="send channel"):
        Mailbox(1, None)
