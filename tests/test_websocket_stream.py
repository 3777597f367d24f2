"""``ClosingWSStream`` fed hypercorn's own events, with an app that stops reading: every
delivery to the app ends, so hypercorn's reader always gets back to its socket."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.protocol.events import Data, Event, Request, StreamClosed
from hypercorn.trio.task_group import TaskGroup
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState

from c4actors.websocket_stream import ClosingWSStream
from tests import rawws

HEADERS = [
    (b"host", b"localhost"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"sec-websocket-version", b"13"),
]
FLOOD = rawws.frame(rawws.OP_TEXT, b"{}") * 50
"""Five times what the app's channel (``max_app_queue_size``, 10) holds."""


class Harness:
    """One stream, an app the test controls, and what the stream sent towards the socket."""

    def __init__(self, task_group: TaskGroup) -> None:
        self.sent: list[Event] = []
        self.accepted = trio.Event()
        self.close_now = trio.Event()
        self.return_now = trio.Event()
        self.app_returned = trio.Event()

        async def send(event: Event) -> None:
            self.sent.append(event)

        self.stream = ClosingWSStream(
            ASGIWrapper(self.app),
            Config(),
            WorkerContext(None),
            task_group,
            False,
            ("127.0.0.1", 5000),
            ("127.0.0.1", 8000),
            send,
            1,
        )

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        """Accepts, reads one message, then stops reading (closing first if told to)."""
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        self.accepted.set()
        await self.close_now.wait()
        await send({"type": "websocket.close", "code": 1008, "reason": "flood"})
        await self.return_now.wait()
        self.app_returned.set()

    async def start(self) -> None:
        request = Request(1, HEADERS, "1.1", "GET", b"/ws", ConnectionState({}))
        await self.stream.handle(request)
        await self.accepted.wait()


async def test_messages_after_the_app_closed_are_dropped() -> None:
    async with TaskGroup() as task_group:
        harness = Harness(task_group)
        await harness.start()
        harness.close_now.set()
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(1):  # hypercorn's WSStream waits here forever
            await harness.stream.handle(Data(1, FLOOD))
        harness.return_now.set()
        await harness.app_returned.wait()
    assert any(isinstance(event, StreamClosed) for event in harness.sent)


async def test_a_delivery_waiting_when_the_app_returns_is_cancelled() -> None:
    async with TaskGroup() as task_group:
        harness = Harness(task_group)
        await harness.start()
        delivered = trio.Event()

        async def reader() -> None:
            # The channel fills up: hypercorn's reader waits for room...
            await harness.stream.handle(Data(1, FLOOD))
            delivered.set()

        task_group._nursery.start_soon(reader)  # type: ignore[union-attr]
        await trio.testing.wait_all_tasks_blocked()
        assert not delivered.is_set()
        # ...the app closes and returns without reading any of it: the wait ends.
        harness.close_now.set()
        harness.return_now.set()
        with trio.fail_after(1):
            await delivered.wait()
        # The end of the stream is not delivered to an app that has returned either.
        with trio.fail_after(1):
            await harness.stream.handle(StreamClosed(1))


async def test_a_message_the_app_has_room_for_is_put_without_a_task_step() -> None:
    """hypercorn's ``send`` on the app's channel yields after every put: one task step more
    for hypercorn's reader on every frame received (issue 17).  With room, none."""
    async with TaskGroup() as task_group:
        harness = Harness(task_group)
        await harness.start()
        with trio.testing.assert_no_checkpoints():
            await harness.stream.handle(Data(1, rawws.frame(rawws.OP_TEXT, b"{}") * 3))
        harness.close_now.set()
        harness.return_now.set()
        await harness.app_returned.wait()
