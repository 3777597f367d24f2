"""The processes of one benchmark step: a fresh server on CPU 0, the load tester on CPU 1.

Pinning uses ``taskset -c N``, which execs the command, so the pid ``Popen`` reports is the
server's own (the load tester reads its CPU time and memory from ``/proc/<pid>``).  On a
machine with fewer than two CPUs, or without ``taskset``, nothing is pinned and the report says
so.  Both servers raise their own open-file limit; so does the load tester.

Resource handling: a server is started and stopped by ``c4actors.server_process`` (it writes
its address to a ready file; SIGTERM for a graceful shutdown, killed if it hangs; its stderr
is shown if it fails to start).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import attrs
from suite_plan import ServerKind, Step

from c4actors.cli import build_parser
from c4actors.loadtest.command import settings_from_args
from c4actors.server_process import running_server

BENCH_DIR: Final = Path(__file__).resolve().parent
SERVER_SCRIPTS: Final[dict[ServerKind, Path]] = {
    "game": BENCH_DIR / "game_server.py",
    "echo": BENCH_DIR / "echo_server.py",
}
LOADTEST_SLACK: Final = 120.0
"""Seconds allowed beyond the load tester's own hard limit before it is killed."""


@attrs.frozen
class Pinning:
    server: tuple[str, ...]
    loadtest: tuple[str, ...]

    @property
    def description(self) -> str:
        if not self.server:
            return "not pinned (fewer than two CPUs, or no taskset)"
        return "server pinned to CPU 0, load tester to CPU 1 (taskset)"


def choose_pinning() -> Pinning:
    taskset = shutil.which("taskset")
    if taskset is None or len(os.sched_getaffinity(0)) < 2:
        return Pinning((), ())
    return Pinning((taskset, "-c", "0"), (taskset, "-c", "1"))


@attrs.frozen
class RunningServer:
    pid: int
    ws_url: str


@contextmanager
def server_process(
    kind: ServerKind, pinning: Pinning, args: Sequence[str] = ()
) -> Iterator[RunningServer]:
    """A fresh server of ``kind`` on an ephemeral port, stopped on the way out."""
    command = [*pinning.server, sys.executable, str(SERVER_SCRIPTS[kind])]
    with running_server(["--port", "0", *args], command=command) as server:
        yield RunningServer(server.pid, server.ws_url)


def run_loadtest(step: Step, server: RunningServer, pinning: Pinning) -> dict[str, Any]:
    """One ``c4actors loadtest`` run; its ``--json`` figures (which include its errors)."""
    with tempfile.TemporaryDirectory(prefix="c4bench-") as directory:
        output = Path(directory) / "figures.json"
        command = [
            *pinning.loadtest,
            sys.executable,
            "-m",
            "c4actors.cli",
            "loadtest",
            *step.args,
            "--url",
            server.ws_url,
            "--server-pid",
            str(server.pid),
            "--send-rate",
            "0",
            "--json",
            str(output),
            "--quiet",
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=_timeout(step), check=False
        )
        if not output.exists():
            raise RuntimeError(
                f"{step.name}: the load tester wrote no figures (exit {completed.returncode})\n"
                f"{completed.stderr[-3000:]}"
            )
        figures: dict[str, Any] = json.loads(output.read_text())
        return figures


def _timeout(step: Step) -> float:
    """The load tester's own hard limit plus slack: this only catches a hung process."""
    settings = settings_from_args(build_parser().parse_args(["loadtest", *step.args]))
    return settings.hard_limit + LOADTEST_SLACK


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return (one, five, fifteen)


def cpu_pressure() -> float | None:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI)."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    match = re.search(r"avg10=([0-9.]+)", line)
    return float(match.group(1)) / 100 if match else None
