"""The core's task steps per move (issue 16: the core's CPU per move).

Each step is a pass of Trio's run loop with every instrument called around it, in the core
for every batch of inputs: the flusher is not woken by the frames an input batch delivers
(that batch's own commit carries them), the commit lock and the hand-off to the writer do
not yield when they need not, and the reads and the commit yield only to wait for Redis."""

from __future__ import annotations

import pytest
import trio

from c4actors import server as server_module
from c4actors.actors.game_inbox import GAME_INBOX_SIZE, DirectInbox, GameInput, PlayMove
from c4actors.actors.lobby import LobbyInput
from c4actors.cluster.core import CoreRelay, EdgeOutbox, RemoteMailbox
from c4actors.cluster.links import MemoryHub
from c4actors.move_gate import MoveGate
from c4actors.websocket_frames import PreparedFrame
from protocol import GameState, Move
from tests.support import Client, connect, start_game
from tests.task_steps import counting_steps
from tests.test_cluster_relays import memory_cluster

SIX_MOVES = [3, 2, 3, 2, 3, 2]
"""Six moves of a game bob starts (ann challenged), none of which ends it."""


async def six_moves_without_a_game_step(ann: Client, bob: Client) -> None:
    """A game between ann and bob plays ``SIX_MOVES``, both players seeing each state,
    and the game's task takes no step for any of them (each is handed to it directly)."""
    game_id = await start_game(ann, bob)
    await trio.sleep(0.05)
    with counting_steps(lambda task: task.name.startswith("game ")) as counter:
        for ply, column in enumerate(SIX_MOVES):
            await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
            for player in (ann, bob):
                state = await player.expect(GameState)
                assert (state.moves, state.next) == (
                    SIX_MOVES[: ply + 1],
                    ("ann", "bob")[ply % 2],
                )
    assert counter.steps == 0, counter.by_name


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
        await six_moves_without_a_game_step(ann, bob)


async def test_a_move_looks_at_its_games_inbox_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay's share check and the direct inbox's idle check read one ``statistics()``
    of the game's channel (``DirectInbox.send_below``), not one each: each builds a frozen
    object of seven counts, and two a move were about 3% of the core's samples."""
    looks: list[int] = []
    statistics = trio.MemorySendChannel.statistics

    def counted(channel: trio.MemorySendChannel[GameInput]) -> trio.MemoryChannelStatistics:
        stats = statistics(channel)
        if stats.max_buffer_size == GAME_INBOX_SIZE:
            looks.append(1)
        return stats

    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await trio.sleep(0.05)
        moves = [3, 2, 3, 2, 3, 2]
        monkeypatch.setattr(trio.MemorySendChannel, "statistics", counted)
        for ply, column in enumerate(moves):
            await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column, ply=ply))
            for player in (ann, bob):
                assert (await player.expect(GameState)).moves == moves[: ply + 1]
        monkeypatch.undo()
        assert len(looks) == len(moves)


async def test_a_game_inbox_refuses_past_a_connections_share() -> None:
    """``send_below`` sends nothing once ``share`` items are queued (the relay answers
    ``rate_limited``), and hands the game an item otherwise."""
    send, receive = trio.open_memory_channel[GameInput](GAME_INBOX_SIZE)
    inbox = DirectInbox(send)
    sender = RemoteMailbox(1, 1, EdgeOutbox("edge-a"), _relay())
    moves = [PlayMove(sender, "ann", column) for column in (3, 4, 5)]
    async with receive:
        assert inbox.send_below(moves[0], 2)
        assert inbox.send_below(moves[1], 2)
        assert not inbox.send_below(moves[2], 2)
        assert [receive.receive_nowait(), receive.receive_nowait()] == moves[:2]
        with pytest.raises(trio.WouldBlock):
            receive.receive_nowait()


def test_a_remote_mailbox_keeps_no_reply_stamps() -> None:
    """A reply delivered to a connection of an edge is queued in the edge's batch and no
    stamp of it is kept: the edge's writer times it, nothing in the core reads one (a
    stamp a move was kept per player, never taken)."""
    outbox = EdgeOutbox("edge-a")
    mailbox = RemoteMailbox(7, 3, outbox, _relay())
    frame = PreparedFrame('{"type":"game_state"}')
    assert not mailbox.deliver_frame(frame, 1.5, "move")
    assert outbox.frames == [frame.text]
    assert outbox.rows == ['["deliver",3,0]']
    assert mailbox._stamps is None  # the base class's reply stamps: none made


def _relay() -> CoreRelay:
    """A relay that never runs, for its mailboxes."""
    lobby, _ = trio.open_memory_channel[LobbyInput](1)
    return CoreRelay(MemoryHub().core(), lobby)


class HoldingGate(MoveGate):
    """A move gate that refuses every other move it is asked about (a turn's budget spent)
    and lets a held one go at the next yield, noting which task waited."""

    def __init__(self, budget: float) -> None:
        super().__init__(budget)
        self.asked = 0
        self.waiters: list[str] = []

    def admits_now(self) -> bool:
        self.asked += 1
        return self.asked % 2 == 1

    async def wait_turn(self) -> None:
        self.waiters.append(trio.lowlevel.current_task().name)
        await trio.lowlevel.checkpoint()


async def test_a_move_the_gate_holds_waits_in_the_relay_not_in_its_game(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The core's relay asks the move gate for each move it hands out and waits in line
    itself when the turn's budget is spent: the game still takes the move in the relay's
    task, no step of its own (a game asked the gate, queued the held move and took two
    steps for it), and the players get the same frames."""
    gates: list[HoldingGate] = []

    def holding(budget: float) -> HoldingGate:
        gates.append(HoldingGate(budget))
        return gates[-1]

    monkeypatch.setattr(server_module, "MoveGate", holding)
    async with (
        memory_cluster() as cluster,
        connect(cluster.edges[0], "ann") as ann,
        connect(cluster.edges[1], "bob") as bob,
    ):
        [gate] = gates  # the core's: an edge has none
        await six_moves_without_a_game_step(ann, bob)
        assert gate.asked == len(SIX_MOVES)  # once a move: not again by the game
        assert len(gate.waiters) == len(SIX_MOVES) // 2
        assert {name.rpartition(".")[2] for name in gate.waiters} == {"run"}
        assert all("CoreRelay" in name for name in gate.waiters), gate.waiters
