"""The core's task steps per move (issue 16: the core's CPU per move).

Each step is a pass of Trio's run loop with every instrument called around it, in the core
for every batch of inputs: the flusher is not woken by the frames an input batch delivers
(that batch's own commit carries them), the commit lock and the hand-off to the writer do
not yield when they need not, and the reads and the commit yield only to wait for Redis."""

from __future__ import annotations

import trio

from protocol import GameState, Move
from tests.support import connect, start_game
from tests.task_steps import counting_steps
from tests.test_cluster_relays import memory_cluster


async def test_an_input_batch_does_not_wake_the_flusher_nor_yield_needlessly() -> None:
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await trio.sleep(0.05)
        moves = [3, 2, 3, 2, 3, 2]
        with counting_steps(lambda task: True) as counter:
            for ply, column in enumerate(moves):
                await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
                for player in (ann, bob):
                    assert (await player.expect(GameState)).moves == moves[: ply + 1]
        # The clock's own commit (every CLOCK_EVERY) may wake the flusher once: not each move.
        assert counter.of("CoreRelay._flush_forever") <= 2, counter.by_name
        # The in-memory link's read (its outage check, the wake-up, the outage check again)
        # and the wake-up once the actors settled: no yield for the lock or the hand-off
        # (six steps a move before).
        assert counter.of("CoreRelay.run") <= 4 * len(moves), counter.by_name


async def test_the_core_plays_a_move_in_the_relays_task_without_waking_the_game() -> None:
    """A game waiting idle for its players is handed each move in the relay's own task
    (``game_inbox.DirectInbox``): its task takes no step for a move that does not end it,
    and both players get the same frames as through a game's task."""
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await trio.sleep(0.05)
        moves = [3, 2, 3, 2, 3, 2]
        with counting_steps(lambda task: task.name.startswith("game ")) as counter:
            for ply, column in enumerate(moves):
                await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
                for player in (ann, bob):
                    state = await player.expect(GameState)
                    assert (state.moves, state.next) == (
                        moves[: ply + 1],
                        ("ann", "bob")[ply % 2],
                    )
        assert counter.steps == 0, counter.by_name
