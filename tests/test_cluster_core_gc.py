"""The core's collector on time (``cluster.node.CORE_COLLECT_EVERY``): like an edge, a
cluster's core runs its young collections less often than one process, its middle ones at
the same pace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from c4actors import server
from c4actors.cluster.node import CORE_COLLECT_EVERY, run_node
from c4actors.gc_policy import MIDDLE_EVERY, YOUNG_EVERY, CollectOnTime
from c4actors.server import RunningServer, ServerSettings
from tests.redis_server import RedisServer


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


def test_the_core_keeps_the_middle_collections_pace_of_one_process() -> None:
    young, middle = CORE_COLLECT_EVERY
    assert young > YOUNG_EVERY
    assert young * middle == pytest.approx(YOUNG_EVERY * MIDDLE_EVERY)


async def test_a_core_node_collects_at_the_core_pace(
    recorded: list[tuple[Any, ...]], redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = ServerSettings(port=0, lobby_tick=0.0, db_path=str(tmp_path / "c4.sqlite3"))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        running: RunningServer = await nursery.start(
            run_node, settings, "core", redis_server.url, stop
        )
        assert running.http_url
        assert recorded == [CORE_COLLECT_EVERY]
        stop.set()
