"""Per-user analysis limits: one at a time, ``per_hour`` started in any hour (pure)."""

from __future__ import annotations

import pytest

from c4actors.analysis_quota import HOUR, AnalysisQuota


def test_one_analysis_at_a_time_per_user() -> None:
    quota = AnalysisQuota(per_hour=5)
    assert quota.start("ann", 0.0) is None
    refusal = quota.start("ann", 1.0)
    assert refusal is not None and refusal.code == "analysis_running"
    assert quota.start("bob", 1.0) is None, "another user is not held up"
    quota.finish("ann")
    assert quota.start("ann", 2.0) is None


def test_a_few_per_hour_then_a_clear_refusal_until_the_oldest_is_an_hour_old() -> None:
    quota = AnalysisQuota(per_hour=2)
    for at in (0.0, 10.0):
        assert quota.start("ann", at) is None
        quota.finish("ann")
    refusal = quota.start("ann", 20.0)
    assert refusal is not None and refusal.code == "analysis_limit"
    assert "2 analyses an hour" in refusal.message and "60 min" in refusal.message
    assert quota.start("ann", HOUR - 1) is not None
    assert quota.start("ann", HOUR) is None


def test_an_answer_not_computed_gives_its_place_back() -> None:
    quota = AnalysisQuota(per_hour=1)
    assert quota.start("ann", 0.0) is None
    quota.finish("ann", counted=False)
    assert quota.start("ann", 1.0) is None


def test_idle_users_are_forgotten() -> None:
    quota = AnalysisQuota(per_hour=1)
    quota.start("ann", 0.0)
    quota.finish("ann")
    quota.forget_idle(HOUR + 1)
    assert quota.start("ann", HOUR + 1) is None


def test_per_hour_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_hour"):
        AnalysisQuota(per_hour=0)
