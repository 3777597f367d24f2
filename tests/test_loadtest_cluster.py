"""The load tester against a cluster: connections spread over its edges (``--also-url``),
a game's two players on different edges, and the CPU of every process (``--also-pid``)."""

from __future__ import annotations

import os

import attrs

from c4actors.cli import build_parser
from c4actors.loadtest import LoadSettings, run_load
from c4actors.loadtest.command import settings_from_args
from tests.test_cluster_relays import memory_cluster


def test_connections_take_the_urls_in_turn() -> None:
    settings = LoadSettings(scenario="games", url="ws://a/ws", also_urls=("ws://b/ws",))
    assert [settings.url_for(index) for index in range(4)] == ["ws://a/ws", "ws://b/ws"] * 2
    alone = LoadSettings(scenario="games", url="ws://a/ws")
    assert {alone.url_for(index) for index in range(3)} == {"ws://a/ws"}


def test_the_options_repeat() -> None:
    urls = ["--url", "ws://a/ws", "--also-url", "ws://b/ws", "--also-url", "ws://c/ws"]
    pids = ["--also-pid", "12", "--also-pid", "34"]
    args = build_parser().parse_args(["loadtest", "games", *urls, *pids])
    settings = settings_from_args(args)
    assert settings.also_urls == ("ws://b/ws", "ws://c/ws")
    assert settings.also_pids == (12, 34)


async def test_games_and_churn_across_two_edges() -> None:
    async with memory_cluster() as cluster:
        edge_a, edge_b = (edge.ws_url for edge in cluster.edges)
        base = LoadSettings(
            scenario="games",
            url=edge_a,
            also_urls=(edge_b,),
            also_pids=(os.getpid(),),
            quiet=True,
            timeout=30.0,
            send_rate=0,
        )
        games = await run_load(attrs.evolve(base, concurrent=2, games=4))
        assert games.ok, games.error_examples
        assert games.games is not None and games.games.games == 4
        (other,) = games.other_servers
        assert other.pid == os.getpid() and other.cpu_share is not None
        churn = await run_load(
            attrs.evolve(base, scenario="churn", watchers=4, join_rate=20, duration=1.0)
        )
        # Every join, made through either edge, reached every watcher on both.
        assert churn.ok, churn.error_examples
        assert churn.churn is not None and churn.churn.joins > 0
        assert churn.churn.undelivered == 0
