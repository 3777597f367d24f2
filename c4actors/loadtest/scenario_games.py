"""The ``games`` scenario: N pairs of players, each pair playing game after game.

In each pair the *challenger* challenges its partner, who accepts and so becomes player 1 and
moves first; when a game ends both wait for their fresh ``user_list`` (back in the lobby) and
the challenger challenges again, as long as the run's game budget and window allow.  Every
``game_state`` and ``game_over`` goes through the player's ``GameReferee``.

A move's round trip is timed from the ``move``'s write to the arrival of the mover's own
``game_state`` for it at the socket (``stamps``: the load tester's own turns left out).  The
lobby path is timed too (issue 17: a pair must not wait behind the move path): after a pair's
game, the next game's *start* from the challenger's ``challenge`` written to the arrival of
its own ``game_started``, and the pair's *idle gap* from the arrival of the challenger's
``game_over`` to that ``game_started`` (a pair still waiting when the window closes counts up
to then).  A pair's first game is left out: all pairs challenge at once when the window
opens, a burst no steady load has.  For the same reason the moves are also timed apart from
the moment every pair is playing (its first game started): ``settled_move_latency``, the
steady load, beside the window's whole ``move_latency``.  With ``--stagger S`` pair ``i`` of
``N`` sends its first challenge ``S * i / N`` seconds after the window opens instead (real
players never all start in the same millisecond; in timed games their flags then fall spread
over time too).

When a ``--duration`` window closes, the player to move sends ``quit``
instead of a move, so games in flight end at once (a forfeit the referee expects); with only a
``--games`` count, games play to their natural end and the window closes with the last one.

Any failure ends the pair that saw it (both connections), is counted by kind, and leaves the
other pairs playing.
"""

from __future__ import annotations

import random
from typing import Final

import attrs
import trio

from protocol.messages import (
    Accept,
    Challenge,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    Quit,
    ServerMessage,
    TimeControl,
)

from .connection import Client, connect
from .failures import unexpected
from .figures import GamesFigures, SlowMove, rate
from .frames import move_texts, peek_type
from .loadrun import LoadRun
from .metrics import InFlight
from .pacing import MovePace
from .referee import GameReferee
from .strategy import STRATEGIES

LOBBY_FRAMES: Final = frozenset({"lobby_update", "user_list"})
IDLE_LIMIT: Final = 1.0
"""Seconds between two games of a pair beyond which the pair counts as starved (issue 17)."""


@attrs.define
class GameTally:
    """Games of the whole run: the budget (``--games``) and what was played in the window."""

    run: LoadRun
    budget: int | None
    started: int = 0
    completed: int = 0
    moves_in_completed: int = 0
    reasons: dict[str, int] = attrs.field(factory=dict)
    slips: int = 0
    first_games: int = 0
    """Pairs whose first game has started."""
    all_playing_at: float | None = None
    """When the last pair's first game started (the Trio clock): from then on the load is
    the steady one the run is about, without the burst of every pair's first challenge."""

    def first_game_started(self, at: float) -> None:
        self.first_games += 1
        if self.first_games == self.run.settings.concurrent:
            self.all_playing_at = at

    def try_start(self) -> bool:
        """Whether a pair may start another game (and take it from the budget)."""
        if self.run.window_closed.is_set():
            return False
        if self.budget is not None and self.started >= self.budget:
            return False
        self.started += 1
        return True

    def finished(self, over: GameOver, moves: int) -> None:
        self.completed += 1
        self.reasons[over.reason] = self.reasons.get(over.reason, 0) + 1
        if self.run.measuring and over.reason != "forfeit":
            self.run.stats.games += 1
            self.moves_in_completed += moves
        if self.budget is not None and self.completed >= self.budget:
            self.run.close_window()


