"""``GET /api/config``: the rules the page applies, served from their one source, and no
copy of them in ``www/`` (the browser test ``tests/e2e/test_config.py`` shows that the page
applies what is served)."""

from __future__ import annotations

import re

import httpx

from c4actors.accounts import PASSWORD_MAX, PASSWORD_MIN
from c4actors.colors import DEFAULT_PLAYER1, DEFAULT_PLAYER2, PALETTE
from c4actors.lobby_state import USERNAME_MAX, is_valid_username
from c4actors.web import WWW_DIR
from tests.support import open_server

PAGE_FILES = sorted(p for p in WWW_DIR.iterdir() if p.suffix in {".js", ".html", ".css"})


async def test_the_config_is_the_servers_own_rules() -> None:
    async with (
        open_server(grace_seconds=7.5) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        response = await http.get("/api/config")
    assert response.status_code == 200
    config = response.json()
    assert config["name"]["max_length"] == USERNAME_MAX
    assert config["password"] == {"min_length": PASSWORD_MIN, "max_length": PASSWORD_MAX}
    assert config["palette"] == PALETTE
    assert list(config["palette"]) == list(PALETTE), "the swatches keep the server's order"
    assert config["guest_colors"] == {"player1": DEFAULT_PLAYER1, "player2": DEFAULT_PLAYER2}
    assert config["grace_seconds"] == 7.5
    # The served pattern (JavaScript syntax, anchored) accepts exactly the server's names.
    # (JavaScript's ``$`` is the end of the text; Python's also matches before a final "\n".)
    pattern = re.compile(config["name"]["pattern"].replace("$", r"\Z"))
    samples = ["a", "Ann_1", "x-y", "a" * USERNAME_MAX, "a" * (USERNAME_MAX + 1), "", "a b"]
    samples += ["ann\n", "é", "<b>", "a.b"]
    for name in samples:
        assert (pattern.search(name) is not None) == is_valid_username(name), repr(name)


def test_the_page_keeps_no_copy_of_the_rules() -> None:
    """A copy in www/ is how the page and the server came to disagree: the palette's values,
    the name's character class, or a rule's bounds written out."""
    assert PAGE_FILES
    copies = [
        *PALETTE.values(),
        "A-Za-z0-9_-",
        f"1–{USERNAME_MAX}",  # noqa: RUF001 (the page's en dash)
        f"1-{USERNAME_MAX}",
        f"{PASSWORD_MIN} to {PASSWORD_MAX}",
        f"{PASSWORD_MIN}-{PASSWORD_MAX}",
    ]
    constant = re.compile(r"(?:NAME|PASSWORD|GRACE)\w*\s*=\s*\d", re.IGNORECASE)
    found = []
    for path in PAGE_FILES:
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name}: {copy}" for copy in copies if copy.lower() in text.lower()]
        found += [f"{path.name}: {match[0]}" for match in constant.finditer(text)]
    assert not found, "rules copied into the page instead of read from /api/config"
