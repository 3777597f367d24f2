"""The lobby's list of games in progress: bounded, replayable, and its broadcast buffer."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c4actors import live_games
from c4actors.game_record import GameSetup, Player
from c4actors.live_games import GameListBuffer, GamesChanged, LiveGames
from protocol.messages import GameInfo, GameList, GameListUpdate


def setup(game_id: str) -> GameSetup:
    return GameSetup(
        game_id=game_id,
        player1=Player(name=f"{game_id}a", color="red"),
        player2=Player(name=f"{game_id}b", color="yellow"),
    )


def test_a_game_is_listed_with_its_players_colours_moves_and_spectators() -> None:
    games = LiveGames()
    change = games.started(setup("g1"))
    [info] = change.games
    assert (info.player1, info.player2, info.moves, info.spectators) == ("g1a", "g1b", 0, 0)
    assert info.colors == setup("g1").colors
    assert change.total == 1
    moved = games.moved("g1", 3)
    assert moved == GamesChanged(games=(attrs_evolve(info, moves=3),), total=1)
    assert games.moved("g1", 2) is None  # a late report never takes a count back
    watched = games.watched("g1", 5)
    assert watched is not None and watched.games[0].spectators == 5
    assert games.watched("g1", 5) is None  # no change, nothing to say
    assert games.ended("g1") == GamesChanged(ended=("g1",), total=0)
    assert games.ended("g1") is None
    assert games.moved("g1", 9) is None and games.watched("nope", 1) is None


def attrs_evolve(info: GameInfo, **changes: int) -> GameInfo:
    import attrs

    return attrs.evolve(info, **changes)


def test_the_list_is_bounded_and_a_freed_place_goes_to_the_oldest_unlisted_game() -> None:
    games = LiveGames(list_limit=2)
    games.started(setup("g1"))
    games.started(setup("g2"))
    assert games.started(setup("g3")) == GamesChanged(total=3)  # counted, not listed
    games.started(setup("g4"))
    assert games.moved("g3", 1) is None  # an unlisted game's row is nobody's news
    change = games.ended("g1")
    assert change is not None
    assert change.ended == ("g1",) and [g.game_id for g in change.games] == ["g3"]
    assert change.games[0].moves == 1  # promoted with its current row
    assert [g.game_id for g in games.listed()] == ["g2", "g3"]
    assert games.ended("g4") == GamesChanged(total=2)
    assert games.snapshot() == GameList(games=games.listed(), total=2)


def test_only_followers_hear_the_list() -> None:
    games = LiveGames()
    games.started(setup("g1"))
    assert list(games.followers()) == []
    assert games.follow(7) == games.snapshot()
    assert games.follows(7) and list(games.followers()) == [7]
    games.unfollow(7)
    games.unfollow(7)  # harmless
    assert not games.follows(7)


def test_a_list_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="list_limit"):
        LiveGames(list_limit=0)


steps = st.lists(
    st.tuples(
        st.sampled_from(("start", "move", "knock", "watch", "end")),
        st.integers(0, 7),
        st.integers(0, 50),
    ),
    max_size=80,
)


@given(steps, st.sampled_from((None, 1, 3)))
def test_replaying_the_changes_reproduces_the_list(
    events: list[tuple[str, int, int]], limit: int | None
) -> None:
    games = LiveGames(list_limit=limit)
    view: dict[str, GameInfo] = {}
    total = 0
    started: set[str] = set()
    for kind, number, value in events:
        game_id = f"g{number}"
        change: GamesChanged | None
        if kind == "start":
            if game_id in started:
                continue  # a game id is never reused
            started.add(game_id)
            change = games.started(setup(game_id))
        elif kind == "move":
            change = games.moved(game_id, value)
        elif kind == "knock":  # the lobby's counts at a knock: this game's and the next
            change = games.moved_all({game_id: value, f"g{number + 1}": value // 2})
        elif kind == "watch":
            change = games.watched(game_id, value)
        else:
            change = games.ended(game_id)
        if change is None:
            continue
        for ended in change.ended:
            view.pop(ended, None)
        for info in change.games:
            view[info.game_id] = info
        total = change.total
        assert sorted(view.values(), key=lambda g: g.game_id) == sorted(
            games.listed(), key=lambda g: g.game_id
        )
        assert total == games.total
        assert limit is None or len(view) <= limit
        # Nothing waits while there is room on the list.
        assert limit is None or len(view) == min(limit, total)


def info(game_id: str, moves: int = 0) -> GameInfo:
    return GameInfo(
        game_id=game_id, player1="a", player2="b", colors=setup("g").colors, moves=moves
    )


def test_the_buffer_keeps_the_latest_rows_and_a_game_that_came_and_went_only_as_ended() -> None:
    buffer = GameListBuffer()
    assert buffer.take() is None
    buffer.add(GamesChanged(games=(info("g1"),), total=1), now=0)
    buffer.add(GamesChanged(games=(info("g1", 2),), total=1), now=0)
    buffer.add(GamesChanged(games=(info("g2"),), total=2), now=0)
    buffer.add(GamesChanged(ended=("g2",), total=1), now=0)
    assert buffer.take() == GameListUpdate(games=[info("g1", 2)], ended=["g2"], total=1)
    assert buffer.take() is None


def test_the_buffer_ticks_like_the_user_list() -> None:
    buffer = GameListBuffer(tick=0.05)
    buffer.add(GamesChanged(games=(info("g1"),), total=1), now=100.0)
    assert buffer.due == pytest.approx(100.05)
    buffer.add(GamesChanged(games=(info("g1", 1),), total=1), now=100.04)
    assert buffer.due == pytest.approx(100.05)  # rides along with the first change
    buffer.take()
    # A count alone waits for the count tick; a row change then brings it forward.
    buffer.add(GamesChanged(total=2), now=200.0)
    assert buffer.count_only and buffer.due == pytest.approx(201.0)
    buffer.add(GamesChanged(games=(info("g1", 2),), total=2), now=200.5)
    assert buffer.due == pytest.approx(200.55)
    buffer.take()
    # A count that came back is no news.
    buffer.add(GamesChanged(total=3), now=300.0)
    buffer.add(GamesChanged(total=2), now=300.0)
    assert buffer.due is None
    # Under load the ticks lengthen with the followers reached.
    buffer.reached(2_000)
    assert buffer.effective_tick == pytest.approx(0.3)
    assert buffer.count_tick == pytest.approx(10.0)


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30)), max_size=12),
    st.integers(0, 30),
)
def test_the_move_counts_of_a_knock_are_the_moves_one_by_one_as_one_change(
    counts: list[tuple[int, int]], spectators: int
) -> None:
    """``moved_all`` (the lobby's knock for move counts) leaves the list as ``moved`` for
    each game in turn does, and its change carries the rows theirs carry, in order."""
    one_by_one, at_once = LiveGames(list_limit=3), LiveGames(list_limit=3)
    for games in (one_by_one, at_once):
        for number in range(5):  # g0-g2 listed, g3 and g4 waiting; no g5
            games.started(setup(f"g{number}"))
            games.watched(f"g{number}", spectators)
            games.moved(f"g{number}", 2)
    pending = {f"g{number}": moves for number, moves in counts}
    rows = [
        info
        for game_id, moves in pending.items()
        if (change := one_by_one.moved(game_id, moves)) is not None
        for info in change.games
    ]
    change = at_once.moved_all(pending)
    assert (change.games if change else ()) == tuple(rows)
    assert change is None or change.total == one_by_one.total == 5
    assert at_once.listed() == one_by_one.listed()
    assert at_once.info("g3") == one_by_one.info("g3") and at_once.info("g4") == one_by_one.info(
        "g4"
    )


def test_a_knock_makes_no_row_for_an_unlisted_game_until_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nobody sees an unlisted game's row: its move counts at a knock are kept as counts
    (at 1,000 games nine moves in ten were such a game's, each a ``GameInfo`` made), and
    its row has the latest count once read (``info``, a spectator, its promotion)."""
    games = LiveGames(list_limit=1)
    for number in range(3):
        games.started(setup(f"g{number}"))
    made: list[str] = []
    evolve = attrs.evolve

    def counted(info: GameInfo, **changes: object) -> GameInfo:
        made.append(info.game_id)
        return evolve(info, **changes)

    monkeypatch.setattr(live_games.attrs, "evolve", counted)

    def counted_row(**fields: Any) -> GameInfo:
        made.append(fields["game_id"])
        return GameInfo(**fields)

    monkeypatch.setattr(live_games, "GameInfo", counted_row)
    for moves in range(1, 30):
        change = games.moved_all({"g0": moves, "g1": moves, "g2": moves})
        assert change is not None and [row.game_id for row in change.games] == ["g0"]
    assert made == ["g0"] * 29  # the listed game's rows only
    monkeypatch.undo()
    info = games.info("g1")
    assert info is not None and info.moves == 29
    change = games.ended("g0")  # g1 promoted, with its count
    assert change is not None and [(row.game_id, row.moves) for row in change.games] == [("g1", 29)]
    assert games.watched("g2", 4) is None  # unlisted still
    row = games.info("g2")
    assert row is not None and (row.moves, row.spectators) == (29, 4)
