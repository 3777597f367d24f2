"""Rows to values, shared by both stores: one place that knows the column lists.

Both schemas have the same tables and columns (``migrations.py`` and its twin
``postgres_migrations.py``), so a row read by either store becomes the same value here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from c4actors.game_record import Computer, GameResult, GameSetup, Player
from c4actors.store.records import Account, GameRecord, GameSummary, LeaderboardRow
from protocol.codec import converter
from protocol.messages import Analysis, TimeControl

ACCOUNT_COLUMNS: Final = (
    "name, password_hash, color, wins, losses, draws, created_at, session_version"
)
GAME_COLUMNS: Final = (
    "game_id, player1, player2, registered1, registered2, color1, color2, moves,"
    " result, winner, reason, started_at, ended_at, base_seconds, increment_seconds,"
    " computer_level, computer_seat"
)


def name_key(name: str) -> str:
    """What makes two names the same name: they are unique ignoring case."""
    return name.casefold()


def game_values(record: GameRecord) -> tuple[Any, ...]:
    """The values of ``GAME_COLUMNS`` followed by ``player1_key, player2_key``."""
    setup, result = record.setup, record.result
    player1, player2 = setup.players
    control = setup.time_control
    return (
        setup.game_id,
        player1.name,
        player2.name,
        player1.registered,
        player2.registered,
        player1.color,
        player2.color,
        json.dumps(list(result.moves)),
        result.outcome,
        result.winner,
        result.reason,
        record.started_at,
        record.ended_at,
        None if control is None else control.base_seconds,
        None if control is None else control.increment_seconds,
        None if setup.computer is None else setup.computer.level,
        None if setup.computer is None else setup.computer.seat,
        name_key(player1.name),
        name_key(player2.name),
    )


def record_column(result: GameResult, name: str) -> str:
    """The account column a counted result adds one to, for the player ``name``."""
    if result.winner is None:
        return "draws"
    return "wins" if result.winner == name else "losses"


def account_updates(record: GameRecord) -> list[tuple[str, str]]:
    """``(name_key, column)`` for each account a result adds one to, in name-key order.

    Empty for a result that does not count, between guests, or against the computer.  The
    order is what keeps two concurrent results over the same two accounts from deadlocking
    in PostgreSQL (each locks the rows in the same order); SQLite, with one writer, does
    not need it but loses nothing.
    """
    result = record.result
    return sorted(
        (name_key(player.name), record_column(result, player.name))
        for player in record.setup.players
        if player.registered and result.counts and record.setup.computer is None
    )


def counter_updates(records: Iterable[GameRecord]) -> list[tuple[str, str, int]]:
    """``(name_key, column, count)``: what a batch of newly stored games adds to the accounts,
    one update per account and column, in name-key order (see ``account_updates``)."""
    counts = Counter(update for record in records for update in account_updates(record))
    return [(key, column, count) for (key, column), count in sorted(counts.items())]


def analysis_json(analysis: Analysis) -> str:
    """An analysis as its row keeps it: the ``analysis`` message's JSON."""
    return json.dumps(converter.unstructure(analysis, Analysis), separators=(",", ":"))


def analysis_from_json(text: str) -> Analysis:
    value: Analysis = converter.structure(json.loads(text), Analysis)
    return value


def account_from_row(row: Any) -> Account:
    name, password_hash, color, wins, losses, draws, created_at, session_version = row
    return Account(
        name=name,
        password_hash=password_hash,
        color=color,
        wins=wins,
        losses=losses,
        draws=draws,
        created_at=created_at,
        session_version=session_version,
    )


def game_from_row(row: Any) -> GameRecord:
    (game_id, p1, p2, reg1, reg2, color1, color2, moves, result, winner, reason, started, ended) = (
        row[:13]
    )
    base, increment, level, seat = row[13:]
    del result  # the outcome follows from the reason and the winner
    setup = GameSetup(
        game_id=game_id,
        player1=Player(name=p1, color=color1, registered=bool(reg1)),
        player2=Player(name=p2, color=color2, registered=bool(reg2)),
        time_control=(
            None
            if base is None
            else TimeControl(base_seconds=base, increment_seconds=increment or 0.0)
        ),
        computer=None if level is None else Computer(level=level, seat=seat),
    )
    outcome = GameResult(winner=winner, reason=reason, moves=tuple(json.loads(moves)))
    return GameRecord(setup=setup, result=outcome, started_at=started, ended_at=ended)


def summary(game: GameRecord, name: str) -> GameSummary:
    """``game`` as a line of ``name``'s profile."""
    player1, player2 = game.setup.players
    mine_first = name_key(player1.name) == name_key(name) and player1.registered
    opponent = player2.name if mine_first else player1.name
    result = game.result
    if result.aborted:
        outcome = "aborted"
    elif result.winner is None:
        outcome = "draw"
    else:
        outcome = "win" if name_key(result.winner) == name_key(name) else "loss"
    return GameSummary(
        game_id=game.game_id,
        opponent=opponent,
        outcome=outcome,
        reason=result.reason,
        moves=len(result.moves),
        ended_at=game.ended_at,
    )


def leaderboard_row(row: Any) -> LeaderboardRow:
    """A ``name, wins, losses, draws`` row as a line of the leaderboard."""
    name, wins, losses, draws = row
    return LeaderboardRow(
        name=name, wins=wins, losses=losses, draws=draws, ratio=ratio(wins, losses, draws)
    )


def ratio(wins: int, losses: int, draws: int) -> float:
    """Wins over games played, rounded for the leaderboard (0 with no games)."""
    played = wins + losses + draws
    return round(wins / played, 3) if played else 0.0
