"""The computer's seat of a game: a player without a socket, moving through the game's inbox.

A game against the computer runs in the same ``GameActor`` as any other, and the core
(``c4actors.game_state``) cannot tell the seats apart: the computer holds its seat with a
mailbox of its own (``COMPUTER_CONN``) that drops what it is sent, and plays by putting a
``PlayMove`` into the game's inbox, as a connection does.  So clocks, the end, the store
and spectators work as in any game.

Its moves are computed in the compute pool's ``bot`` lane (``c4actors.bots`` in a worker
process), never in the event loop.  Error handling: a move that does not come within the
level's hard cap (``bots.hard_cap``: the job is killed), a full pool or a failed job falls
back to ``bots.quick_move`` (win, block, or a move that hands nothing over: microseconds,
no solver), so the person always gets a move.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
from collections.abc import Sequence

import trio

from c4actors.actors.game_inbox import GameInput, PlayMove
from c4actors.actors.mailbox import Mailbox, Outgoing
from c4actors.bots import budget_for, hard_cap, quick_move
from c4actors.compute_jobs import BotMove, bot_move
from c4actors.compute_pool import ComputePool, JobTimeout, PoolBusy
from c4actors.game_record import Computer
from c4actors.lobby_state import COMPUTER_CONN
from c4actors.metrics import Metrics

log = logging.getLogger("c4actors.computer")


def move_seed(bot_seed: int, level: str, moves: Sequence[int]) -> int:
    """The seed of the computer's move after ``moves`` at ``level`` under ``serve
    --bot-seed bot_seed``: a function of the position alone (SHA-256, so the same on every
    run and Python), never of the game's id, its players' names, the order games start in
    or the clock.  So with a fixed ``--bot-seed`` the computer is deterministic: the same
    moves from a person replay the same game, which is what a browser test or a demo
    needs; and the pool's move and its quick fallback (``bots.quick_move``) get the same
    seed, so a move that fell back is still reproducible."""
    key = f"{bot_seed}:{level}:{','.join(map(str, moves))}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big")


class ComputerPlayer:
    """Moves for ``computer``'s seat (named ``name``) of the game whose inbox is ``inbox``.

    ``rng`` seeds every move's job (a seeded game replays exactly in tests); ``bot_seed``
    (``serve --bot-seed``) instead derives each move's seed from the position
    (``move_seed``)."""

    def __init__(
        self,
        computer: Computer,
        name: str,
        inbox: trio.MemorySendChannel[GameInput],
        pool: ComputePool | None,
        metrics: Metrics,
        rng: random.Random | None = None,
        bot_seed: int | None = None,
    ) -> None:
        self.computer, self.name, self.inbox, self.pool = computer, name, inbox, pool
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.bot_seed = bot_seed
        send, receive = trio.open_memory_channel[Outgoing](0)
        receive.close()  # what the game tells the computer's seat is dropped
        self.mailbox = Mailbox(COMPUTER_CONN, send)
        self.moves: list[BotMove] = []
        """The moves computed in the pool (with where they ran), for tests and logs."""
        self.fallbacks = 0

    async def play(self, moves: Sequence[int]) -> None:
        """Choose a move after ``moves`` and put it into the game's inbox."""
        started = trio.current_time()
        column = await self._choose(tuple(moves))
        now = trio.current_time()
        level = self.computer.level
        self.metrics.bot_move_seconds.labels(level).observe(now - started)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.inbox.send(PlayMove(self.mailbox, self.name, column, now))

    async def _choose(self, moves: tuple[int, ...]) -> int:
        level = self.computer.level
        if self.bot_seed is None:
            seed = self.rng.randrange(2**32)
        else:
            seed = move_seed(self.bot_seed, level, moves)
        if self.pool is None:
            self.fallbacks += 1
            return quick_move(moves, seed)
        try:
            move = await self.pool.run(
                "bot", bot_move, moves, level, seed, budget_for(level), time_limit=hard_cap(level)
            )
        except (PoolBusy, JobTimeout) as error:
            log.warning("computer move fell back level=%s: %s", level, error)
        except Exception:
            # A bug in a level must not end the game: the person still gets a move.
            log.warning("computer move failed level=%s", level, exc_info=True)
        else:
            self.moves.append(move)
            log.debug(
                "computer moved level=%s column=%d how=%s seconds=%.3f pid=%d",
                level,
                move.column,
                move.how,
                move.seconds,
                move.worked_in.pid,
                extra={"worked_in": move.worked_in},
            )
            return move.column
        self.fallbacks += 1
        return quick_move(moves, seed)
