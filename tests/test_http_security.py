"""What the server tells browsers and which browser requests it refuses, over real HTTP."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from c4actors.http_security import content_security_policy
from c4actors.web import WWW_DIR
from tests.support import open_server

PAGES = ["/", "/static/app.js", "/static/style.css", "/api/me", "/healthz", "/api/users/x"]


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_every_response_carries_the_security_headers() -> None:
    async with open_server() as server, httpx.AsyncClient(base_url=server.http_url) as http:
        host = f"{server.host}:{server.port}"
        for path in PAGES:
            response = await http.get(path)
            assert response.status_code in (200, 204, 404), path
            headers = response.headers
            assert headers["x-frame-options"] == "DENY", path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "same-origin", path
            policy = directives(headers["content-security-policy"])
            assert policy["frame-ancestors"] == ["'none'"], path
            assert policy["script-src"] == ["'self'"], path
            assert policy["style-src"] == ["'self'"], path
            assert policy["object-src"] == ["'none'"], path
            assert policy["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"], path
            assert not any("unsafe" in value for values in policy.values() for value in values)


def test_a_host_header_cannot_inject_into_the_policy() -> None:
    policy = directives(content_security_policy("evil; script-src *"))
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


class _InlineCode(HTMLParser):
    """Finds what a CSP without 'unsafe-inline' would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        if "style" in names:
            self.found.append(f"style attribute on <{tag}>")
        self.found += [f"{name} on <{tag}>" for name in names if name.startswith("on")]
        if tag == "a" and any((value or "").startswith("javascript:") for _, value in attrs):
            self.found.append("javascript: link")


def test_the_page_has_no_inline_script_or_style() -> None:
    parser = _InlineCode()
    parser.feed((WWW_DIR / "index.html").read_text("utf-8"))
    assert parser.found == []
