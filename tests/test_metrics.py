"""Metrics (``c4actors.metrics``): one registry per server, so servers in one process (the
tests run many) never count into each other."""

from __future__ import annotations

from c4actors.metrics import Metrics


def test_each_server_counts_on_its_own() -> None:
    first, second = Metrics(), Metrics()
    first.errors.labels("invalid_column").inc()
    first.connections.inc()
    assert b'c4_errors_total{code="invalid_column"} 1.0' in first.render()
    assert b"c4_connections 1.0" in first.render()
    assert b"invalid_column" not in second.render()
    assert b"c4_connections 0.0" in second.render()
