"""Accounts, sessions, records and colours through the real HTTP API and WebSocket."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from c4actors.colors import PALETTE
from c4actors.server import RunningServer
from c4actors.web import WebSettings
from protocol import (
    Accept,
    Challenge,
    Error,
    GameOver,
    GameStarted,
    GameState,
    Invitation,
    InvitationSent,
    LobbyUpdate,
    Move,
    NewConnection,
    OpponentDisconnected,
    Quit,
    UserList,
    Welcome,
)
from tests.support import (
    Client,
    connect,
    handshake_status,
    open_server,
    play_opening,
    start_game,
)


@asynccontextmanager
async def http_client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        yield client


async def register(
    http: httpx.AsyncClient, name: str, color: str = "red", password: str = "correct horse"
) -> str:
    response = await http.post(
        "/api/register", json={"username": name, "password": password, "color": color}
    )
    assert response.status_code == 201, response.text
    cookie = http.cookies.get("c4session")
    assert cookie
    return cookie


JSON = {"Content-Type": "application/json"}


def error_of(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    return str(body["error"])


async def test_register_login_logout() -> None:
    async with open_server() as server, http_client(server) as http:
        response = await http.post(
            "/api/register", json={"username": "Ann", "password": "correct horse", "color": "blue"}
        )
        assert response.status_code == 201
        assert response.json() == {
            "name": "Ann",
            "color": "blue",
            "color_css": PALETTE["blue"],
            "wins": 0,
            "losses": 0,
            "draws": 0,
            "registered": True,
        }
        set_cookie = response.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        assert "correct horse" not in response.text
        assert (await http.get("/api/me")).json()["name"] == "Ann"
        assert (await http.post("/api/logout", json={})).status_code == 200
        assert "c4session" not in http.cookies
        me = await http.get("/api/me")
        assert me.status_code == 204 and me.content == b"", "signed out: no account"
        wrong = await http.post("/api/login", json={"username": "ann", "password": "nope nope"})
        unknown = await http.post("/api/login", json={"username": "zed", "password": "nope nope"})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        ok = await http.post("/api/login", json={"username": "ANN", "password": "correct horse"})
        assert ok.status_code == 200 and ok.json()["name"] == "Ann"
        assert (await http.get("/api/me")).json()["color"] == "blue"
        changed = await http.patch("/api/me", json={"color": "green"})
        assert changed.status_code == 200 and changed.json()["color"] == "green"


async def test_a_guest_asking_who_they_are_gets_no_content_not_an_error() -> None:
    async with open_server() as server, http_client(server) as http:
        me = await http.get("/api/me")
        assert me.status_code == 204 and me.content == b""
        forged = await http.get("/api/me", headers={"Cookie": "c4session=forged.cookie.value"})
        assert forged.status_code == 204 and forged.content == b""
        # Changing an account still needs one.
        patch = await http.patch("/api/me", json={"color": "green"})
        assert patch.status_code == 401 and error_of(patch) == "not_signed_in"


async def test_duplicate_names_and_malformed_bodies() -> None:
    async with open_server() as server, http_client(server) as http:
        await register(http, "Ann")
        taken = await http.post(
            "/api/register", json={"username": "aNN", "password": "12345678", "color": "red"}
        )
        assert taken.status_code == 409 and error_of(taken) == "name_taken"
        async with connect(server, "Guest1"):
            online = await http.post(
                "/api/register", json={"username": "guest1", "password": "12345678"}
            )
            assert online.status_code == 409 and error_of(online) == "name_taken"
        cases: list[tuple[Any, int, str, str]] = [
            (b"not json", 400, "bad_json", ""),
            ({"username": "x"}, 400, "invalid_field", "password"),
            ({"username": 3, "password": "12345678"}, 400, "invalid_field", "username"),
            (
                {"username": "x", "password": "12345678", "admin": True},
                400,
                "invalid_field",
                "admin",
            ),
            ({"username": "a b", "password": "12345678"}, 400, "invalid_name", "username"),
            ({"username": "x" * 25, "password": "12345678"}, 400, "invalid_name", "username"),
            ({"username": "ok", "password": "short"}, 400, "invalid_password", "password"),
            (
                {"username": "ok", "password": "12345678", "color": "plaid"},
                400,
                "invalid_color",
                "",
            ),
            ({"username": "ok", "password": "x" * 5000}, 413, "too_large", ""),
        ]
        for body, status, code, field in cases:
            if isinstance(body, bytes):
                response = await http.post("/api/register", content=body, headers=JSON)
            else:
                response = await http.post("/api/register", json=body)
            assert (response.status_code, error_of(response)) == (status, code), body
            assert field in response.json()["message"]
        login = await http.post("/api/login", content=b"[1]", headers=JSON)
        assert login.status_code == 400
        assert (await http.get("/api/users/nobody")).status_code == 404
        assert (await http.get("/api/games/nothing")).status_code == 404


async def test_an_online_guest_beyond_the_lobby_list_keeps_their_name() -> None:
    """The lobby lists only its first users; a guest beyond the list is online all the same,
    and registering their name would strand their session."""
    async with (
        open_server(lobby_list_limit=1) as server,
        http_client(server) as http,
        connect(server, "Listed"),
        connect(server, "Unlisted"),
    ):
        listed = [user["name"] for user in (await http.get("/userlist")).json()]
        assert listed == ["Listed"], "the second guest must be beyond the list"
        taken = await http.post(
            "/api/register", json={"username": "UNLISTED", "password": "12345678"}
        )
        assert taken.status_code == 409 and error_of(taken) == "name_taken"
        free = await http.post(
            "/api/register", json={"username": "offline", "password": "12345678"}
        )
        assert free.status_code == 201


async def test_failed_logins_are_rate_limited() -> None:
    async with open_server() as server, http_client(server) as http:
        await register(http, "Ann")
        for _ in range(5):
            response = await http.post("/api/login", json={"username": "ann", "password": "bad"})
            assert response.status_code == 401
        blocked = await http.post(
            "/api/login", json={"username": "ann", "password": "correct horse"}
        )
        assert blocked.status_code == 429 and error_of(blocked) == "too_many_attempts"
        assert int(blocked.headers["retry-after"]) > 0
        other = await http.post("/api/login", json={"username": "bob", "password": "whatever1"})
        assert other.status_code == 401, "another name from the same address is not blocked yet"


@asynccontextmanager
async def client_from(server: RunningServer, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose sockets come from ``address`` (any of 127.0.0.0/8 on loopback)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=server.http_url, transport=transport) as client:
        yield client


async def test_failures_from_one_address_do_not_lock_the_owner_out_elsewhere() -> None:
    async with open_server() as server:
        async with client_from(server, "127.0.0.3") as owner:
            await register(owner, "Ann")
            owner.cookies.clear()
        async with client_from(server, "127.0.0.2") as attacker:
            statuses = []
            for _ in range(25):
                response = await attacker.post(
                    "/api/login", json={"username": "ann", "password": "guess guess"}
                )
                statuses.append(response.status_code)
            assert set(statuses) == {401, 429} and statuses[-1] == 429, statuses
        async with client_from(server, "127.0.0.3") as owner:
            response = await owner.post(
                "/api/login", json={"username": "ann", "password": "correct horse"}
            )
            assert response.status_code == 200, response.text


async def test_registrations_per_address_are_limited() -> None:
    async with open_server(web=WebSettings(registrations_per_address=2)) as server:
        async with client_from(server, "127.0.0.2") as http:
            await register(http, "Ann")
            taken = await http.post(
                "/api/register", json={"username": "ann", "password": "12345678"}
            )
            assert taken.status_code == 409, "a refused registration does not count"
            await register(http, "Bob")
            third = await http.post(
                "/api/register", json={"username": "Cy", "password": "12345678"}
            )
            assert third.status_code == 429 and error_of(third) == "too_many_registrations"
            assert 3500 < int(third.headers["retry-after"]) <= 3600
            assert (await http.get("/api/users/cy")).status_code == 404
        async with client_from(server, "127.0.0.3") as http:
            await register(http, "Cy")


async def test_logging_out_ends_the_session_for_every_copy_of_the_cookie() -> None:
    async with open_server() as server, http_client(server) as http:
        cookie = await register(http, "Ann")
        http.cookies.clear()
        login = await http.post("/api/login", json={"username": "ann", "password": "correct horse"})
        other_device = login.cookies["c4session"]
        assert (await http.post("/api/logout", json={})).status_code == 200
        for old in (cookie, other_device):
            http.cookies.clear()
            http.cookies.set("c4session", old)
            me = await http.get("/api/me")
            assert me.status_code == 204, "the old cookie is no session any more"
            patch = await http.patch("/api/me", json={"color": "green"})
            assert patch.status_code == 401 and error_of(patch) == "not_signed_in"
            async with connect(server, cookie=old) as socket:
                await socket.send(NewConnection(username="Ann"))
                assert (await socket.expect(Error)).code == "name_registered"
                welcome = await socket.join("someone")
                assert welcome.account is False
        assert (await http.get("/api/users/ann")).json()["color"] == "red", "nothing changed"
        # Signing in again opens a new session, which works everywhere.
        http.cookies.clear()
        again = await http.post("/api/login", json={"username": "ann", "password": "correct horse"})
        assert again.status_code == 200
        assert (await http.get("/api/me")).json()["name"] == "Ann"
        async with connect(server, cookie=http.cookies["c4session"]) as socket:
            assert (await socket.join("Ann")).account is True


async def test_the_cookie_carries_into_the_websocket() -> None:
    async with open_server() as server, http_client(server) as http:
        cookie = await register(http, "Ann", color="green")
        async with connect(server, cookie=cookie) as ann:
            await ann.send(NewConnection(username="bob"))
            assert (await ann.expect(Error)).code == "account_mismatch"
            welcome = await ann.join("ann")
            assert welcome.account is True and welcome.username == "Ann"
            async with connect(server) as guest:
                await guest.send(NewConnection(username="ANN"))
                assert (await guest.expect(Error)).code == "name_registered"
                await guest.join("guest")
                users: dict[str, Any] = {}
                while "guest" not in users:
                    users |= {u.name: u for u in (await ann.expect(LobbyUpdate)).users}
                assert users["guest"].registered is False
                assert users["Ann"].registered is True
        async with connect(server, cookie="forged.cookie.value") as forged:
            await forged.send(NewConnection(username="Ann"))
            assert (await forged.expect(Error)).code == "name_registered"


async def test_records_colours_and_games_survive_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "c4.sqlite3")
    async with open_server(db_path=db) as server, http_client(server) as http:
        ann_cookie = await register(http, "Ann", color="blue")
        http.cookies.clear()
        bob_cookie = await register(http, "Bob", color="purple")
        async with (
            connect(server, cookie=ann_cookie) as ann,
            connect(server, cookie=bob_cookie) as bob,
        ):
            await ann.join("Ann")
            await bob.join("Bob")
            await ann.expect(LobbyUpdate)
            game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
            # Player 1 (Bob) keeps purple; Ann's blue is too close, so she gets another colour.
            await play_opening(bob, ann, game_id)
            await ann.send(Quit(game_id=game_id))
            for client in (ann, bob):
                assert (await client.expect(GameOver)).winner == "Bob"
            users = {u.name: u for u in (await ann.expect(UserList)).users}
            assert (users["Bob"].wins, users["Ann"].losses) == (1, 1)
            assert users["Bob"].registered and users["Ann"].registered
        record = (await http.get(f"/api/games/{game_id}")).json()
        assert record["moves"] == [0, 1] and record["winner"] == "Bob"
        assert record["reason"] == "forfeit" and record["color1"] == "purple"
        assert record["color2"] != "blue" and record["colors"]["player1"] == PALETTE["purple"]
    async with open_server(db_path=db) as server, http_client(server) as http:
        profile = (await http.get("/api/users/ann")).json()
        assert (profile["name"], profile["color"], profile["losses"]) == ("Ann", "blue", 1)
        assert [g["game_id"] for g in profile["games"]] == [game_id]
        assert profile["games"][0]["outcome"] == "loss"
        board = (await http.get("/api/leaderboard")).json()
        assert [(row["name"], row["wins"]) for row in board] == [("Bob", 1), ("Ann", 0)]
        async with connect(server, cookie=ann_cookie) as ann:
            await ann.send(NewConnection(username="Ann"))
            assert (await ann.expect(Welcome)).account is True
            users = (await ann.expect(UserList)).users
            assert [(u.name, u.losses, u.registered) for u in users] == [("Ann", 1, True)]


async def challenge_and_accept(challenger: Client, challenged: Client) -> GameStarted:
    """The challenged user's ``game_started``."""
    await challenger.send(Challenge(opponent=challenged.name))
    await challenger.expect_skipping(InvitationSent, LobbyUpdate)
    await challenged.expect_skipping(Invitation, LobbyUpdate)
    await challenged.send(Accept(challenger=challenger.name))
    return await challenged.expect_skipping(GameStarted, LobbyUpdate)


