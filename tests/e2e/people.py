"""Everyone a test puts in front of a browser, and what their pages said.

``People.open`` gives each person their own browser context (own cookies and
sessionStorage, like separate browsers) and records each page's console and uncaught
exceptions. The conftest fails a test whose pages logged an unexpected error, and
saves screenshots and console logs of a failed test under ``test-artifacts/``.

What counts as an unexpected error:

* any uncaught exception in a page (``pageerror``);
* any console message of type ``error``, unless the test declared it with
  ``tolerate``. Only the network-drop test does: while its player is offline, each
  reconnect attempt makes Chromium log "WebSocket connection to ... failed: ...
  net::ERR_INTERNET_DISCONNECTED" (a closing WebSocket logs nothing, so no other
  test needs a tolerance). One exception holds for every page: Chromium logs each
  4xx reply of the JSON API ("Failed to load resource: ... status of 401"), and
  those are answers the page shows, not faults (a wrong password is a 401, a taken
  name a 409). A guest's page load makes no such request (``GET /api/me`` answers a
  guest with 204), and ``test_a_guest_page_load_logs_nothing`` holds it to that;
* the client's own protocol warnings (``Unknown message type from server``,
  ``Ignoring a non-JSON frame``): they mean the client and server disagree.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page

from tests.e2e.player import Player

ACTION_TIMEOUT_MS: Final = 10_000
PROTOCOL_WARNINGS: Final = re.compile(r"^(Unknown message type from server|Ignoring a non-JSON)")
API_REFUSAL: Final = re.compile(r"^Failed to load resource: .* status of 4\d\d\b")
API_URL: Final = re.compile(r"^https?://[^/]+/api/")

_suffixes = itertools.count(1)
"""Names get a per-test suffix: a player left over from an earlier test (e.g. one that
failed mid-game, still inside its grace period) can never collide with this test's."""

NewContext = Callable[..., BrowserContext]


class PageLog:
    """The console of one page, plus its uncaught exceptions, in order."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[str] = []
        self.problems: list[str] = []
        self.tolerated: list[re.Pattern[str]] = []

    def on_console(self, message: ConsoleMessage) -> None:
        location = message.location
        where = f" ({location['url']}:{location['lineNumber']})" if location.get("url") else ""
        line = f"[{message.type}] {message.text}{where}"
        self.lines.append(line)
        if self._is_problem(message):
            self.problems.append(line)

    def _is_problem(self, message: ConsoleMessage) -> bool:
        if message.type == "error":
            if _is_api_refusal(message):
                return False
            return not any(pattern.search(message.text) for pattern in self.tolerated)
        return message.type == "warning" and PROTOCOL_WARNINGS.search(message.text) is not None

    def on_page_error(self, error: Error) -> None:
        line = f"[uncaught] {error.name}: {error.message}\n{error.stack or ''}".rstrip()
        self.lines.append(line)
        self.problems.append(line)


def _is_api_refusal(message: ConsoleMessage) -> bool:
    """Chromium's log line for a 4xx reply of the JSON API (see the module docstring)."""
    url = message.location.get("url", "")
    return API_REFUSAL.search(message.text) is not None and API_URL.search(url) is not None


class People:
    """The players of one test; see the module docstring."""

    def __init__(self, new_context: NewContext, url: str) -> None:
        self._new_context = new_context
        self.url = url
        self.logs: dict[Page, PageLog] = {}
        self.suffix = next(_suffixes)

    def open(self, name: str) -> Player:
        """A new person (new context, new tab) on the page, about to pick ``name``.

        The name gets this test's suffix, so ``open("ann")`` plays as e.g. ``ann_7``.
        """
        full_name = f"{name}_{self.suffix}"
        context = self._new_context()
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.on("page", lambda page: self.watch(page, full_name))
        page = context.new_page()
        self.watch(page, full_name)
        player = Player(context, page, full_name, self.url)
        player.open()
        return player

    def watch(self, page: Page, label: str) -> None:
        if page in self.logs:
            return
        log = PageLog(f"{len(self.logs) + 1}-{label}")
        self.logs[page] = log
        page.on("console", log.on_console)
        page.on("pageerror", log.on_page_error)

    def tolerate(self, player: Player, pattern: str) -> None:
        """Let ``player``'s page log console errors matching ``pattern`` (a regex)."""
        self.logs[player.page].tolerated.append(re.compile(pattern))

    def problems(self) -> list[str]:
        return [f"{log.label}: {line}" for log in self.logs.values() for line in log.problems]

    def save_artifacts(self, folder: Path, server_log: str) -> None:
        """A screenshot of every open page, every page's console log and the server's log."""
        folder.mkdir(parents=True, exist_ok=True)
        for page, log in self.logs.items():
            lines = list(log.lines)
            if not page.is_closed():
                try:
                    page.screenshot(path=folder / f"{log.label}.png", full_page=True, timeout=5_000)
                except Error as error:  # a crashed page must not hide the test's own failure
                    lines.append(f"[screenshot failed] {error}")
            (folder / f"{log.label}.console.log").write_text("\n".join(lines) + "\n", "utf-8")
        (folder / "server.log").write_text(server_log + "\n", "utf-8")
