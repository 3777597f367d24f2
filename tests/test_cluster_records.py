"""Finished games recorded off the core, with real processes on a real Redis
(``c4actors.cluster.recorder``): the core appends each finished game's record to the
``records`` stream in the commit that ends the game, and the edges write it to the SQL
store.  Exactly once: a game finished in a cluster is stored and counted once; a record
an edge read and never acknowledged (it was killed with SIGKILL mid-write) is written by
the other edge, once; a core killed right after a game ended leaves the standby with
either the record or the game, and the game is stored once either way."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import trio

from c4actors.cluster.recorder import RECORDERS, RECORDS
from c4actors.server import RunningServer
from protocol import GameOver, LobbyUpdate
from tests.cluster_processes import Cluster, running_cluster
from tests.redis_server import RedisServer, command
from tests.support import Client, connect, start_game
from tests.test_accounts import register
from tests.test_cluster_failover import bad_lines, with_standby
from tests.test_cluster_faults import WIN, address, moves


@asynccontextmanager
async def registered_players(cluster: Cluster) -> AsyncIterator[tuple[Client, Client]]:
    """Ann on edge A and Bob on edge B, both signed in (their records are counted)."""
    edge_a, edge_b = (address(edge) for edge in cluster.edges)
    cookies = []
    async with httpx.AsyncClient(base_url=edge_a.http_url) as http:
        for name in ("ann", "bob"):
            http.cookies.clear()
            cookies.append(await register(http, name))
    async with (
        connect(edge_a, cookie=cookies[0]) as ann,
        connect(edge_b, cookie=cookies[1]) as bob,
    ):
        await ann.join("ann")
        await bob.join("bob")
        yield ann, bob


async def play_a_win(ann: Client, bob: Client) -> str:
    """A game ann wins (she moves first); its id once both players saw the end."""
    game_id = await start_game(bob, ann, skip=(LobbyUpdate,))
    await moves(ann, bob, game_id, range(len(WIN)))
    for player in (ann, bob):
        over = await player.expect_skipping(GameOver, LobbyUpdate)
        assert (over.winner, over.reason) == ("ann", "four_in_a_row")
    return game_id


async def stored_once(edge: RunningServer, game_id: str, within: float = 20.0) -> None:
    """Until ``edge`` serves the stored game; then the winner's record counts it once."""
    async with httpx.AsyncClient(base_url=edge.http_url) as http:
        with trio.fail_after(within):
            while (await http.get(f"/api/games/{game_id}")).status_code != 200:  # noqa: ASYNC110 (HTTP)
                await trio.sleep(0.05)
        profile = (await http.get("/api/users/ann")).json()
        assert (profile["wins"], [game["game_id"] for game in profile["games"]]) == (1, [game_id])
        assert (await http.get("/api/users/bob")).json()["losses"] == 1


def redis_integer(port: int, *args: str) -> int:
    """The integer a command replies (XLEN), or the first of its array (XPENDING's count)."""
    reply = command(port, *args)
    match = re.match(rb"(?:\*\d+\r\n)?:(\d+)\r\n", reply)
    assert match is not None, reply
    return int(match.group(1))


async def test_a_game_finished_in_a_cluster_is_recorded_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with running_cluster(redis_server.url, tmp_path / "c4.sqlite3") as cluster:
        async with registered_players(cluster) as (ann, bob):
            game_id = await play_a_win(ann, bob)
        await stored_once(address(cluster.edges[1]), game_id)
        assert redis_integer(redis_server.port, "XLEN", RECORDS) == 1
        with trio.fail_after(5):
            while redis_integer(redis_server.port, "XPENDING", RECORDS, RECORDERS):  # noqa: ASYNC110 (Redis)
                await trio.sleep(0.05)
        assert bad_lines(*cluster.processes) == []


def pending_reader(port: int) -> int | None:
    """The pid of the edge holding the record read and not acknowledged, if one does."""
    reply = command(port, "XPENDING", RECORDS, RECORDERS)
    match = re.search(rb"edge-[^\r\n]*?-(\d+)-[0-9a-f]{6}\r\n", reply)
    return None if match is None else int(match.group(1))


async def test_a_record_read_by_an_edge_killed_before_it_acknowledged_is_written_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    db = tmp_path / "c4.sqlite3"
    with running_cluster(redis_server.url, db) as cluster:
        async with registered_players(cluster) as (ann, bob):
            # The store is held (another writer's transaction): the edge that reads the
            # record waits in its write, the record pending for it.
            holder = sqlite3.connect(db, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            try:
                game_id = await play_a_win(ann, bob)
                with trio.fail_after(10):
                    while (reader := pending_reader(redis_server.port)) is None:  # noqa: ASYNC110 (Redis)
                        await trio.sleep(0.02)
                dying = next(edge for edge in cluster.edges if edge.pid == reader)
                os.kill(dying.pid, signal.SIGKILL)
                dying.wait()
            finally:
                holder.execute("ROLLBACK")
                holder.close()
        other = next(edge for edge in cluster.edges if edge is not dying)
        await stored_once(address(other), game_id)
        assert "claimed game records count=1" in other.log()
        assert bad_lines(other, cluster.core) == []


async def test_a_core_killed_right_after_a_game_ended_leaves_it_recorded_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    db = tmp_path / "c4.sqlite3"
    async with with_standby(redis_server.url, db) as (cluster, standby):
        async with registered_players(cluster) as (ann, bob):
            game_id = await play_a_win(ann, bob)
            os.kill(cluster.core.pid, signal.SIGKILL)
            cluster.core.wait()
            with trio.fail_after(15):
                while "core lease taken" not in standby.log():  # noqa: ASYNC110 (a log)
                    await trio.sleep(0.05)
            await stored_once(address(cluster.edges[0]), game_id)
            # The standby serves with the game's end committed once: no second record.
            await trio.sleep(1.0)
            assert redis_integer(redis_server.port, "XLEN", RECORDS) == 1
        assert bad_lines(*cluster.edges, standby) == []
