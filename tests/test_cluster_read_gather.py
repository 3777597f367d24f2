"""The core's gather before its next read (``cluster.read_gather``): at machine pace it waits
a little after a commit so the answers to that commit's frames are one batch; at people's
pace it reads at once."""

from __future__ import annotations

import math

import pytest
import trio

from c4actors.cluster import core as core_module
from c4actors.cluster.keeper import MOVES_PREFIX
from c4actors.cluster.read_gather import FAST_PACE, GATHER, PACE_WINDOW, ReadGather
from protocol import GameState, Move
from tests.support import Client, connect, start_game
from tests.test_cluster_relays import memory_cluster


def _play(gather: ReadGather, at: float, moves: dict[str, int]) -> None:
    for game_id, count in moves.items():
        for _ in range(count):
            gather.moved(game_id)
    assert gather.wait(at) in (0.0, gather.gather)


def test_no_wait_before_a_whole_window_is_counted() -> None:
    gather = ReadGather()
    assert gather.wait(0.0) == 0.0
    _play(gather, PACE_WINDOW / 2, {"g1": 100})  # fast, but the window is not over
    assert gather.wait(PACE_WINDOW / 2) == 0.0


def test_machine_pace_waits_people_pace_reads_at_once() -> None:
    gather = ReadGather()
    gather.wait(0.0)
    # Two games, 30 moves a second each over the window (the closed loop of 100 games
    # played 15 to 28): every read after the window waits.
    _play(gather, PACE_WINDOW, {"g1": 30, "g2": 30})
    assert gather.wait(PACE_WINDOW) == GATHER
    assert gather.wait(PACE_WINDOW + 0.1) == GATHER  # the next window is still counting
    # The next window: 1,000 games, one move a second each (the open loop): no wait.
    _play(gather, 2 * PACE_WINDOW, {f"game-{n}": 1 for n in range(1000)})
    assert gather.wait(2 * PACE_WINDOW) == 0.0


def test_the_pace_is_per_game_that_moved() -> None:
    """Many moves a second over many games is not machine pace: each game's pace is."""
    gather = ReadGather()
    gather.wait(0.0)
    slow = {f"game-{n}": 1 for n in range(3000)}  # 3,000 moves a second, one a game
    _play(gather, PACE_WINDOW, slow)
    assert not gather.fast
    fast = {f"game-{n}": math.ceil(FAST_PACE) for n in range(10)}
    _play(gather, 2 * PACE_WINDOW, fast)
    assert gather.fast
    _play(gather, 3 * PACE_WINDOW, {})  # a window without moves: people's pace again
    assert not gather.fast
    assert gather.wait(3 * PACE_WINDOW) == 0.0


async def _first_moves(first: Client, second: Client, game_id: str) -> None:
    await second.send(Move(game_id=game_id, column=3, ply=0))
    for player in (first, second):
        assert (await player.expect(GameState)).moves == [3]


async def test_at_machine_pace_answers_to_a_commit_are_one_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a batch with a move (``fast_pace`` 0: any pace is machine pace here) the core
    commits, then waits before its next read: two players' answers sent 50 ms apart within
    that wait are read, handled and committed together (one commit writes both games'
    moves), where reading at once made a batch and a commit of each."""
    monkeypatch.setattr(
        core_module, "ReadGather", lambda: ReadGather(0.4, fast_pace=0.0, window=0.0)
    )
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
        connect(cluster.edges[0], "cid") as cid,
        connect(cluster.edges[1], "dan") as dan,
    ):
        one = await start_game(ann, bob)
        two = await start_game(cid, dan)
        await _first_moves(ann, bob, one)
        before = len(cluster.hub.commits)
        with trio.fail_after(5):
            await ann.send(Move(game_id=one, column=2, ply=1))
            await trio.sleep(0.05)
            await dan.send(Move(game_id=two, column=3, ply=0))
            for player in (ann, bob, cid, dan):
                await player.expect(GameState)
        together = {MOVES_PREFIX + one, MOVES_PREFIX + two}
        commits = [set(fields) for fields in cluster.hub.commits[before:]]
        assert any(together <= fields for fields in commits), commits


async def test_at_people_pace_a_move_is_read_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never machine pace (``fast_pace`` unreachable): a move sent right after a commit is
    read and answered at once, not after the gather's wait."""
    monkeypatch.setattr(
        core_module, "ReadGather", lambda: ReadGather(5.0, fast_pace=math.inf, window=0.0)
    )
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await _first_moves(ann, bob, game_id)
        with trio.fail_after(2):  # far below the 5 s a gather would wait
            await ann.send(Move(game_id=game_id, column=2, ply=1))
            for player in (ann, bob):
                assert (await player.expect(GameState)).moves == [3, 2]