class Pair:
    """Two players who play each other for the whole run; see the module docstring."""

    def __init__(self, run: LoadRun, index: int, tally: GameTally) -> None:
        settings = run.settings
        self.run = run
        self.tally = tally
        self.challenger = settings.user_name("g", 2 * index)
        self.challenged = settings.user_name("g", 2 * index + 1)
        pair_rng = random.Random(f"{settings.seed}-{index}")
        self.pace = MovePace(settings.think, settings.move_rate, pair_rng)
        self.choose_column = STRATEGIES[settings.strategy]
        self.rng = pair_rng
        self.quit_when_window_closes = settings.window is not None
        self.quitter: str | None = None
        self.flagged: str | None = None
        """The player letting the flag fall in the current game (``--flag-after``)."""
        self.flag_due = 0.0
        self.flag_due_early = 0.0
        """The flag's due time counted from when the opponent *sent* its last move: earlier
        than the server's own, so lateness against it is an upper bound."""
        self.last_move_sent = 0.0
        self.finished = trio.Event()
        self.idle_scope: trio.CancelScope | None = None
        self.idle_since: float | None = None
        """When the challenger's last game ended, until the next one starts."""
        self.longest_idle = 0.0
        """The longest idle gap inside the window, seconds."""
        self.challenged_at = 0.0
        self.started_once = False
        self.first_challenge_delay = settings.stagger * index / settings.concurrent
        """Seconds after the traffic starts (the window opens, or the ``--warmup``) before the
        pair's first challenge (``--stagger``)."""
        self._cancel_scope: trio.CancelScope | None = None

    async def run_pair(self) -> None:
        """Both players until the pair is done; always reports back to the run."""
        try:
            async with trio.open_nursery() as nursery:
                self._cancel_scope = nursery.cancel_scope
                nursery.start_soon(self._player, self.challenger, self.challenged, True)
                nursery.start_soon(self._player, self.challenged, self.challenger, False)
        finally:
            self.tally.slips += self.pace.slips
            self.run.client_finished()

    def game_started(self, now: float) -> None:
        """The challenger's ``game_started``: after a game of the pair's, time the start and
        close the idle gap.  A pair's first game is not counted: every pair challenges at
        once when the window opens, a burst no steady load has."""
        run = self.run
        if not self.started_once:
            self.started_once = True
            self.tally.first_game_started(now)
        if run.measuring and self.idle_since is not None:
            run.stats.start_latency.record(now - self.challenged_at)
            gap = now - max(self.idle_since, run.window_start)
            self.longest_idle = max(self.longest_idle, gap)
        self.idle_since = None

    def idle_at_close(self) -> float:
        """The longest idle gap, counting a gap still open when the window closed."""
        run = self.run
        if self.idle_since is None or not run.window_open.is_set():
            return self.longest_idle
        end = run.window_end if run.window_closed.is_set() else trio.current_time()
        return max(self.longest_idle, end - max(self.idle_since, run.window_start))

    def finish(self) -> None:
        """The challenger starts no more games: wake its partner if it waits for one."""
        self.finished.set()
        if self.idle_scope is not None:
            self.idle_scope.cancel()

    async def _player(self, name: str, opponent: str, challenger: bool) -> None:
        run = self.run
        settled = False
        try:
            async with connect(run, name, url=run.settings.url_for(int(not challenger))) as client:
                settled = True
                run.connection_settled()
                await run.traffic_open.wait()
                player = _Player(self, client, opponent, challenger)
                if challenger:
                    await player.challenge_games()
                else:
                    await player.accept_games()
        except Exception as error:
            run.fail(error)
            if self._cancel_scope is not None:
                self._cancel_scope.cancel()  # the partner cannot go on alone
        finally:
            if not settled:
                run.connection_settled()


