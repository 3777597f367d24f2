"""The cluster benchmark's report (``bench/cluster_bench.py``): the idle step's memory row
adds up the processes (each one's growth is over all the users) and sets the sum against
the single process's, so the cluster's memory per user reads as one figure and a ratio."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from cluster_bench import Idle, idle_memory_row  # bench/ is not a package: on the path


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
