"""What the server tells browsers and which browser requests it refuses, over real HTTP."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import httpx

from c4actors.http_security import content_security_policy, origin_accepted, refusal
from c4actors.web import WWW_DIR, WebSettings
from tests.support import handshake_status, open_server

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


async def test_cross_site_and_non_json_api_writes_are_refused() -> None:
    """Login CSRF, cross-site registration, colour change and logout: all refused with 403
    before any handler runs; the same requests from the page's own origin work."""
    settings = WebSettings(allowed_origins=("https://friend.example",))
    async with (
        open_server(web=settings) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        own = f"http://{server.host}:{server.port}"
        evil = {"Origin": "https://evil.example"}
        account = {"username": "Ann", "password": "correct horse", "color": "blue"}
        login = json.dumps({"username": "Ann", "password": "correct horse"})

        # A hostile page cannot register anyone, nor sign a visitor in.
        refused = await http.post("/api/register", json=account, headers=evil)
        assert (refused.status_code, refused.json()["error"]) == (403, "cross_site")
        assert "c4session" not in http.cookies and "message" in refused.json()
        assert (await http.get("/api/users/ann")).status_code == 404, "nothing was created"
        ok = await http.post("/api/register", json=account, headers={"Origin": own})
        assert ok.status_code == 201
        cookie = http.cookies["c4session"]
        http.cookies.clear()
        # A simple cross-site form post (text/plain, no preflight) is what a hostile page
        # can really send; refused for its origin, and for its content type even from here.
        plain = {"Content-Type": "text/plain"}
        for headers, code in [
            (evil | plain, "cross_site"),
            ({"Origin": own} | plain, "json_required"),
            (plain, "json_required"),
            ({}, "json_required"),
            ({"Origin": "null", "Content-Type": "application/json"}, "cross_site"),
        ]:
            response = await http.post("/api/login", content=login, headers=headers)
            assert (response.status_code, response.json()["error"]) == (403, code), headers
            assert "c4session" not in http.cookies
        # The rule's content types: JSON with parameters or in capitals is JSON.
        for content_type in ("application/json; charset=utf-8", "Application/JSON"):
            response = await http.post(
                "/api/login", content=login, headers={"Content-Type": content_type}
            )
            assert response.status_code == 200, content_type
            http.cookies.clear()
        friend = {"Origin": "https://friend.example", "Content-Type": "application/json"}
        assert (await http.post("/api/login", content=login, headers=friend)).status_code == 200

        # Signed in: a hostile page can neither change the account nor sign it out.
        http.cookies.set("c4session", cookie)
        patch = await http.patch("/api/me", json={"color": "green"}, headers=evil)
        logout = await http.post("/api/logout", json={}, headers=evil)
        assert patch.status_code == logout.status_code == 403
        assert "c4session" not in logout.headers.get("set-cookie", "")
        me = await http.get("/api/me", headers=evil)
        assert me.status_code == 200 and me.json()["color"] == "blue", "reads are not writes"
        ours = await http.patch("/api/me", json={"color": "green"}, headers={"Origin": own})
        assert ours.status_code == 200 and ours.json()["color"] == "green"
        # Without an Origin (curl, scripts, these tests) JSON requests work, as on the socket.
        assert (await http.post("/api/logout", json={})).status_code == 200


def test_the_refusal_rule() -> None:
    host = {"host": "game.example"}
    json_type = {"content-type": "application/json"}
    assert refusal("GET", "/api/me", host | {"origin": "https://evil.example"}, ()) is None
    assert refusal("POST", "/static/x", host, ()) is None, "only the API"
    assert refusal("DELETE", "/api/x", host | json_type, ()) is None
    assert refusal("PUT", "/api/x", host, ()) == refusal("POST", "/api", host, ())
    cross = host | json_type | {"origin": "https://game.example.evil"}
    assert refusal("PATCH", "/api/me", cross, ()) is not None
    assert refusal("PATCH", "/api/me", cross, ("https://game.example.evil",)) is None


def test_an_origin_is_its_scheme_and_host() -> None:
    for scheme, page in [("http", "http"), ("ws", "http"), ("https", "https"), ("wss", "https")]:
        assert origin_accepted(f"{page}://game.example", "game.example", scheme, ())
        other = "https" if page == "http" else "http"
        assert not origin_accepted(f"{other}://game.example", "game.example", scheme, ())
    allowed = ("https://game.example",)
    assert origin_accepted("https://game.example", "game.example", "http", allowed)


async def test_the_https_origin_of_a_cleartext_server_is_another_site() -> None:
    """A page served over https (another origin, possibly another server behind the same
    name) may neither open the WebSocket of, nor change anything on, the http server."""
    async with open_server() as server, httpx.AsyncClient(base_url=server.http_url) as http:
        host = f"{server.host}:{server.port}"
        assert await handshake_status(server, {"Origin": f"https://{host}"}) == 403
        assert await handshake_status(server, {"Origin": f"http://{host}"}) == 101
        body = {"username": "ann", "password": "a long password", "color": "blue"}
        tls_page = await http.post(
            "/api/register", json=body, headers={"Origin": f"https://{host}"}
        )
        assert tls_page.status_code == 403 and tls_page.json()["error"] == "cross_site"
        own = await http.post("/api/register", json=body, headers={"Origin": f"http://{host}"})
        assert own.status_code == 201, own.text
