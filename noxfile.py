"""Developer commands: `nox` lints, type-checks and runs every test (browser tests included)."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "jstests", "e2e"]
nox.options.reuse_existing_virtualenvs = True

SOURCES = ["c4actors", "protocol", "tests", "bench", "noxfile.py"]


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff (lint and format check) and mypy --strict."""
    session.install("-e", ".[test,e2e,lint]")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)
    session.run("mypy", "--strict", "c4actors", "protocol", "noxfile.py")
    bench_scripts = [str(path) for path in sorted(Path("bench").glob("*.py"))]
    session.run("mypy", "--strict", *bench_scripts, env={"MYPYPATH": "bench"})


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, property and socket tests (pytest; pass --hypothesis-profile=dev for a quick run)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not e2e", *session.posargs)


@nox.session(venv_backend="none")
def jstests(session: nox.Session) -> None:
    """The page's pure JS modules (routes, messages, board, filters): `node --test www/tests/`."""
    session.run("node", "--test", *(session.posargs or ["www/tests/"]), external=True)


@nox.session
def e2e(session: nox.Session) -> None:
    """Browser tests: Playwright driving Debian's Chromium against a real server."""
    session.install("-e", ".[test,e2e]")
    session.run("pytest", "-m", "e2e", "tests/e2e", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (rules, solver, spectators, load, timed games, cluster): docs/benchmarks.md.

    Pass --quick for a few minutes' smoke run of the load steps; the full run takes ~20 min.
    """
    session.install("-e", ".")
    session.run("python", "bench/rules_bench.py")
    session.run("python", "bench/solver_bench.py")
    session.run("python", "bench/spectators_bench.py")
    session.run("python", "bench/bots_bench.py")
    session.run("python", "bench/run_bench.py", *session.posargs)
    # Timed games (issue 14): its own server and section; --quick carries over.
    quick = ["--quick"] if "--quick" in session.posargs else []
    session.run("python", "bench/timed_bench.py", *quick)
    # A cluster, a core and two edges on a redis-server (issue 16); --quick carries over.
    session.run("python", "bench/cluster_bench.py", *quick)
