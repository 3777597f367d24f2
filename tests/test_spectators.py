"""The pure spectators' registry: limits, and its two indexes always mirror each other."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from c4actors.spectators import MIN_PRUNE, RematchFollowers, Spectators

GAMES = ("g1", "g2", "g3", "g4")
steps = st.lists(
    st.tuples(
        st.sampled_from(("watch", "unwatch", "stop_all", "game_ended")),
        st.integers(0, 4),
        st.sampled_from(GAMES),
    ),
    max_size=60,
)


def test_limits_and_refusals() -> None:
    spectators = Spectators(max_per_game=2, max_per_conn=2)
    assert spectators.watch(1, "g1") is None
    assert spectators.watch(1, "g1") is None  # again: allowed, nothing changes
    assert spectators.count("g1") == 1
    assert spectators.watch(2, "g1") is None
    refusal = spectators.watch(3, "g1")
    assert refusal is not None and refusal.code == "too_many_spectators"
    assert spectators.watch(1, "g2") is None
    refusal = spectators.watch(1, "g3")
    assert refusal is not None and refusal.code == "watching_too_many"
    refusal = spectators.unwatch(3, "g1")
    assert refusal is not None and refusal.code == "not_watching"
    assert spectators.unwatch(2, "g1") is None
    assert spectators.watch(3, "g1") is None
    assert spectators.stop_all(1) == ["g1", "g2"]
    # The end says who watched, so they can be taken along (a rematch).
    assert spectators.game_ended("g1") == [3]
    assert spectators.game_ended("g1") == []
    assert (spectators.by_game, spectators.by_conn) == ({}, {})


@given(steps)
def test_the_indexes_mirror_each_other_within_the_limits(
    ops: list[tuple[str, int, str]],
) -> None:
    spectators = Spectators(max_per_game=3, max_per_conn=2)
    for op, conn, game_id in ops:
        if op == "watch":
            spectators.watch(conn, game_id)
        elif op == "unwatch":
            spectators.unwatch(conn, game_id)
        elif op == "stop_all":
            spectators.stop_all(conn)
            assert conn not in spectators.by_conn
        else:
            watched = set(spectators.by_game.get(game_id, ()))
            assert set(spectators.game_ended(game_id)) == watched
            assert spectators.count(game_id) == 0
        pairs_by_game = {(c, g) for g, conns in spectators.by_game.items() for c in conns}
        pairs_by_conn = {(c, g) for c, games in spectators.by_conn.items() for g in games}
        assert pairs_by_game == pairs_by_conn
        assert all(0 < len(conns) <= 3 for conns in spectators.by_game.values())
        assert all(0 < len(games) <= 2 for games in spectators.by_conn.values())


def test_followers_are_kept_only_while_a_rematch_may_start() -> None:
    possible = {"g1", "g2"}
    followers = RematchFollowers(lambda game_id, player: game_id in possible)
    followers.keep("g1", "ann", [4, 5])
    followers.keep("g3", "cy", [6])  # its players have left already
    followers.keep("g2", "bob", [])  # nobody watched
    assert followers.by_game == {"g1": ("ann", [4, 5])}
    assert followers.follow("g1") == [4, 5]
    assert followers.follow("g1") == []


def test_followers_of_games_no_longer_rematchable_are_swept() -> None:
    """Kept entries whose players left are dropped once the table doubles: it never holds
    much more than the games that can still be rematched."""
    possible: set[str] = set()
    followers = RematchFollowers(lambda game_id, player: game_id in possible)
    swept: list[str] = []
    for number in range(10 * MIN_PRUNE):
        game_id = f"g{number}"
        possible.add(game_id)
        swept += followers.keep(game_id, "ann", [number])
        if number % 3:
            possible.discard(game_id)  # two games in three: the players left at once
        live = len(possible)
        assert len(followers.by_game) <= max(MIN_PRUNE, 2 * live + 1)
    # Each game dropped is named once (a cluster's core deletes its saved audience).
    assert len(swept) == len(set(swept)) and not set(swept) & set(followers.by_game)
    assert set(swept) | set(followers.by_game) == {f"g{n}" for n in range(10 * MIN_PRUNE)}