class _Player:
    """One side of a pair, on an open and joined connection."""

    def __init__(self, pair: Pair, client: Client, opponent: str, challenger: bool) -> None:
        self.pair = pair
        self.client = client
        self.name = client.name
        self.opponent = opponent
        self.challenger = challenger
        self.number = 2 if challenger else 1
        self.run = pair.run

    async def challenge_games(self) -> None:
        timed = self.run.settings.time_control
        control = (
            None
            if timed is None
            else TimeControl(base_seconds=timed[0], increment_seconds=timed[1])
        )
        try:
            if self.pair.first_challenge_delay > 0:
                with trio.move_on_at(self.run.traffic_start + self.pair.first_challenge_delay):
                    await self.run.window_closed.wait()
            while self.pair.tally.try_start():
                await self.client.send(Challenge(opponent=self.opponent, time_control=control))
                self.pair.challenged_at = self.client.sent_at
                sent = await self._next_message()
                if not (isinstance(sent, InvitationSent) and sent.to == self.opponent):
                    raise unexpected(sent, f"{self.name} after challenge")
                await self._play_game()
        finally:
            self.pair.finish()

    async def accept_games(self) -> None:
        while await self._wait_invitation():
            await self.client.send(Accept(challenger=self.opponent))
            await self._play_game()

    async def _wait_invitation(self) -> bool:
        """True on the partner's invitation; False once the partner has finished."""
        with trio.CancelScope() as scope:
            self.pair.idle_scope = scope
            if self.pair.finished.is_set():
                return False
            try:
                invitation = await self._next_message()
            finally:
                self.pair.idle_scope = None
            if not (isinstance(invitation, Invitation) and invitation.from_ == self.opponent):
                raise unexpected(invitation, f"{self.name} waiting for an invitation")
            return True
        return False

    async def _next_message(self) -> ServerMessage:
        """The next message that is not a lobby frame (those are not decoded)."""
        while True:
            text = await self.client.receive()
            if peek_type(text) not in LOBBY_FRAMES:
                return self.run.decoder.decode(text)

    async def _play_game(self) -> None:
        started = await self._next_message()
        if not (
            isinstance(started, GameStarted)
            and (started.player1, started.player2, started.you)
            == (self.pair.challenged, self.pair.challenger, self.number)
        ):
            raise unexpected(started, f"{self.name} waiting for game_started")
        stats = self.run.stats
        if self.challenger:
            self.pair.game_started(self.client.received_at)
            stats.games_in_flight += 1
        referee = GameReferee(started)
        self.pair.flagged = None
        try:
            over = await self._play_moves(referee)
        finally:
            if self.challenger:
                stats.games_in_flight -= 1
        if self.challenger:
            self.pair.idle_since = self.client.received_at  # the game_over's arrival
            self.pair.tally.finished(over, len(referee.board.moves))
        await self._back_in_lobby()

    async def _play_moves(self, referee: GameReferee) -> GameOver:
        """Handle ``game_state``s (moving on our turn) until the ``game_over``."""
        run, stats, client = self.run, self.run.stats, self.client
        decode = run.decoder.decode
        sent_at = 0.0
        awaited = -1  # length of ``moves`` in the state that answers our move
        moves = move_texts(referee.game_id)
        while True:
            text = await client.receive()
            received_at = client.received_at
            if peek_type(text) in LOBBY_FRAMES:
                continue
            message = decode(text)
            if isinstance(message, GameState):
                referee.check_state(message)
                if len(message.moves) == awaited:
                    awaited = -1
                    if run.measuring:
                        got_at = trio.current_time()
                        stats.operations += 1
                        stats.latency.record(received_at - sent_at)
                        stats.tester_delay.record(got_at - received_at)
                        stats.slowest.offer(sent_at, received_at, got_at)
                        playing = self.pair.tally.all_playing_at
                        if playing is not None and sent_at >= playing:
                            stats.settled_latency.record(received_at - sent_at)
                if message.next == self.name and self._lets_flag_fall(message, received_at):
                    continue
                if message.next == self.name:
                    column = await self._choose_move(referee)
                    if column is None:
                        self.pair.quitter = self.name
                        await client.send(Quit(game_id=referee.game_id))
                    else:
                        awaited = len(message.moves) + 1
                        await client.send_text(moves[column])
                        sent_at = self.pair.last_move_sent = client.sent_at
            elif isinstance(message, GameOver):
                pair = self.pair
                referee.check_over(message, forfeited_by=pair.quitter, flagged=pair.flagged)
                if pair.flagged == self.name and run.measuring:
                    stats.flag_lateness.record(received_at - pair.flag_due)
                    stats.flag_lateness_bound.record(received_at - pair.flag_due_early)
                return message
            else:
                raise unexpected(message, f"{self.name} in game {referee.game_id}")

    def _lets_flag_fall(self, state: GameState, received_at: float) -> bool:
        """With ``--flag-after N``: at move N the player to move stops, and the flag is due
        ``seconds_to_move`` after this state arrived: later than the server's own due time by
        the state's delivery, so the lateness measured is if anything less.  Counted from
        when the opponent sent the move this state answers, it is earlier than the server's
        by the move's whole round trip: that lateness is an upper bound."""
        after = self.run.settings.flag_after
        if after is None or len(state.moves) < after or state.seconds_to_move is None:
            return False
        self.pair.flagged = self.name
        self.pair.flag_due = received_at + state.seconds_to_move
        self.pair.flag_due_early = self.pair.last_move_sent + state.seconds_to_move
        return True

    async def _choose_move(self, referee: GameReferee) -> int | None:
        """The column to play, after the pace's wait; None to quit (the window closed)."""
        pair, run = self.pair, self.run
        if not pair.pace.immediate:
            due = pair.pace.next_move_at()
            if due > trio.current_time():
                with trio.move_on_at(due):
                    await run.window_closed.wait()
        if pair.quit_when_window_closes and run.window_closed.is_set():
            return None
        return pair.choose_column(referee.board, pair.rng)

    async def _back_in_lobby(self) -> None:
        """Wait for the fresh ``user_list`` that follows every ``game_over``."""
        while True:
            text = await self.client.receive()
            kind = peek_type(text)
            if kind == "user_list":
                return
            if kind != "lobby_update":
                raise unexpected(self.run.decoder.decode(text), f"{self.name} after game_over")


