"""The timed-games benchmark's bookkeeping (not its speed: no timed assertions here)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from c4actors.loadtest.server_metrics import parse
from c4actors.metrics import Metrics

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def timed_bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH_DIR))
    try:
        yield importlib.import_module("timed_bench")
    finally:
        sys.path.remove(str(BENCH_DIR))


def test_flag_lateness_is_read_from_the_servers_histogram_over_one_step(
    timed_bench: ModuleType,
) -> None:
    """Only the step's flags count (the difference of two scrapes), only turn deadlines, and
    the share within 20 ms is exact while the percentiles are bucket bounds."""
    metrics = Metrics()
    turn = metrics.deadline_lateness_seconds.labels("turn")
    turn.observe(0.5)  # an earlier step's flag: not this step's
    metrics.deadline_lateness_seconds.labels("grace").observe(0.001)
    before = parse(metrics.render().decode())
    for lateness in [0.0005] * 97 + [0.012, 0.04, 0.3]:
        turn.observe(lateness)
    after = parse(metrics.render().decode())
    figures = timed_bench.server_lateness(before, after)
    assert figures.count == 100
    assert figures.within_target == 98 and figures.share_within == 0.98
    assert figures.p50_ms_at_most == 1.0
    assert figures.p99_ms_at_most == 50.0
    assert figures.max_ms_at_most == 500.0
    assert figures.mean_ms == pytest.approx((97 * 0.5 + 12 + 40 + 300) / 100)
    assert timed_bench.server_lateness(None, after) is None
