"""What a run measures as it goes: latency samples, counters, and errors by kind.

Recording is the hot path (once per move, frame or connection), so it is an append to an
``array`` or an integer add; percentiles are only worked out by the progress display (over the
samples since its last refresh) and once at the end.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import Counter

import attrs


@attrs.frozen
class LatencySummary:
    """Percentiles of one kind of latency, in milliseconds."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def percentile(ordered: array[float] | list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted samples (``fraction`` in 0..1)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class LatencyRecorder:
    """Every sample of one latency, in seconds."""

    __slots__ = ("_mark", "_samples")

    def __init__(self) -> None:
        self._samples: array[float] = array("d")
        self._mark = 0

    def record(self, seconds: float) -> None:
        self._samples.append(seconds)

    def __len__(self) -> int:
        return len(self._samples)

    def recent_p99(self) -> float | None:
        """The p99 (seconds) of the samples recorded since the previous call, for the display."""
        recent = sorted(self._samples[self._mark :])
        self._mark = len(self._samples)
        return percentile(recent, 0.99) if recent else None

    def summary(self) -> LatencySummary | None:
        if not self._samples:
            return None
        ordered = array("d", sorted(self._samples))
        return LatencySummary(
            count=len(ordered),
            p50_ms=percentile(ordered, 0.50) * 1000,
            p90_ms=percentile(ordered, 0.90) * 1000,
            p99_ms=percentile(ordered, 0.99) * 1000,
            max_ms=ordered[-1] * 1000,
            mean_ms=sum(ordered) / len(ordered) * 1000,
        )


@attrs.frozen
class InFlight:
    """One timed exchange, on the Trio clock: written, its answer's arrival at the socket,
    and when the waiting task got it (the load tester's own delay is the last two apart)."""

    written_at: float
    arrived_at: float
    got_at: float

    @property
    def round_trip(self) -> float:
        return self.arrived_at - self.written_at


class Slowest:
    """The ``keep`` slowest exchanges of a run (a bounded min-heap on the round trip)."""

    __slots__ = ("_heap", "_keep", "_order")

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._heap: list[tuple[float, int, InFlight]] = []
        self._order = 0

    def offer(self, written_at: float, arrived_at: float, got_at: float) -> None:
        round_trip = arrived_at - written_at
        heap = self._heap
        if len(heap) >= self._keep and round_trip <= heap[0][0]:
            return  # the common case: one comparison
        self._order += 1
        entry = (round_trip, self._order, InFlight(written_at, arrived_at, got_at))
        if len(heap) < self._keep:
            heapq.heappush(heap, entry)
        else:
            heapq.heapreplace(heap, entry)

    def slowest_first(self) -> list[InFlight]:
        return [entry[2] for entry in sorted(self._heap, reverse=True)]


class ErrorLog:
    """Errors by kind, with the first message of each kind as an example.

    Kinds: ``protocol_error`` (a frame that does not decode, or an unexpected message),
    ``server_error:<code>`` (an ``error`` reply), ``unexpected_close``, ``connect_failed``,
    ``wrong_board``, ``wrong_result``, ``wrong_echo``, ``missed_update``, ``slow_ramp``,
    ``close_timeout``, ``timeout``.
    """

    __slots__ = ("counts", "examples")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def add(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(kind, detail[:300])

    def __bool__(self) -> bool:
        return bool(self.counts)

    def total(self) -> int:
        return sum(self.counts.values())


SLOWEST_KEPT = 5


class RunStats:
    """Live counters shared by every simulated client of one run (one Trio thread)."""

    __slots__ = (
        "bytes_received",
        "connections_failed",
        "connections_open",
        "connections_opened",
        "errors",
        "flag_lateness",
        "flag_lateness_bound",
        "frames_received",
        "games",
        "games_in_flight",
        "handshake",
        "latency",
        "operations",
        "settled_latency",
        "slowest",
        "start_latency",
        "tester_delay",
    )

    def __init__(self) -> None:
        self.connections_open = 0
        self.connections_opened = 0
        self.connections_failed = 0
        self.games_in_flight = 0
        self.games = 0
        self.operations = 0
        """Moves (games), round trips (echo) or joins (churn) completed in the window."""
        self.frames_received = 0
        self.bytes_received = 0
        self.latency = LatencyRecorder()
        """Move round trips (games), echo round trips, join deliveries (churn)."""
        self.handshake = LatencyRecorder()
        self.flag_lateness = LatencyRecorder()
        """Games with ``--flag-after``: ``game_over`` (timeout) received -> when the flag was
        due (the last ``game_state`` received plus its ``seconds_to_move``)."""
        self.flag_lateness_bound = LatencyRecorder()
        """The same against the due time counted from the opponent's sending its last move
        (an upper bound: the server received and answered that move later)."""
        self.start_latency = LatencyRecorder()
        """Games: ``challenge`` sent -> the challenger's ``game_started``."""
        self.tester_delay = LatencyRecorder()
        """Games: a reply's arrival at the socket -> the mover's task got it: the load
        tester's own turns, which the round trips leave out (``stamps``)."""
        self.settled_latency = LatencyRecorder()
        """Games: move round trips of the moves written once every pair was playing."""
        self.slowest = Slowest(SLOWEST_KEPT)
        """Games: the slowest moves of the window, for a look at where their time went."""
        self.errors = ErrorLog()