async def test_player_colours_follow_preferences() -> None:
    async with open_server() as server, http_client(server) as http:
        cookie = await register(http, "Ann", color="yellow")
        async with connect(server, cookie=cookie) as ann, connect(server, "guest") as guest:
            await ann.join("Ann")
            # The guest challenges Ann: Ann is player 1 and keeps yellow; the guest would get
            # yellow too, so gets red, the other default.
            started = await challenge_and_accept(guest, ann)
            assert (started.colors.player1, started.colors.player2) == (
                PALETTE["yellow"],
                PALETTE["red"],
            )
        async with connect(server, "g1") as g1, connect(server, "g2") as g2:
            started = await challenge_and_accept(g1, g2)
            assert (started.colors.player1, started.colors.player2) == (
                PALETTE["red"],
                PALETTE["yellow"],
            )


@pytest.mark.expect_error_logs
async def test_a_failed_result_write_informs_players_and_changes_no_record(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "c4.sqlite3")
    async with open_server(db_path=db) as server, http_client(server) as http:
        ann_cookie = await register(http, "Ann")
        http.cookies.clear()
        bob_cookie = await register(http, "Bob")
        raw = sqlite3.connect(db)
        raw.execute(
            "CREATE TRIGGER fail_games BEFORE INSERT ON games"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
        raw.commit()
        raw.close()
        async with (
            connect(server, cookie=ann_cookie) as ann,
            connect(server, cookie=bob_cookie) as bob,
        ):
            await ann.join("Ann")
            await bob.join("Bob")
            game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
            await play_opening(bob, ann, game_id)
            await ann.send(Quit(game_id=game_id))
            for client in (ann, bob):
                await client.expect(GameOver)
                assert (await client.expect(Error)).code == "result_not_saved"
                users = {u.name: u for u in (await client.expect(UserList)).users}
                assert (users["Ann"].losses, users["Bob"].wins) == (0, 0)
        profile = (await http.get("/api/users/bob")).json()
        assert (profile["wins"], profile["games"]) == (0, [])
        # The server carries on: a new game can start.
        async with connect(server, "g1") as g1, connect(server, "g2") as g2:
            await g1.expect(LobbyUpdate)
            await start_game(g1, g2, skip=(LobbyUpdate,))


async def test_cross_site_websocket_upgrades_are_refused() -> None:
    settings = WebSettings(allowed_origins=("https://friend.example",))
    async with open_server(web=settings) as server:
        host = f"{server.host}:{server.port}"
        assert await handshake_status(server, {"Origin": "https://evil.example"}) == 403
        assert await handshake_status(server, {"Origin": f"http://{host}"}) == 101
        assert await handshake_status(server, {"Origin": "https://friend.example"}) == 101
        assert await handshake_status(server) == 101


async def game_record(http: httpx.AsyncClient, game_id: str) -> dict[str, Any]:
    """The stored game, once its actor has saved it (polled: the end comes from a timer)."""
    for _ in range(200):
        response = await http.get(f"/api/games/{game_id}")
        if response.status_code != 404:
            break
        await trio.sleep(0.05)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_player_who_is_gone_too_does_not_win_by_disconnect() -> None:
    """Issue 11 item 15: Ann drops, then Bob; when Ann's grace period ends Bob is gone as
    well, so the game is aborted and neither record changes."""
    async with open_server(grace_seconds=1.0) as server, http_client(server) as http:
        ann_cookie = await register(http, "Ann")
        http.cookies.clear()
        bob_cookie = await register(http, "Bob")
        http.cookies.clear()
        async with connect(server, cookie=bob_cookie) as bob:
            await bob.join("Bob")
            async with connect(server, cookie=ann_cookie) as ann:
                await ann.join("Ann")
                game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
                await play_opening(bob, ann, game_id)
            await bob.expect(OpponentDisconnected)
        record = await game_record(http, game_id)
        assert (record["result"], record["winner"], record["reason"]) == (None, None, "aborted")
        for name in ("ann", "bob"):
            profile = (await http.get(f"/api/users/{name}")).json()
            assert (profile["wins"], profile["losses"], profile["draws"]) == (0, 0, 0)
            assert [game["outcome"] for game in profile["games"]] == ["aborted"]


async def test_a_game_left_before_both_players_moved_is_not_stored() -> None:
    """Issue 11 item 10: a quit or a disconnect before both players moved stores no game and
    changes no record, for accounts (the store) and guests (the lobby) alike."""
    async with open_server(grace_seconds=0) as server, http_client(server) as http:
        ann_cookie = await register(http, "Ann")
        http.cookies.clear()
        bob_cookie = await register(http, "Bob")
        http.cookies.clear()
        games: list[str] = []
        async with (
            connect(server, cookie=ann_cookie) as ann,
            connect(server, cookie=bob_cookie) as bob,
        ):
            await ann.join("Ann")
            await bob.join("Bob")
            for moves in ([], [3]):
                game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
                games.append(game_id)
                for column in moves:  # Bob is player 1
                    await bob.send(Move(game_id=game_id, column=column))
                    for client in (ann, bob):
                        await client.expect(GameState)
                await ann.send(Quit(game_id=game_id))
                for client in (ann, bob):
                    assert (await client.expect(GameOver)).reason == "forfeit"
                    users = {u.name: u for u in (await client.expect(UserList)).users}
                    assert (users["Bob"].wins, users["Ann"].losses) == (0, 0)
        for game_id in games:
            assert (await http.get(f"/api/games/{game_id}")).status_code == 404
        for name in ("ann", "bob"):
            profile = (await http.get(f"/api/users/{name}")).json()
            assert (profile["wins"], profile["losses"], profile["games"]) == (0, 0, [])
        async with connect(server, "g1") as g1:
            async with connect(server, "g2") as g2:
                await start_game(g1, g2, skip=(LobbyUpdate,))
            over = await g1.expect_skipping(GameOver, LobbyUpdate)
            assert (over.winner, over.reason) == ("g1", "disconnect")
            users = {u.name: u for u in (await g1.expect(UserList)).users}
            assert (users["g1"].wins, users["g1"].losses) == (0, 0)


async def closed_with(client: Client) -> tuple[int, str | None]:
    """Read until the server closes ``client``'s socket; its close code and reason."""
    from trio_websocket import ConnectionClosed

    with pytest.raises(ConnectionClosed) as closed, trio.fail_after(5):
        while True:
            await client.ws.get_message()
    return closed.value.reason.code, closed.value.reason.reason


async def test_an_account_takes_its_lobby_session_over_from_another_device() -> None:
    """Issue 11 item 16: no "name already online" for the account's owner: the session cookie
    takes the session over, even while the first socket is still open (closed with 4000)."""
    async with open_server() as server, http_client(server) as http:
        cookie = await register(http, "Ann")
        async with connect(server, cookie=cookie) as ann, connect(server, "bob") as bob:
            await ann.join("Ann")
            await bob.send(Challenge(opponent="Ann"))
            await bob.expect_skipping(InvitationSent, LobbyUpdate)
            # Another device: the same cookie, no resume token.
            async with connect(server, cookie=cookie) as ann_again:
                welcome = await ann_again.join("ann")
                assert (welcome.username, welcome.account) == ("Ann", True)
                assert welcome.grace_seconds == 20.0  # the server's default grace period
                # The pending invitation comes along.
                invitation = await ann_again.expect_skipping(Invitation, LobbyUpdate)
                assert invitation.from_ == "bob"
                assert await closed_with(ann) == (4000, "session resumed on another connection")
                await ann_again.send(Accept(challenger="bob"))
                started = await ann_again.expect_skipping(GameStarted, LobbyUpdate)
                assert (started.player1, started.player2, started.you) == ("Ann", "bob", 1)


async def test_an_account_takes_its_game_back_from_another_device() -> None:
    async with open_server() as server, http_client(server) as http:
        cookie = await register(http, "Ann")
        async with connect(server, cookie=cookie) as ann, connect(server, "bob") as bob:
            await ann.join("Ann")
            game_id = await start_game(bob, ann, skip=(LobbyUpdate,))  # Ann moves first
            await ann.send(Move(game_id=game_id, column=3))
            await bob.expect(GameState)
            async with connect(server, cookie=cookie) as ann_again:
                await ann_again.join("Ann")
                started = await ann_again.expect(GameStarted)
                assert (started.game_id, started.you) == (game_id, 1)
                state = await ann_again.expect(GameState)
                assert state.moves == [3]
                assert (await closed_with(ann))[0] == 4000
                # The game goes on from the new device; Bob never saw a disconnect.
                await bob.send(Move(game_id=game_id, column=4))
                assert (await bob.expect(GameState)).moves == [3, 4]
                assert (await ann_again.expect(GameState)).moves == [3, 4]
                await ann_again.send(Move(game_id=game_id, column=3))
                assert (await bob.expect(GameState)).moves == [3, 4, 3]