async def run_games(run: LoadRun) -> GamesFigures:
    """The scenario's entry point: play, then the figures of the window."""
    settings = run.settings
    tally = GameTally(run, settings.games)

    pairs: list[Pair] = []

    def start_pairs(nursery: trio.Nursery) -> None:
        for index in range(settings.concurrent):
            run.client_started()
            pairs.append(Pair(run, index, tally))
            nursery.start_soon(pairs[-1].run_pair)

    await run.drive(start_pairs)
    stats, seconds = run.stats, run.window_seconds
    idle = [pair.idle_at_close() for pair in pairs]
    return GamesFigures(
        concurrent=settings.concurrent,
        moves=stats.operations,
        moves_per_s=rate(stats.operations, seconds),
        games=stats.games,
        games_per_s=rate(stats.games, seconds),
        mean_moves_per_game=tally.moves_in_completed / stats.games if stats.games else None,
        move_latency=stats.latency.summary(),
        ends=dict(sorted(tally.reasons.items())),
        move_rate=settings.move_rate,
        schedule_slips=tally.slips,
        start_latency=stats.start_latency.summary(),
        longest_idle_s=max(idle, default=None),
        pairs_idle_over_1s=sum(gap > IDLE_LIMIT for gap in idle),
        time_control=settings.time_control,
        flag_lateness=stats.flag_lateness.summary(),
        flag_lateness_bound=stats.flag_lateness_bound.summary(),
        tester_delay=stats.tester_delay.summary(),
        settled_move_latency=stats.settled_latency.summary(),
        all_playing_after_s=(
            None
            if tally.all_playing_at is None
            else max(0.0, tally.all_playing_at - run.window_start)
        ),
        slowest_moves=[_slow_move(run, move) for move in stats.slowest.slowest_first()],
    )


def _slow_move(run: LoadRun, move: InFlight) -> SlowMove:
    """One of the slowest moves, with the load tester's longest step while it was in flight."""
    monitor = run.loop_monitor
    step = None if monitor is None else monitor.longest_between(move.written_at, move.got_at)
    return SlowMove(
        at_s=move.written_at - run.window_start,
        round_trip_ms=move.round_trip * 1000,
        tester_delay_ms=(move.got_at - move.arrived_at) * 1000,
        tester_longest_step_ms=None if step is None else step.seconds * 1000,
        tester_longest_step_task=None if step is None else step.task,
    )
