"""A page opened on a cluster's edge while its core fails over (issue 16): the edge refuses
the page's ``new_connection`` with ``server_recovering``; the page says so in its notice,
says it again on its own after a backoff wait, and opens its session once a core serves."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from playwright.sync_api import expect

from c4actors.server_process import ServerProcess
from tests.cluster_processes import Cluster, running_cluster, start_node
from tests.e2e.people import People
from tests.redis_server import RedisServer

pytestmark = pytest.mark.e2e


@attrs.define
class FailingOver:
    """A cluster of a core and one edge on its own Redis; the pages open the edge."""

    redis_url: str
    db: Path
    cluster: Cluster
    standby: ServerProcess | None = None

    @property
    def http_url(self) -> str:
        return self.cluster.edges[0].http_url

    def log(self) -> str:
        standby = "" if self.standby is None else self.standby.log()
        return "\n".join([self.cluster.log(), standby])


@pytest.fixture
def server(redis_server: RedisServer, tmp_path: Path) -> Iterator[FailingOver]:
    db = tmp_path / "c4.sqlite3"
    with running_cluster(redis_server.url, db, edges=1) as cluster:
        site = FailingOver(redis_server.url, db, cluster)
        try:
            yield site
        finally:
            if site.standby is not None:
                site.standby.kill()


def test_a_page_refused_while_the_core_fails_over_joins_on_its_own_once_it_serves(
    people: People, server: FailingOver
) -> None:
    ann = people.open("ann")
    core, (edge,) = server.cluster.core, server.cluster.edges
    os.kill(core.pid, signal.SIGKILL)
    core.wait()
    deadline = time.monotonic() + 15
    while "core silent for" not in edge.log():
        assert time.monotonic() < deadline, edge.log()
        time.sleep(0.05)
    ann.submit_name(ann.name)
    expect(ann.notice).to_contain_text("The server is recovering from a fault: trying again in")
    expect(ann.name_input).to_be_visible()  # no refusal of the name: the form stays as it was
    server.standby = start_node(server.redis_url, server.db, "core")
    expect(ann.greeting).to_have_text(f"Hello {ann.name}", timeout=30_000)
    expect(ann.lobby).to_be_visible()
    expect(ann.row(ann)).to_contain_text(f"{ann.name} (you)")
