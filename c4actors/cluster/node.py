"""One process of a cluster: ``c4actors serve --redis URL --role edge|core``.

An edge is the usual server whose lobby is an ``EdgeRelay``, with a ``GameRecorder``
beside it that writes the finished games the core committed to the edge's SQL store
(which every edge opens anyway: accounts, sessions and profiles are read there).  A core
is the usual server (listening too, for ``/healthz`` and ``/metrics``) whose lobby actor
also gets a ``CoreRelay``, which starts reading inputs once the process holds the core
lease; until then it is a standby.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

import attrs
import trio

from c4actors.actors.lobby import LobbyInput
from c4actors.bus import open_redis_bus
from c4actors.cluster.bus_links import BusCoreLink, BusEdgeLink, CoreLease, process_name
from c4actors.cluster.core import CoreRelay
from c4actors.cluster.edge import EdgeRelay
from c4actors.cluster.recorder import GameRecorder
from c4actors.server import RunningServer, ServerSettings, run_server

log = logging.getLogger("c4actors.cluster")

Role = Literal["core", "edge"]

EDGE_COLLECT_EVERY: Final = (0.05, 2)
"""An edge's young collections on time every 50 ms, every second one a middle one (so a
middle one every 100 ms, as in one process: ``gc_policy.CollectOnTime``).  Every 10 ms
(the default) they took 5-10 us of an edge's CPU per move in the closed loop of 100 games,
walking objects that mostly die within a few batches; every 50 ms their time per second
fell by about a quarter (docs/benchmarks.md, "The edges' CPU per move, a second pass"),
while the middle ones, the long ones, keep their pace."""


def edge_settings(settings: ServerSettings) -> ServerSettings:
    """``settings`` for an edge's server (``EDGE_COLLECT_EVERY``)."""
    return attrs.evolve(settings, collect_every=EDGE_COLLECT_EVERY)


CORE_COLLECT_EVERY: Final = (0.1, 1)
"""The core's on-time collections every 100 ms, each a middle one (which walks the young
generation too): the middle ones keep one process's pace, and no young one comes between
them.  Every 10 ms the core's young collections were 15-17 ms of CPU a second in the
closed loop of 100 games (about 6 us a move, ``c4_gc_seconds``), walking mostly what one
input batch made and the next commit freed; at 50 ms (the edges' pace) they still came on
top of CPython's own young collections, which at a few thousand moves a second run about
twenty times a second by themselves (its count of allocations); without them the core
took about 6 us a move less at 1,000 games (docs/benchmarks.md, "The core's gate, inbox
and collections per move")."""


def core_settings(settings: ServerSettings) -> ServerSettings:
    """``settings`` for the core's server (``CORE_COLLECT_EVERY``)."""
    return attrs.evolve(settings, collect_every=CORE_COLLECT_EVERY)


async def run_node(
    settings: ServerSettings,
    role: Role,
    redis_url: str,
    stop: trio.Event,
    *,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with open_redis_bus(redis_url) as bus:
        name = process_name(role)
        log.info("cluster process started role=%s name=%s", role, name)
        if role == "edge":
            link = BusEdgeLink(bus, name)
            async with trio.open_nursery() as edge_nursery:

                async def serve_edge(*, task_status: trio.TaskStatus[RunningServer]) -> None:
                    try:
                        await run_server(
                            edge_settings(settings),
                            stop,
                            task_status=task_status,
                            edge=lambda: EdgeRelay(link),
                        )
                    finally:
                        edge_nursery.cancel_scope.cancel()

                running: RunningServer = await edge_nursery.start(serve_edge)
                recorder = GameRecorder(bus, name, running.store)
                await edge_nursery.start(_record_until, stop, recorder)
                task_status.started(running)
            return
        lease = CoreLease(bus, name)
        core_link = BusCoreLink(bus, name, lease)
        async with trio.open_nursery() as nursery:
            await nursery.start(lease.run)

            def relay(inbox: trio.MemorySendChannel[LobbyInput]) -> CoreRelay:
                return CoreRelay(core_link, inbox)

            async def serve(*, task_status: trio.TaskStatus[RunningServer]) -> None:
                try:
                    await run_server(
                        core_settings(settings), stop, task_status=task_status, core=relay
                    )
                finally:
                    nursery.cancel_scope.cancel()

            task_status.started(await nursery.start(serve))


async def _record_until(
    stop: trio.Event,
    recorder: GameRecorder,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``recorder`` until the server is asked to stop: before the store closes (at the
    end of ``run_server``), and whatever it read and had not acknowledged is claimed by
    another edge."""
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        task_status.started()
        await stop.wait()
        nursery.cancel_scope.cancel()
