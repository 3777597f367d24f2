"""HTTPS and ``wss://`` served directly (``--certfile``/``--keyfile``), with a certificate
made for the test by a throwaway CA (trustme)."""

from __future__ import annotations

import ssl
from pathlib import Path

import attrs
import httpx
import pytest
import trio
import trustme
from trio_websocket import open_websocket_url

from c4actors.server_process import running_server
from c4actors.web import WebSettings
from protocol import Welcome
from tests.support import Client, open_server, play_opening, start_game


@attrs.frozen
class Certificate:
    certfile: Path
    keyfile: Path
    trust: ssl.SSLContext
    """A client context that trusts the CA which signed the certificate."""


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    directory = tmp_path_factory.mktemp("tls")
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in issued.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    issued.private_key_pem.write_to_path(str(keyfile))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    return Certificate(certfile, keyfile, trust)


async def test_https_page_wss_game_and_a_secure_cookie(certificate: Certificate) -> None:
    async with (
        open_server(certfile=str(certificate.certfile), keyfile=str(certificate.keyfile)) as server,
        httpx.AsyncClient(base_url=server.http_url, verify=certificate.trust) as http,
    ):
        assert server.http_url.startswith("https://") and server.ws_url.startswith("wss://")
        page = await http.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        register = await http.post(
            "/api/register", json={"username": "ann", "password": "correct horse"}
        )
        assert register.status_code == 201, register.text
        assert "secure" in register.headers["set-cookie"].lower()
        login = await http.post("/api/login", json={"username": "ann", "password": "correct horse"})
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("c4session=")
        assert "secure" in [part.strip().lower() for part in cookie.split(";")]

        # A wss:// game; a browser on this page would send this Origin.
        origin = [(b"origin", f"https://127.0.0.1:{server.port}".encode())]
        async with (
            open_websocket_url(
                server.ws_url, ssl_context=certificate.trust, extra_headers=origin
            ) as ws1,
            open_websocket_url(server.ws_url, ssl_context=certificate.trust) as ws2,
        ):
            ann, bob = Client(ws1), Client(ws2)
            welcome = await ann.join("ann2")
            assert isinstance(welcome, Welcome)
            await bob.join("bob")
            game_id = await start_game(ann, bob)
            await play_opening(bob, ann, game_id)


async def test_cleartext_is_not_served_on_a_tls_port(certificate: Certificate) -> None:
    async with open_server(
        certfile=str(certificate.certfile), keyfile=str(certificate.keyfile)
    ) as server:
        stream = await trio.open_tcp_stream(server.host, server.port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.fail_after(10):
                answer = b""
                while chunk := await stream.receive_some(4096):
                    answer += chunk
        assert b"HTTP/1.1 200" not in answer


async def test_a_refused_connection_is_answered_over_tls(certificate: Certificate) -> None:
    async with (
        open_server(
            certfile=str(certificate.certfile),
            keyfile=str(certificate.keyfile),
            web=WebSettings(max_per_address=1),
        ) as server,
        open_websocket_url(server.ws_url, ssl_context=certificate.trust),
        httpx.AsyncClient(base_url=server.http_url, verify=certificate.trust) as http,
    ):
        refused = await http.get("/healthz")
        assert refused.status_code == 429
        assert "too many connections" in refused.text


def test_serve_command_with_a_certificate(certificate: Certificate, tmp_path: Path) -> None:
    args = ["--port", "0", "--db", str(tmp_path / "db.sqlite3")]
    tls = ["--certfile", str(certificate.certfile), "--keyfile", str(certificate.keyfile)]
    with running_server([*args, *tls]) as server:
        assert server.http_url.startswith("https://") and server.ws_url.startswith("wss://")
        health = httpx.get(f"{server.http_url}/healthz", verify=certificate.trust)
        assert health.status_code == 200 and health.json()["status"] == "ok"
