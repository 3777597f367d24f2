"""The cluster benchmark's report (``bench/cluster_bench.py``): the idle step's memory row
adds up the processes (each one's growth is over all the users) and sets the sum against
the single process's, so the cluster's memory per user reads as one figure and a ratio;
the open loop's row says how long each process, the load tester's included, waited for a
CPU (the hops' waits behind the cluster's p99)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from cluster_bench import (  # bench/ is not a package: on the path
    Deployment,
    Idle,
    OpenLoop,
    idle_memory_row,
    open_wait_rows,
    waits,
)

from c4actors.loadtest.figures import ServerFigures, Summary


def figures(cluster_kib: dict[str, float | None]) -> Idle:
    return Idle(10_000, 20.0, 20.0, 28.0, cluster_kib, {})


def test_the_idle_row_adds_up_the_processes_against_the_single_one() -> None:
    row = idle_memory_row(
        figures({"core": 1.2, "edge A": 14.0, "edge B": 14.0, "redis-server": 2.8})
    )
    assert "core 1.2 KiB, edge A 14.0 KiB, edge B 14.0 KiB, redis-server 2.8 KiB" in row
    assert "all processes 32.0 KiB | 28.0 KiB | 1.14x |" in row


def test_an_unknown_process_leaves_no_sum() -> None:
    row = idle_memory_row(figures({"core": 1.2, "edge A": None}))
    assert "edge A -" in row and "all processes" not in row
    assert row.endswith("| 28.0 KiB | - | - |")


def summary(servers: list[ServerFigures], tester_wait: float | None) -> Summary:
    return Summary(
        "games", "ws://a", "", {}, None, 20.0, 2000, 2000, None, 0.9, tester_wait,
        server=servers[0], other_servers=servers[1:],
    )  # fmt: skip


def test_the_waits_are_each_process_by_its_role_and_the_load_testers() -> None:
    pids = {"core": 11, "edge A": 12, "redis-server": 13}
    servers = [
        ServerFigures(11, 0.4, None, None, None, 0.31),
        ServerFigures(12, 0.3, None, None, None, 0.28),
        ServerFigures(13, 0.1, None, None, None, None),
    ]
    shares = waits(Deployment("cluster", ("ws://a",), pids, {}), summary(servers, 0.22))
    assert shares == {"core": 0.31, "edge A": 0.28, "redis-server": None, "load tester": 0.22}


def test_the_open_loop_row_sets_the_clusters_waits_beside_the_single_ones() -> None:
    opened = OpenLoop(
        1000, None, None, (0, 0), {},
        single_waits={"single": 0.08, "load tester": 0.05},
        cluster_waits={"core": 0.314, "edge A": 0.296, "redis-server": None, "load tester": 0.2},
    )  # fmt: skip
    (row,) = open_wait_rows(opened)
    assert row.startswith("| Open loop: waiting for a CPU")
    assert "| core 31%, edge A 30%, redis-server -, load tester 20% " in row
    assert "| single 8%, load tester 5% | - | - |" in row


def test_no_wait_row_without_waits() -> None:
    assert open_wait_rows(OpenLoop(1000, None, None, (0, 0), {})) == []
