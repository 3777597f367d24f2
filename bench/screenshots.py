"""Screenshots of the browser client for the docs: ``python bench/screenshots.py``.

Starts ``c4actors serve`` on a free port (with a throwaway database), lets two players
(two browser contexts of Debian's Chromium) meet and play, ann with an account and bob
as a guest, and saves, at desktop and phone sizes, the first screen (ann registering),
the lobby, a game in progress, a finished game, ann's profile, the game's replay and the
leaderboard as
``docs/screenshots/{entry,lobby,game,result,profile,replay,leaderboard}-{desktop,phone}.png``.
Stops the server with SIGTERM at the end.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from c4actors.server_process import ServerProcess

ROOT: Final = Path(__file__).resolve().parent.parent
CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS: Final = 10_000


class Size:
    """A screen the screenshots are taken at."""

    def __init__(self, name: str, width: int, height: int, scale: float) -> None:
        self.name = name
        self.viewport = ViewportSize(width=width, height=height)
        self.scale = scale
        self.mobile = width < 600


SIZES: Final = (Size("desktop", 1280, 800, 1), Size("phone", 390, 844, 2))


@contextmanager
def serve(workdir: Path) -> Iterator[str]:
    """``c4actors serve`` on a free port; yields its address; SIGTERM when done."""
    options = ["--host", "127.0.0.1", "--port", "0", "--grace", "20", "--lobby-tick", "0.05"]
    database = ["--db", str(workdir / "c4actors.sqlite3")]
    server = ServerProcess.start([*options, *database], cwd=ROOT)
    try:
        yield server.http_url
    finally:
        code = server.stop()
    if code != 0:
        raise RuntimeError(f"the server exited with code {code}:\n{server.log()}")


def new_page(browser: Browser, url: str, size: Size) -> Page:
    context = browser.new_context(
        viewport=size.viewport,
        device_scale_factor=size.scale,
        is_mobile=size.mobile,
        has_touch=size.mobile,
        color_scheme="light",
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    return page


def join_as_guest(page: Page, name: str) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Play", exact=True).click()
    expect(page.locator("#greeting")).to_have_text(f"Hello {name}")


def fill_registration(page: Page, name: str, color: str) -> None:
    page.get_by_role("tab", name="Register").click()
    form = page.locator("#register-form")
    form.get_by_label("Username").fill(name)
    form.get_by_label("Password").fill("a long password")
    form.get_by_role("radio", name=color).check()


def register(page: Page, name: str) -> None:
    page.locator("#register-form").get_by_role("button", name="Create account").click()
    expect(page.locator("#greeting")).to_have_text(f"Hello {name}")


def play(mover: Page, other: Page, column: int, filled: int) -> None:
    """``mover`` drops a token in ``column``; wait until both boards have ``filled`` tokens."""
    expect(mover.locator("#turn")).to_have_text("Your turn")
    mover.locator(f'#columns button[data-col="{column}"]').click()
    for page in (mover, other):
        expect(page.locator("#board .cell.filled")).to_have_count(filled)


def shoot(page: Page, out: Path, view: str, size: Size) -> Path:
    """Save ``page`` as ``<view>-<size>.png``, with its drop animations finished."""
    path = out / f"{view}-{size.name}.png"
    page.screenshot(path=path, full_page=True, animations="disabled")
    return path


def take_screenshots(browser: Browser, url: str, size: Size, out: Path) -> list[Path]:
    # Each size gets its own names: the previous pair may still be leaving the lobby.
    ann_name, bob_name = f"ann_{size.name}", f"bob_{size.name}"
    ann = new_page(browser, url, size)
    bob = new_page(browser, url, size)
    try:
        fill_registration(ann, ann_name, "Purple")
        saved = [shoot(ann, out, "entry", size)]
        register(ann, ann_name)
        join_as_guest(bob, bob_name)

        # The lobby: bob has just been challenged by ann.
        ann.get_by_role("button", name=f"Challenge {bob_name}", exact=True).click()
        accept = bob.get_by_role("button", name=f"Accept challenge from {ann_name}")
        expect(accept).to_be_visible()
        saved.append(shoot(bob, out, "lobby", size))

        accept.click()
        for page in (ann, bob):
            expect(page.locator("#game")).to_be_visible()
        # bob, who was challenged, moves first; ann is one move from a diagonal four.
        columns = [3, 1, 2, 2, 4, 4, 3, 3, 4, 6, 0]
        for filled, column in enumerate(columns, start=1):
            mover, other = (bob, ann) if filled % 2 else (ann, bob)
            play(mover, other, column, filled)
        # ann's pointer rests over the winning column, which shows her ghost token there.
        ann.locator('#columns button[data-col="4"]').hover()
        saved.append(shoot(ann, out, "game", size))

        play(ann, bob, 4, len(columns) + 1)
        expect(ann.locator("#result")).to_have_text("You won by four in a row")
        saved.append(shoot(ann, out, "result", size))

        # ann's profile lists the game; its replay, at the end, shows the winning four.
        ann.get_by_role("button", name="Back to lobby").click()
        expect(ann.locator("#lobby-title")).to_be_focused()
        ann.get_by_role("button", name="My profile").click()
        expect(ann.locator("#profile-games tbody tr")).to_have_count(1)
        saved.append(shoot(ann, out, "profile", size))
        ann.get_by_role("button", name=re.compile(f"^Replay the game against {bob_name}")).click()
        expect(ann.locator("#replay-step")).to_have_text(f"Move 0 of {len(columns) + 1}")
        ann.get_by_role("button", name="Last", exact=True).click()
        expect(ann.locator("#replay-result")).to_have_text(f"{ann_name} won by four in a row")
        saved.append(shoot(ann, out, "replay", size))
        ann.get_by_role("link", name="Leaderboard").click()
        expect(ann.locator("#leaderboard-table tbody tr").filter(has_text=ann_name)).to_be_visible()
        saved.append(shoot(ann, out, "leaderboard", size))
        return saved
    finally:
        ann.context.close()
        bob.context.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=CHROMIUM, help="browser executable")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)

    with (
        tempfile.TemporaryDirectory(prefix="c4actors-shots-") as workdir,
        serve(Path(workdir)) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            for size in SIZES:
                for path in take_screenshots(browser, url, size, out):
                    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
