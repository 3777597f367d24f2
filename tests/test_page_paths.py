"""The page's addresses (issue 18): the server answers each view's path with the page, so a
reload or a copied address opens that view, and 404 for any other path. The page's own
list (www/routes.js) and the server's (``PAGE_PATHS``) must name the same views."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import httpx

from c4actors.web import PAGE_PATHS
from tests.support import open_server

ROUTES_JS: Final = Path(__file__).resolve().parents[1] / "www" / "routes.js"

VIEW_PATHS: Final = [
    "/",
    "/game/g-7f3a",
    "/players/ann",
    "/players/Ann_1",
    "/replay/3f2a9c",
    "/leaderboard",
]
NOT_PAGES: Final = ["/nope", "/game", "/game/a/b", "/players/", "/leaderboard/x", "/index.html"]


async def test_each_view_path_answers_with_the_page_and_others_404() -> None:
    async with open_server() as server, httpx.AsyncClient(base_url=server.http_url) as http:
        index = (await http.get("/")).text
        for path in VIEW_PATHS:
            page = await http.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html"), path
            assert page.text == index, path
        for path in NOT_PAGES:
            assert (await http.get(path)).status_code == 404, path


def test_the_server_and_the_page_know_the_same_addresses() -> None:
    source = ROUTES_JS.read_text(encoding="utf-8")
    # The page's patterns, written as /^\/game\/([^/]+)$/, become /game/{}.
    page = {
        re.sub(r"\(\[\^/\]\+\)", "{}", pattern.replace("\\/", "/"))
        for pattern in re.findall(r"\[/\^(.*?)\$/,", source)
    }
    server = {re.sub(r"\{[a-z_]+\}", "{}", path) for path in PAGE_PATHS} | {"/"}
    assert page == server
