"""A cluster node's collector on time (``cluster.node.EDGE_COLLECT_EVERY`` and
``CORE_COLLECT_EVERY``): an edge and a core run their young collections less often than
one process, their middle ones at the same pace, the server taking the pace from its
settings (``ServerSettings.collect_every``)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
import trio

from c4actors import server
from c4actors.cluster.node import CORE_COLLECT_EVERY, EDGE_COLLECT_EVERY, run_node
from c4actors.gc_policy import MIDDLE_EVERY, YOUNG_EVERY, CollectOnTime
from c4actors.server import RunningServer, ServerSettings
from tests.redis_server import RedisServer
from tests.support import open_server

NODE_PACES = [("edge", EDGE_COLLECT_EVERY), ("core", CORE_COLLECT_EVERY)]


class _Recorded(CollectOnTime):
    made: list[tuple[Any, ...]] = []

    def __init__(self, *args: Any) -> None:
        _Recorded.made.append(args)
        super().__init__(*args)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    _Recorded.made = []
    monkeypatch.setattr(server, "CollectOnTime", _Recorded)
    return _Recorded.made


async def test_a_server_collects_on_time_at_its_settings_pace(
    recorded: list[tuple[Any, ...]],
) -> None:
    async with open_server():
        assert recorded == [(YOUNG_EVERY, MIDDLE_EVERY)]
    async with open_server(collect_every=(0.05, 2)):
        assert recorded[-1] == (0.05, 2)


@pytest.mark.parametrize(("role", "pace"), NODE_PACES)
def test_a_node_keeps_the_middle_collections_pace_of_one_process(
    role: str, pace: tuple[float, int]
) -> None:
    """Fewer young collections; the middle ones (the long ones) every 100 ms still."""
    young, middle = pace
    assert young > YOUNG_EVERY, role
    assert young * middle == pytest.approx(YOUNG_EVERY * MIDDLE_EVERY), role


@pytest.mark.parametrize(("role", "pace"), NODE_PACES)
async def test_a_node_collects_at_its_roles_pace(
    role: str,
    pace: tuple[float, int],
    recorded: list[tuple[Any, ...]],
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    settings = ServerSettings(port=0, lobby_tick=0.0, db_path=str(tmp_path / "c4.sqlite3"))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        running: RunningServer = await nursery.start(
            run_node, settings, role, redis_server.url, stop
        )
        assert running.http_url
        assert recorded == [pace]
        stop.set()


def test_the_cores_collections_on_time_are_all_middle_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The core's on-time collections are middle ones (which walk the young generation
    too), none young between them: CPython's own young collections already come about
    twenty times a second at a few thousand moves a second (``CORE_COLLECT_EVERY``)."""
    collected: list[int] = []

    def collect(generation: int = 2) -> int:
        collected.append(generation)
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    now = [0.0]
    on_time = CollectOnTime(*CORE_COLLECT_EVERY, clock=lambda: now[0])
    for _ in range(40):
        now[0] += 0.025
        on_time.after_io_wait(0.0)
    assert len(collected) >= 9  # about every 100 ms over a second
    assert set(collected) == {1}
