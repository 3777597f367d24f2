"""Load benchmark: the game server under load, against the bare transport (issue 5).

Runs every step of ``suite_plan`` (closed-loop games, open-loop games, idle users, churn, and
the echo baseline at the same connection counts), each against a fresh server pinned to
CPU 0 with the load tester pinned to CPU 1, then prints the figures and the targets, and
rewrites its own section of ``docs/benchmarks.md`` and the whole of ``docs/benchmarks.json``.

``--quick`` runs the same steps at small sizes (about two minutes); the full suite takes
several minutes.  Exits 0 unless a step could not run, or ``--strict`` is given and a target
is missed: a slow or busy machine does not break ``nox -s bench``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
from suite_plan import FULL, QUICK, Step, plan
from suite_processes import (
    Pinning,
    choose_pinning,
    cpu_pressure,
    load_average,
    run_loadtest,
    server_process,
)
from suite_report import (
    Run,
    StepResult,
    errors_text,
    markdown_section,
    run_from_json,
    throughput_text,
    verdicts,
    write_json,
    write_markdown,
)

from c4actors.loadtest.figures import summary_from_json

DOCS = Path(__file__).resolve().parent.parent / "docs"


def run_step(step: Step, pinning: Pinning) -> StepResult:
    before, pressure = load_average(), cpu_pressure()
    with tempfile.TemporaryDirectory(prefix="c4bench-") as directory:
        report = Path(directory) / "loop.json"
        server_args = step.server_args
        if step.server == "game":
            server_args = (*server_args, "--loop-report", str(report))
        try:
            with server_process(step.server, pinning, server_args) as server:
                figures = run_loadtest(step, server, pinning)
        except (RuntimeError, OSError) as error:
            failure = str(error).splitlines()[0]
            return StepResult(step, None, before, pressure, failure=failure)
        slowest = read_loop_report(report)
    return StepResult(step, summary_from_json(figures), before, pressure, slowest=slowest)


def read_loop_report(path: Path) -> tuple[tuple[float, str], ...]:
    """The server's longest steps from its ``--loop-report`` (none if it wrote none)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return ()
    return tuple((float(step["seconds"]), str(step["task"])) for step in data["slowest"])


def keep_earlier(
    results: dict[str, StepResult], earlier: Run, steps: Sequence[Step]
) -> dict[str, StepResult]:
    """This run's results, and the earlier run's for the steps not rerun, in plan order."""
    started = earlier.started.isoformat(timespec="minutes")
    merged: dict[str, StepResult] = {}
    for step in steps:
        if step.name in results:
            merged[step.name] = results[step.name]
        elif step.name in earlier.results:
            old = earlier.results[step.name]
            merged[step.name] = attrs.evolve(old, carried_from=old.carried_from or started)
    return merged


def describe(result: StepResult) -> str:
    summary = result.summary
    if summary is None:
        return f"FAILED: {result.failure}"
    throughput, latency = throughput_text(summary)
    return f"{throughput}; latency {latency} ms; errors {errors_text(result)}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps")
    parser.add_argument("--seed", type=int, default=5, help="seed of the bots' choices")
    parser.add_argument("--output", type=Path, default=DOCS / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=DOCS / "benchmarks.json")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument(
        "--keep-earlier",
        action="store_true",
        help="with --only: keep the other steps' figures from the earlier run's JSON, "
        "marked as such (a short benchmark window need not lose them)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="run nothing: re-render the markdown from an earlier run's JSON",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:
        run = run_from_json(args.from_json)
        write_markdown(args.output, markdown_section(run))
        print(f"wrote {args.output} from {args.from_json}")
        return 0
    sizes = QUICK if args.quick else FULL
    steps = [s for s in plan(sizes, args.seed) if not args.only or s.name in args.only]
    pinning = choose_pinning()
    started = datetime.datetime.now(datetime.UTC)
    clock = time.monotonic()
    print(f"{len(steps)} steps; {pinning.description}", flush=True)
    results: dict[str, StepResult] = {}
    for step in steps:
        print(f"{step.name} ({step.size}) ...", end=" ", flush=True)
        results[step.name] = run_step(step, pinning)
        print(describe(results[step.name]), flush=True)
    if args.only and args.keep_earlier and args.json.exists():
        results = keep_earlier(results, run_from_json(args.json), plan(sizes, args.seed))
    run = Run(
        quick=args.quick,
        started=started,
        seconds=time.monotonic() - clock,
        pinning=pinning.description,
        results=results,
        sizes=sizes,
    )
    found = verdicts(results, sizes)
    for verdict in found:
        print(f"{verdict.word:>12}  {verdict.target}: {verdict.measured}")
    if not args.no_write:
        write_markdown(args.output, markdown_section(run))
        write_json(args.json, run)
        print(f"wrote {args.output} and {args.json}")
    if any(result.summary is None for result in results.values()):
        return 1
    if args.strict and any(verdict.met is False for verdict in found):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
