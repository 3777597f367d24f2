"""The ``idle`` scenario: N users who connect, join the lobby and then do nothing.

It measures how long connecting everyone takes (the ramp, then each handshake) and, given the
server's pid, the server's memory per connection: its resident set ``--settle`` seconds after
the last join, less its resident set before the first connection, over the connections.  The
users stay for ``--duration`` seconds, reading (and dropping) the lobby updates they get.

With ``--echo-server`` the target is the bare echo app of ``bench/echo_server.py``: each
connection sends one frame and reads it back instead of joining, which gives the transport's
own memory per connection for comparison.
"""

from __future__ import annotations

import trio

from protocol.codec import encode
from protocol.messages import Move

from . import procfs
from .connection import Client, connect
from .failures import ClientFailure
from .figures import IdleFigures
from .loadrun import LoadRun


async def echo_once(client: Client, index: int) -> None:
    """One round trip on an echo connection, checked."""
    payload = encode(Move(game_id=f"idle-{index}", column=index % 7))
    await client.send_text(payload)
    if await client.receive() != payload:
        raise ClientFailure("wrong_echo", "the echo differs from what was sent")


async def run_idle(run: LoadRun) -> IdleFigures:
    settings = run.settings
    readers: list[trio.CancelScope] = []
    received = 0
    rss_settled: int | None = None
    connected = 0

    async def idle_user(index: int) -> None:
        nonlocal received
        settled = False
        try:
            name = None if settings.echo_server else settings.user_name("i", index)
            async with connect(run, name, url=settings.url_for(index)) as client:
                if settings.echo_server:
                    await echo_once(client, index)
                settled = True
                run.connection_settled()
                with trio.CancelScope() as reading:
                    readers.append(reading)
                    if run.window_closed.is_set():
                        reading.cancel()
                    while True:
                        text = await client.receive()
                        if run.measuring:
                            received += len(text)
        except Exception as error:
            run.fail(error)
        finally:
            if not settled:
                run.connection_settled()
            run.client_finished()

    async def read_memory_when_settled() -> None:
        nonlocal rss_settled, connected
        await run.window_open.wait()
        with trio.move_on_after(settings.settle):  # or at the end of a shorter window
            await run.window_closed.wait()
        connected = run.stats.connections_open
        if settings.server_pid is not None:
            rss_settled = procfs.rss_kib(settings.server_pid)

    async def stop_reading() -> None:
        await run.window_closed.wait()
        for scope in readers:
            scope.cancel()

    def start(nursery: trio.Nursery) -> None:
        nursery.start_soon(read_memory_when_settled)
        nursery.start_soon(stop_reading)
        for index in range(settings.connections):
            run.client_started()
            nursery.start_soon(idle_user, index)

    await run.drive(start)
    start_rss = run.server_at_start.rss_kib if run.server_at_start else None
    per_connection = None
    if rss_settled is not None and start_rss is not None and connected:
        per_connection = (rss_settled - start_rss) / connected
    return IdleFigures(
        connections=settings.connections,
        connected=connected,
        connect_all_seconds=run.ramp_seconds,
        rss_kib_settled=rss_settled,
        rss_per_connection_kib=per_connection,
        bytes_per_connection=received / connected if connected else 0.0,
    )
