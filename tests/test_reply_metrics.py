"""The server's own processing time per reply (``c4_reply_seconds``, issue 17), through real
sockets: a move's ``game_state`` to the mover and the lobby's answer to a challenge are each
timed once, from the frame's arrival to the reply's write, under their path's label; the
opponent's copy of the state is no reply and is not timed."""

from __future__ import annotations

from protocol import GameState, Move
from tests.support import connect, metric_values, open_server, start_game


async def test_a_move_and_a_challenge_are_timed_to_their_replies() -> None:
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        game_id = await start_game(ann, bob)
        await bob.send(Move(game_id=game_id, column=3))
        await ann.expect(GameState)
        await bob.expect(GameState)
        values = await metric_values(server)
        assert values['c4_reply_seconds_count{path="move"}'] == 1
        assert values['c4_reply_seconds_count{path="lobby"}'] == 1  # invitation_sent
        assert values['c4_reply_seconds_bucket{le="1.0",path="move"}'] == 1
        assert values["c4_lobby_wait_seconds_count"] == 2  # the challenge and the accept


async def test_reply_times_are_told_apart_between_1_and_100_ms() -> None:
    """The open loop's targets (p99 < 10 ms, max < 50 ms) fall between the buckets of the
    other histograms (10, 25, 50, 100 ms): a reader of the figures must tell them apart."""
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
    ):
        await start_game(ann, bob)
        values = await metric_values(server)
    bounds = {
        float(key.split('le="')[1].split('"')[0])
        for key in values
        if key.startswith("c4_reply_seconds_bucket") and 'path="lobby"' in key and "+Inf" not in key
    }
    assert {0.0075, 0.015, 0.02, 0.03, 0.075, 0.15, 0.5} <= bounds, sorted(bounds)
