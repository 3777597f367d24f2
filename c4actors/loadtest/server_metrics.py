"""The server's own event-loop figures over the measured window, read from ``/metrics``.

The game server times every task step (``c4_loop_step_seconds``, ``loop_monitor``) and every
garbage collection (``c4_gc_seconds``).  The load tester reads both histograms when the window
opens and when it closes and keeps the difference, so the figures cover the same window as
its own (issue 17: "longest event-loop step ... reported from the instrument").  A histogram
gives bucket counts, not samples: a percentile is reported as the bucket bound it falls
under ("at most").  A server without ``/metrics`` (the echo app) gives no figures.
"""

from __future__ import annotations

import math
import re
from typing import Final
from urllib.parse import urlsplit

import attrs
import trio

SCRAPE_TIMEOUT: Final = 5.0
STEP_METRIC: Final = "c4_loop_step_seconds"
GC_METRIC: Final = "c4_gc_seconds"
REPLY_METRIC: Final = "c4_reply_seconds"
LOBBY_WAIT_METRIC: Final = "c4_lobby_wait_seconds"
_SAMPLE = re.compile(r"^([a-z0-9_]+)(?:\{([^}]*)\})? ([0-9.eE+-]+|[+-]?Inf|NaN)$")

Samples = dict[tuple[str, str], float]
"""``(metric name, labels as written)`` -> value."""


@attrs.frozen
class ServerLatency:
    """A latency histogram of the server's own over the window, as bucket bounds ("at most");
    None for a bound beyond the last finite bucket."""

    count: int
    p50_ms_at_most: float | None
    p99_ms_at_most: float | None
    max_ms_at_most: float | None


@attrs.frozen
class LoopFigures:
    """Task steps and garbage collections inside the window (from the server's histograms)."""

    steps: int
    p99_ms_at_most: float | None
    """The bucket bound under which 99% of the window's steps fell (None: no bound did)."""
    p999_ms_at_most: float | None
    over_5ms: int
    """Steps longer than 5 ms (the issue's bound for the p99)."""
    over_50ms: int
    longest_ms_at_most: float | None
    """The bound of the highest bucket any step of the window reached (None: beyond 1 s)."""
    gc_collections: dict[str, int]
    """Collections by generation (``"2"``: full)."""
    gc_seconds: dict[str, float]
    reply_move: ServerLatency | None = None
    """A move's frame arrival to the mover's ``game_state`` written (``c4_reply_seconds``):
    the server's own processing time, apart from the clients' and the network's."""
    reply_lobby: ServerLatency | None = None
    """A lobby request's arrival to the lobby's answer written (``invitation_sent`` ...)."""
    lobby_wait: ServerLatency | None = None
    """A lobby request's arrival to the lobby handling it (``c4_lobby_wait_seconds``)."""


def metrics_url(ws_url: str) -> str:
    """``ws://host:port/ws`` -> ``http://host:port/metrics``."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}/metrics"


def parse(text: str) -> Samples:
    samples: Samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is not None:
            samples[(match[1], match[2] or "")] = float(match[3])
    return samples


async def scrape(ws_url: str) -> Samples | None:
    """The server's ``/metrics`` (plain HTTP/1.1 on loopback); None if it has none."""
    parts = urlsplit(metrics_url(ws_url))
    if parts.scheme != "http" or parts.hostname is None:
        return None
    request = f"GET /metrics HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
    chunks: list[bytes] = []
    with trio.move_on_after(SCRAPE_TIMEOUT):
        try:
            stream = await trio.open_tcp_stream(parts.hostname, parts.port or 80)
            async with stream:
                await stream.send_all(request.encode())
                while chunk := await stream.receive_some(65536):
                    chunks.append(chunk)
        except (OSError, trio.BrokenResourceError):
            return None
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            return None
        return parse(body.decode("utf-8", "replace"))
    return None


def loop_figures(before: Samples | None, after: Samples | None) -> LoopFigures | None:
    """The window's share of both histograms; None without the step histogram."""
    if before is None or after is None or (STEP_METRIC + "_count", "") not in after:
        return None

    def delta(name: str, labels: str = "") -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    buckets = sorted(
        (float(labels.split('"')[1]), delta(name, labels))
        for name, labels in after
        if name == STEP_METRIC + "_bucket" and 'le="+Inf"' not in labels
    )
    steps = int(delta(STEP_METRIC + "_count"))

    def quantile_bound(fraction: float) -> float | None:
        for bound, count in buckets:
            if count >= fraction * steps:
                return bound * 1000
        return None

    def over(seconds: float) -> int:
        below = next((count for bound, count in buckets if math.isclose(bound, seconds)), None)
        return steps - int(below) if below is not None else 0

    def latency(metric: str, label: str = "") -> ServerLatency | None:
        """One series of a histogram (``label``: its labels but ``le``, as written)."""
        series = []
        for name, labels in after:
            if name != metric + "_bucket":
                continue
            pairs = labels.split(",")
            le = next((p for p in pairs if p.startswith("le=")), None)
            if le is None or le == 'le="+Inf"' or ",".join(p for p in pairs if p != le) != label:
                continue
            series.append((float(le[4:-1]), delta(name, labels)))
        series.sort()
        if not series or (metric + "_count", label) not in after:
            return None
        count = int(delta(metric + "_count", label))

        def bound(fraction: float) -> float | None:
            if count == 0:
                return None
            for upper, below in series:
                if below >= fraction * count:
                    return upper * 1000
            return None

        return ServerLatency(count, bound(0.5), bound(0.99), bound(1.0))

    generations = sorted({labels for name, labels in after if name == GC_METRIC + "_count"})
    return LoopFigures(
        steps=steps,
        p99_ms_at_most=quantile_bound(0.99) if steps else None,
        p999_ms_at_most=quantile_bound(0.999) if steps else None,
        over_5ms=over(0.005),
        over_50ms=over(0.05),
        longest_ms_at_most=quantile_bound(1.0) if steps else None,
        gc_collections={
            labels.split('"')[1]: int(delta(GC_METRIC + "_count", labels)) for labels in generations
        },
        gc_seconds={
            labels.split('"')[1]: round(delta(GC_METRIC + "_sum", labels), 4)
            for labels in generations
        },
        reply_move=latency(REPLY_METRIC, 'path="move"'),
        reply_lobby=latency(REPLY_METRIC, 'path="lobby"'),
        lobby_wait=latency(LOBBY_WAIT_METRIC),
    )
