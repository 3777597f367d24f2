"""Real-browser tests: Debian's Chromium, driven by Playwright, against ``c4actors serve``.

Fixtures:

* ``server`` (session): the real server in a child process (``--grace 3``); stopped
  with SIGTERM at the end, which must exit 0 within 10 s. A module that needs another
  grace period overrides ``server`` with its own ``running_server(...)``.
* ``people`` (function): opens players, each in their own browser context. A test
  whose pages log an unexpected console error fails (see ``people.py`` for what is
  tolerated); a failed test leaves screenshots, console logs and the server's log in
  ``test-artifacts/e2e/<test>/``.

The ``tests`` nox session installs no browser tooling and deselects these tests with
``-m "not e2e"``; without Playwright their modules are not even collected, so that
session does not need it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from tests.e2e.server_process import DEFAULT_GRACE, ROOT, ServerProcess, running_server

if TYPE_CHECKING:
    from tests.e2e.people import NewContext, People

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS: Final = ROOT / "test-artifacts" / "e2e"
EXPECT_TIMEOUT_MS: Final = 10_000

HAVE_PLAYWRIGHT: Final = importlib.util.find_spec("playwright") is not None
if not HAVE_PLAYWRIGHT:
    collect_ignore_glob = ["test_*.py"]

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
PEOPLE = pytest.StashKey["People"]()


def pytest_report_header() -> str | None:
    if HAVE_PLAYWRIGHT:
        return None
    return "tests/e2e: Playwright is not installed, browser tests not collected"


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session", autouse=True)
def chromium() -> Path:
    """Debian's Chromium: Playwright cannot download its own browsers here.

    Missing, it skips every browser test on a developer's machine, but fails them
    on CI (``CI`` set), where a silent skip would hide that nothing was tested.
    """
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package", pytrace=False)
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], chromium: Path
) -> dict[str, Any]:
    """pytest-playwright's launch options, pointed at Debian's Chromium, headless."""
    return {
        **browser_type_launch_args,
        "executable_path": str(chromium),
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def base_url() -> None:
    """No base URL: players open ``server.http_url``, which differs per server fixture.

    This also replaces pytest-playwright's fallback ``base_url``, a fixture defined as a
    method of a plugin object, which pytest 9 deprecates with a PytestRemovedIn10Warning
    (an error here, under ``filterwarnings = ["error"]``).
    """
    return None


@pytest.fixture(scope="session", autouse=True)
def _expect_timeout() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="session", autouse=True)
def _fresh_artifacts() -> None:
    """Artifacts describe this run's failures only."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)


# --------------------------------------------------------------------------- server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("server") / "c4actors.sqlite3"
    with running_server(grace=DEFAULT_GRACE, db=db) as server:
        yield server


# --------------------------------------------------------------------------- people


@pytest.fixture
def people(
    request: pytest.FixtureRequest, new_context: NewContext, server: ServerProcess
) -> Iterator[People]:
    from tests.e2e.people import People

    crowd = People(new_context, server.http_url)
    request.node.stash[PEOPLE] = crowd
    yield crowd
    reports = request.node.stash.get(REPORTS, {})
    if any(report.failed for report in reports.values()):
        crowd.save_artifacts(ARTIFACTS / _slug(request.node.nodeid), server.log())


def _slug(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid.removeprefix("tests/e2e/")).strip("-")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, for the ``people`` fixture's teardown."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that passed still fails if a page logged an unexpected error."""
    yield
    crowd = item.stash.get(PEOPLE, None)
    if crowd is not None and (problems := crowd.problems()):
        pytest.fail("the page logged errors:\n" + "\n".join(problems), pytrace=False)
