"""The analyst: computes, stores and delivers the perfect-play analysis of finished games.

A connection's ``analyse`` becomes an ``AnalysisRequest`` put into the analyst's inbox
without waiting (a full inbox: ``error busy`` at once).  The analyst alone owns the
per-user quota (``AnalysisQuota``: one analysis at a time, a few an hour); each admitted
request gets a task of its own that

1. answers from the store when the game was analysed before (free: not counted);
2. else reads the game (a guest game is saved just after its ``game_over``, so it looks
   again for a moment), analyses it a few moves per job in the compute pool's ``analysis``
   lane (``analysis_progress`` after each job), stores the result with the game and
   delivers ``analysis``.

A task asks the analyst's own task for a place in the quota (``_Admit``, only when the
analysis must be computed) and reports its end (``_Done``): the quota changes in the
analyst's task only.  Error handling: a full pool is ``error busy``, a job past its time or failing
is ``error analysis_failed``, a game the store does not have is ``unknown_game``; a store
failure is ``store_unavailable``.  Nothing is stored then, and the quota is given back.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final

import attrs
import trio

from c4actors.actors.mailbox import Mailbox
from c4actors.analysis_quota import AnalysisQuota, QuotaRefusal
from c4actors.analysis_report import report
from c4actors.compute_jobs import AnalysedPlies, WorkedIn, analyse_plies
from c4actors.compute_pool import ComputePool, PoolBusy
from c4actors.game_record import GameRecord
from c4actors.metrics import Metrics
from c4actors.store import Store, StoreError
from c4actors.store.rows import name_key
from protocol.codec import encode
from protocol.messages import Analysis, AnalysisProgress, Error, ErrorCode, PlayerNumber

log = logging.getLogger("c4actors.analyst")

ANALYST_INBOX_SIZE: Final = 256
MAX_REQUESTS_IN_PROGRESS: Final = 64
"""Requests answered at once (most are answered from the store); the inbox keeps this much
room for their ends, so a task's ``_Done`` always fits."""
PLIES_PER_JOB: Final = 6
"""Moves analysed per job: a progress frame every few moves, few enough jobs that the
positions each job re-derives cost little."""
SECONDS_PER_JOB: Final = 60.0
"""The solver's deadline in one job (the pool kills the job a little later)."""
SAVE_WAIT: Final = 3.0
"""How long a request for a game just ended waits for the game to reach the store."""


@attrs.frozen
class AnalysisRequest:
    """From a connection: ``user`` (on ``mailbox``) asks for game ``game_id``'s analysis."""

    mailbox: Mailbox
    user: str
    game_id: str


@attrs.frozen
class _Admit:
    """From a request's task: the analysis must be computed; may ``user`` start one now?"""

    user: str
    reply: trio.MemorySendChannel[QuotaRefusal | None]


@attrs.frozen
class _Done:
    """From a request's task: it ended; ``admitted``: it held a place in the quota."""

    user: str
    admitted: bool
    computed: bool


AnalystInput = AnalysisRequest | _Admit | _Done


