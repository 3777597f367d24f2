"""The ``echo`` scenario: N connections doing closed-loop round trips against an echo server.

Meant for the bare echo app of ``bench/echo_server.py``: each connection sends a frame the size
of a ``move`` and waits for it to come back, as fast as it can, through the window.  Together
with the ``games`` scenario at the same connection count it tells how much of the transport's
capacity (hypercorn + wsproto + Trio) the game server keeps.
"""

from __future__ import annotations

import trio

from protocol.codec import encode
from protocol.messages import Move

from .connection import connect
from .failures import ClientFailure
from .figures import EchoFigures, rate
from .loadrun import LoadRun


async def run_echo(run: LoadRun) -> EchoFigures:
    settings, stats = run.settings, run.stats

    async def echo_client(index: int) -> None:
        payload = encode(Move(game_id=f"echo-{index:06d}-{settings.run_tag}", column=index % 7))
        settled = False
        try:
            async with connect(run, None) as client:
                settled = True
                run.connection_settled()
                await run.window_open.wait()
                while not run.window_closed.is_set():
                    await client.send_text(payload)
                    sent_at = client.sent_at
                    echoed = await client.receive()
                    received_at = client.received_at
                    if echoed != payload:
                        raise ClientFailure("wrong_echo", "the echo differs from what was sent")
                    if run.measuring:
                        stats.operations += 1
                        stats.latency.record(received_at - sent_at)
        except Exception as error:
            run.fail(error)
        finally:
            if not settled:
                run.connection_settled()
            run.client_finished()

    def start(nursery: trio.Nursery) -> None:
        for index in range(settings.connections):
            run.client_started()
            nursery.start_soon(echo_client, index)

    await run.drive(start)
    return EchoFigures(
        connections=settings.connections,
        round_trips=stats.operations,
        round_trips_per_s=rate(stats.operations, run.window_seconds),
        latency=stats.latency.summary(),
    )
