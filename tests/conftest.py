"""Shared test configuration: hypothesis profiles.

The default profile is ``ci``: many examples, derandomised, so CI is reproducible.
Pass ``--hypothesis-profile=dev`` for a quick local run.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=500,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci")