class Analyst:
    """See the module docstring.  Start with ``nursery.start(analyst.run)``."""

    def __init__(
        self,
        store: Store,
        pool: ComputePool,
        metrics: Metrics,
        quota: AnalysisQuota | None = None,
    ) -> None:
        self.store, self.pool, self.metrics = store, pool, metrics
        self.quota = quota or AnalysisQuota()
        self._send, self._inbox = trio.open_memory_channel[AnalystInput](ANALYST_INBOX_SIZE)
        self._in_progress = 0
        self.worked_in: list[WorkedIn] = []
        """Where the last analyses' jobs ran (the latest few, for tests)."""

    def request(self, request: AnalysisRequest) -> None:
        """Queue ``request`` without waiting; refused ``busy`` when the inbox is full."""
        queued = self._send.statistics().current_buffer_used
        try:
            if queued >= ANALYST_INBOX_SIZE - MAX_REQUESTS_IN_PROGRESS:
                raise trio.WouldBlock
            self._send.send_nowait(request)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self._refuse(request.mailbox, "busy", "the server is busy: try again later")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._inbox, trio.open_nursery() as nursery:
            task_status.started()
            async for item in self._inbox:
                now = trio.current_time()
                match item:
                    case _Admit(user=user, reply=reply):
                        with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                            reply.send_nowait(self.quota.start(user, now))
                    case _Done(user=user, admitted=admitted, computed=computed):
                        self._in_progress -= 1
                        if admitted:
                            self.quota.finish(user, counted=computed)
                        self.quota.forget_idle(now)
                    case AnalysisRequest(mailbox=mailbox):
                        if self._in_progress >= MAX_REQUESTS_IN_PROGRESS:
                            self._refuse(mailbox, "busy", "the server is busy: try again later")
                            continue
                        self._in_progress += 1
                        nursery.start_soon(self._serve, item)

    async def _serve(self, request: AnalysisRequest) -> None:
        outcome = _Outcome()
        try:
            await self._answer(request, outcome)
        except PoolBusy:
            self._refuse(request.mailbox, "busy", "every analysis worker is busy: try again later")
        except StoreError:
            self._refuse(request.mailbox, "store_unavailable", "storage unavailable, try again")
        except Exception:  # JobTimeout, SolverTimeout, a bug: this analysis only
            log.warning("analysis failed game_id=%s", request.game_id, exc_info=True)
            self._refuse(request.mailbox, "analysis_failed", "the analysis failed: try again")
        finally:
            result = "computed" if outcome.computed else "not_computed"
            self.metrics.analyses.labels(result).inc()
            done = _Done(name_key(request.user), outcome.admitted, outcome.computed)
            # Never full: the inbox keeps room for every request in progress.
            with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                self._send.send_nowait(done)

    async def _answer(self, request: AnalysisRequest, outcome: _Outcome) -> None:
        """Deliver the analysis: from the store (free), else computed within the quota."""
        game_id, mailbox = request.game_id, request.mailbox
        stored = await self.store.get_analysis(game_id) if len(game_id) <= 64 else None
        if stored is not None:
            mailbox.deliver(encode(stored))
            return
        record = await self._stored_game(game_id)
        if record is None:
            self._refuse(mailbox, "unknown_game", "no stored game has this id")
            return
        refusal = await self._admit(name_key(request.user))
        if refusal is not None:
            self._refuse(mailbox, refusal.code, refusal.message)
            return
        outcome.admitted = True
        analysis = await self.compute(record, mailbox)
        await self.store.save_analysis(analysis)
        outcome.computed = True
        mailbox.deliver(encode(analysis))

    async def _admit(self, user: str) -> QuotaRefusal | None:
        """Ask the analyst's own task, which alone keeps the quota."""
        reply, answer = trio.open_memory_channel[QuotaRefusal | None](1)
        async with answer:
            # Never full: the inbox keeps room for every request in progress.
            self._send.send_nowait(_Admit(user, reply))
            return await answer.receive()

    async def compute(self, record: GameRecord, mailbox: Mailbox | None = None) -> Analysis:
        """Analyse ``record`` a few moves per job, telling ``mailbox`` the progress."""
        moves = record.result.moves
        total = len(moves)
        analysed: list[object] = []

        def progress(done: int) -> None:
            if mailbox is not None:
                message = AnalysisProgress(game_id=record.game_id, done=done, total=total)
                mailbox.deliver(encode(message))

        for first in range(0, total, PLIES_PER_JOB):
            stop = min(total, first + PLIES_PER_JOB)
            part: AnalysedPlies = await self.pool.run(
                "analysis", analyse_plies, moves, first, stop, SECONDS_PER_JOB
            )
            analysed += part.moves
            self.worked_in = [*self.worked_in[-15:], part.worked_in]
            progress(stop)
        return report(record.game_id, analysed, _loser(record))

    async def _stored_game(self, game_id: str) -> GameRecord | None:
        if len(game_id) > 64:
            return None
        with trio.move_on_after(SAVE_WAIT):
            while True:
                record = await self.store.get_game(game_id)
                if record is not None:
                    return record
                await trio.sleep(0.1)
        return None

    def _refuse(self, mailbox: Mailbox, code: ErrorCode, message: str) -> None:
        self.metrics.errors.labels(code).inc()
        mailbox.deliver(encode(Error(code=code, message=message, ref="analyse")))


@attrs.define
class _Outcome:
    admitted: bool = False
    computed: bool = False


def _loser(record: GameRecord) -> PlayerNumber | None:
    winner = record.result.winner
    if winner is None:
        return None
    return 2 if record.setup.player1.name == winner else 1
