"""A local server's memory and CPU time, read from ``/proc`` (Linux only).

Used when the load tester is told the server's process id (``--server-pid``): memory per idle
connection is the growth of the server's resident set, and its CPU load is the growth of its
user + system time over the measured window.  The time its main thread (the event loop) was
runnable but waiting for a CPU (``/proc/PID/schedstat``, the run queue) says how much of a
latency was the machine's other work, not the server's (issue 17); the load tester reads its
own the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (``VmRSS``), or None if it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far, in seconds, or None if it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / _CLOCK_TICKS


def run_queue_seconds(pid: int) -> float | None:
    """Seconds the main thread of ``pid`` has spent runnable but waiting for a CPU, or None."""
    try:
        fields = Path(f"/proc/{pid}/schedstat").read_text().split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


@attrs.frozen
class ProcessSample:
    """One reading of a process: wall-clock time, CPU seconds, resident memory and time
    spent waiting for a CPU."""

    at: float
    cpu: float | None
    rss_kib: int | None
    run_queue: float | None = None


def sample(pid: int, at: float) -> ProcessSample:
    return ProcessSample(
        at=at, cpu=cpu_seconds(pid), rss_kib=rss_kib(pid), run_queue=run_queue_seconds(pid)
    )


def cpu_share(before: ProcessSample, after: ProcessSample) -> float | None:
    """CPU used between two samples, as a fraction of one core."""
    if before.cpu is None or after.cpu is None or after.at <= before.at:
        return None
    return (after.cpu - before.cpu) / (after.at - before.at)


def wait_share(before: ProcessSample, after: ProcessSample) -> float | None:
    """Time spent waiting for a CPU between two samples, as a fraction of the time between."""
    if before.run_queue is None or after.run_queue is None or after.at <= before.at:
        return None
    return (after.run_queue - before.run_queue) / (after.at - before.at)
