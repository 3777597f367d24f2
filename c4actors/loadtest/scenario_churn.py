"""The ``churn`` scenario: users come and go while M users watch the lobby.

M watchers join first.  Then, through the window, a new user connects every ``1 / join_rate``
seconds, joins, stays ``--lifetime`` seconds and disconnects.  Each watcher notes when the
``lobby_update`` naming a newcomer reaches it: a join's latency runs from its
``new_connection`` being sent to that delivery, per watcher and until the *last* watcher.
Watchers also count the bytes they receive in the window, to give the cost of one change to
one watcher.  A join that some watcher never sees (within the drain time after the window)
is a ``missed_update`` error.

Only a *listed* newcomer appears in watchers' updates: run it against a server that lists
everyone (``c4actors serve --lobby-list-limit 0``), or with fewer watchers than its list
limit; beyond the list, joins reach watchers only as a changed ``online`` count.
"""

from __future__ import annotations

import attrs
import trio

from protocol.messages import LobbyUpdate, UserList

from .connection import Client, connect
from .failures import ClientFailure, unexpected
from .figures import ChurnFigures
from .frames import peek_type
from .loadrun import LoadRun
from .metrics import LatencyRecorder
from .settings import DRAIN_SECONDS


@attrs.define
class _PendingJoin:
    sent_at: float
    seen_by: set[int] = attrs.field(factory=set)


class JoinTracker:
    """Which watchers have seen which joins, and how long each took."""

    def __init__(self, run: LoadRun) -> None:
        self.run = run
        self.watchers = 0
        """Watchers that joined; a join is complete when this many have seen it."""
        self.pending: dict[str, _PendingJoin] = {}
        self.all_reached = LatencyRecorder()
        self.joins = 0
        self.leaves = 0
        self.churners_active = 0
        self.window_bytes = 0
        self.window_frames = 0
        self.quiet = trio.Event()
        """Set once the window has closed, no churner is left and every join was seen."""
        self.listing_checked = False

    def check_quiet(self) -> None:
        if self.run.window_closed.is_set() and not self.pending and not self.churners_active:
            self.quiet.set()

    def sent(self, name: str, at: float) -> None:
        self.pending[name] = _PendingJoin(at)
        self.joins += 1

    def seen(self, name: str, watcher: int, at: float) -> None:
        join = self.pending.get(name)
        if join is None or watcher in join.seen_by:
            return
        join.seen_by.add(watcher)
        self.run.stats.latency.record(at - join.sent_at)
        self.run.stats.operations += 1
        if len(join.seen_by) >= self.watchers:
            self.all_reached.record(at - join.sent_at)
            del self.pending[name]
            self.check_quiet()


def check_listed(client: Client, run: LoadRun) -> None:
    """Fail at once, and say why, when newcomers are beyond the server's lobby list: no
    watcher would ever see them join, and every join would count as a missed update."""
    listing = run.decoder.decode(client.user_list)
    if not isinstance(listing, UserList):
        raise unexpected(listing, f"{client.name} joining")
    if listing.online > len(listing.users):
        shown = len(listing.users) - 1  # the newcomer's own row is appended to the list
        raise ClientFailure(
            "not_listed",
            f"the server lists {shown:,} of {listing.online:,} users, so newcomers are not "
            "listed and no watcher can see them join: run churn against a server that lists "
            "everyone (c4actors serve --lobby-list-limit 0), or with fewer watchers than its "
            "list limit",
        )


async def run_churn(run: LoadRun) -> ChurnFigures:
    settings = run.settings
    tracker = JoinTracker(run)
    readers: list[trio.CancelScope] = []

    async def watcher(index: int) -> None:
        settled = False
        try:
            name = settings.user_name("w", index)
            async with connect(run, name, url=settings.url_for(index)) as client:
                settled = True
                tracker.watchers += 1
                run.connection_settled()
                with trio.CancelScope() as reading:
                    readers.append(reading)
                    while True:
                        text = await client.receive()
                        at = client.received_at
                        if run.measuring:
                            tracker.window_frames += 1
                            tracker.window_bytes += len(text)
                        kind = peek_type(text)
                        if kind == "lobby_update":
                            update = run.decoder.decode(text)
                            if not isinstance(update, LobbyUpdate):
                                raise unexpected(update, "watcher")
                            if tracker.pending:
                                for user in update.users:
                                    tracker.seen(user.name, index, at)
                        elif kind != "user_list":
                            raise unexpected(run.decoder.decode(text), "watcher")
        except Exception as error:
            run.fail(error)
        finally:
            if not settled:
                run.connection_settled()
            run.client_finished()

    async def churner(index: int) -> None:
        name = settings.user_name("c", index)
        tracker.churners_active += 1
        try:
            async with connect(run, None, ramp=False, url=settings.url_for(index)) as client:
                tracker.sent(name, trio.current_time())
                await client.join(name)
                if not tracker.listing_checked:
                    tracker.listing_checked = True
                    check_listed(client, run)
                await trio.sleep(settings.lifetime)
            if run.measuring:
                tracker.leaves += 1
        except Exception as error:
            run.fail(error)
        finally:
            tracker.churners_active -= 1
            tracker.check_quiet()

    async def churn(nursery: trio.Nursery) -> None:
        await run.window_open.wait()
        interval = 1.0 / settings.join_rate
        due = trio.current_time()
        index = 0
        while not run.window_closed.is_set():
            nursery.start_soon(churner, index)
            index += 1
            due += interval
            with trio.move_on_at(due):
                await run.window_closed.wait()

    async def stop_watchers() -> None:
        """After the window, give pending joins time to reach everyone, then stop."""
        await run.window_closed.wait()
        tracker.check_quiet()
        with trio.move_on_after(DRAIN_SECONDS / 2):
            await tracker.quiet.wait()
        for scope in readers:
            scope.cancel()

    def start(nursery: trio.Nursery) -> None:
        nursery.start_soon(churn, nursery)
        nursery.start_soon(stop_watchers)
        for index in range(settings.watchers):
            run.client_started()
            nursery.start_soon(watcher, index)

    await run.drive(start)
    for name, join in tracker.pending.items():
        missing = tracker.watchers - len(join.seen_by)
        run.stats.errors.add("missed_update", f"{missing} watchers never saw {name} join")
    watchers, joins = tracker.watchers, tracker.joins
    per_join = tracker.window_bytes / (watchers * joins) if watchers and joins else None
    changes = joins + tracker.leaves
    return ChurnFigures(
        watchers=watchers,
        join_rate=settings.join_rate,
        joins=joins,
        leaves=tracker.leaves,
        delivery_latency=run.stats.latency.summary(),
        all_watchers_latency=tracker.all_reached.summary(),
        undelivered=len(tracker.pending),
        bytes_per_watcher_per_join=per_join,
        bytes_per_watcher_per_change=(
            tracker.window_bytes / (watchers * changes) if watchers and changes else None
        ),
        frames_per_watcher_per_join=(
            tracker.window_frames / (watchers * joins) if watchers and joins else None
        ),
    )
