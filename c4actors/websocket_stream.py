"""A WebSocket connection ends however it ends: hypercorn's stream, corrected.

hypercorn hands each received message to the app through a channel of ten
(``max_app_queue_size``) and waits, unbounded, while the channel is full.  An app that has
stopped reading - ours, once it has closed a flooding client (1008) - leaves that wait
pending forever, and so does the ``websocket.disconnect`` hypercorn queues when the peer
goes: the connection's reader task never sees the end of the TCP stream, and its socket and
tasks stayed until the process ended (500 flooders: 500 descriptors, never released).

``ClosingWSStream`` changes only delivery to the app:

- a message that arrives after the app has closed the WebSocket is dropped (the app said it
  is done with the connection; RFC 6455 lets an endpoint discard data after a close);
- once the app has returned, nothing is delivered, and a delivery already waiting is
  cancelled, so the reader goes on to see the end of the stream and ends the connection.

A message that fits in the app's channel is put there without waiting (``send_nowait``):
hypercorn's ``send`` on a memory channel yields to the scheduler after every put, an extra
task step for hypercorn's reader on every frame received (issue 17: task steps per move),
and a wait with its cancel scope is needed only when the channel is full.

An app may also take a text message at once, in hypercorn's reader task (``reader``): only
while the app's own task is parked waiting for the next message (nothing is queued before
this one, and the app says it is waiting in the one place that reads), so the order of the
messages is kept.  The user actor does so for a player's game requests: a move then reaches
its game without waking the connection's own reader task, one task step less per move.

``install`` puts it where hypercorn's HTTP/1.1 and HTTP/2 protocols look up ``WSStream``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from hypercorn.protocol import h2, h11
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream

_Message = dict[str, Any]


class ClosingWSStream(WSStream):
    """hypercorn's ``WSStream`` whose deliveries to the app can always end (module docstring)."""

    _app_finished = False
    _channel: trio.MemorySendChannel[_Message] | None = None
    """The app's channel, when hypercorn's ``app_put`` is its ``send`` (puts without waiting)."""
    _waiting: set[trio.CancelScope] | None = None
    """The deliveries waiting for room in the app's channel (made at the first)."""
    reader: Callable[[str], bool] | None = None
    """The app's synchronous reader: offered each text message while the app's task is
    parked on its channel; True when it took the message (it is then not queued)."""

    @property
    def app_finished(self) -> bool:
        """Whether the app has returned (nothing more is written for it)."""
        return self._app_finished

    async def handle(self, event: Any) -> None:
        spawned = self.app_put is None
        await super().handle(event)
        if spawned and self.app_put is not None:
            # The app has just been started and sent ``websocket.connect``: later messages go
            # through ``_deliver``.
            self._put = self.app_put
            self.app_put = self._deliver
            channel = getattr(self._put, "__self__", None)
            if isinstance(channel, trio.MemorySendChannel):
                self._channel = channel

    async def _deliver(self, message: _Message) -> None:
        if self._app_finished:
            return
        if message["type"] == "websocket.receive" and self.state is ASGIWebsocketState.CLOSED:
            return
        if self._channel is not None:
            reader = self.reader
            if (
                reader is not None
                and message["type"] == "websocket.receive"
                and message.get("text") is not None
                and self._channel.statistics().tasks_waiting_receive
                and reader(message["text"])
            ):
                return
            try:
                self._channel.send_nowait(message)
                return
            except trio.WouldBlock:
                pass  # full: wait for room below, as ``send`` would
        if self._waiting is None:
            self._waiting = set()
        with trio.CancelScope() as waiting:
            self._waiting.add(waiting)
            try:
                await self._put(message)
            finally:
                self._waiting.discard(waiting)

    async def app_send(self, message: Any) -> None:
        if message is None:  # the app has returned
            self._app_finished = True
            for waiting in self._waiting or ():
                waiting.cancel()
        await super().app_send(message)


def install() -> None:
    """Make hypercorn's protocols create ``ClosingWSStream`` (idempotent)."""
    h11.WSStream = ClosingWSStream  # type: ignore[attr-defined]
    h2.WSStream = ClosingWSStream  # type: ignore[attr-defined]
