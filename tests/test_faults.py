"""Faults: slow consumers, crashes in one connection or the store, hostile input (fuzzed)."""

from __future__ import annotations

import json
import socket
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest
import trio
import wsproto
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed
from wsproto.events import Request as WsRequest

from c4actors.actors import user as user_module
from c4actors.actors.user import ConnectionSettings
from c4actors.server import RunningServer
from c4actors.store.sqlite import SQLiteStore
from c4actors.web import WebSettings
from protocol import (
    Error,
    GameOver,
    GameState,
    LobbyUpdate,
    Move,
    NewConnection,
    UserList,
    encode,
)
from tests import support
from tests.support import connect, open_server, start_game


@asynccontextmanager
async def never_reading_client(
    server: RunningServer, name: str
) -> AsyncIterator[trio.SocketStream]:
    """A client that joins, then never reads again: its receive window stays tiny."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect((server.host, server.port))
    stream = trio.SocketStream(sock)
    ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    await stream.send_all(ws.send(WsRequest(host=server.host, target="/ws")))
    ws.receive_data(await stream.receive_some(4096))  # the 101 response
    assert any(isinstance(event, wsproto.events.AcceptConnection) for event in ws.events())
    await stream.send_all(ws.send(wsproto.events.TextMessage(encode(NewConnection(username=name)))))
    async with stream:
        yield stream


async def healthz(server: RunningServer) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        result: dict[str, int] = (await http.get("/healthz")).json()
        return result


async def test_a_client_that_never_reads_is_dropped_and_slows_nobody(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """500 watchers follow the lobby while one client floods requests and never reads the
    replies: its inbox fills, it is closed (1013), and nobody waits behind it."""
    watchers_count, sampled = 500, 50
    # 500 clients and the server share this process: joining them all takes a while on a
    # busy machine. The latency assertions below are what this test is about.
    monkeypatch.setattr(support, "TIMEOUT", 60.0)
    # No rate limit here, so the stuck client can fill its inbox quickly; everyone listed,
    # so that every join is broadcast to every watcher (the worst case).
    settings = WebSettings(connection=ConnectionSettings(rate=0))
    async with (
        open_server(web=settings, lobby_tick=0.25, lobby_list_limit=None) as server,
        trio.open_nursery() as nursery,
    ):
        arrivals: dict[str, float] = {}
        ready = 0
        all_in = trio.Event()

        async def watch(index: int) -> None:
            nonlocal ready
            async with connect(server, f"w{index}") as client:
                ready += 1
                if ready == watchers_count:
                    all_in.set()
                while index >= sampled:
                    # Keep up, but spend no time decoding: only the sample is measured.
                    await client.ws.get_message()
                while True:
                    message = await client.receive()
                    if isinstance(message, LobbyUpdate):
                        # A joiner who also left within the tick is only in ``left``.
                        now = trio.current_time()
                        for name in [*message.left, *(info.name for info in message.users)]:
                            arrivals.setdefault(f"{index}:{name}", now)

        for batch in range(0, watchers_count, 50):
            for index in range(batch, batch + 50):
                nursery.start_soon(watch, index)
            await trio.sleep(0.2)
        with trio.fail_after(120):
            await all_in.wait()

        async with never_reading_client(server, "slow") as slow:
            joined_at: dict[str, float] = {}

            async def stuck_client_floods() -> None:
                # Requests whose error replies are large (they list every unknown field),
                # written raw and never read: the replies pile up in the server's inbox.
                fields = {f"field{k:05d}": 0 for k in range(230)}
                payload = json.dumps({"type": "challenge", "opponent": "x", **fields}).encode()
                assert len(payload) < 4096
                mask = b"\x00\x00\x00\x00"
                frame = b"\x81\xfe" + len(payload).to_bytes(2, "big") + mask + payload
                # Until cancelled: once dropped, the server stops reading, and this blocks.
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    while True:
                        await slow.send_all(frame)

            async def notice_the_drop() -> None:
                while "slow" in {user.name for user in await server.lobby.snapshot()}:  # noqa: ASYNC110
                    await trio.sleep(0.05)
                dropped.set()

            async def churn() -> None:
                for round_ in range(20):
                    async with trio.open_nursery() as joins:
                        for k in range(5):
                            name = f"j{round_}_{k}"

                            async def join_and_leave(name: str = name) -> None:
                                joined_at[name] = trio.current_time()
                                async with connect(server, name):
                                    await trio.sleep(0.05)

                            joins.start_soon(join_and_leave)
                    await trio.sleep(0.05)

            dropped = trio.Event()
            async with trio.open_nursery() as load:
                load.start_soon(stuck_client_floods)
                load.start_soon(notice_the_drop)
                await churn()
                with trio.move_on_after(60):
                    await dropped.wait()
                load.cancel_scope.cancel()

            await trio.sleep(0.5)
            stats = await server.lobby.stats()
            health = await healthz(server)
        nursery.cancel_scope.cancel()
    assert dropped.is_set(), "the stuck client was closed"
    assert stats.users == watchers_count, "every watcher stayed"
    assert health["users"] == watchers_count
    delays = [
        arrivals[f"{index}:{name}"] - at
        for name, at in joined_at.items()
        for index in range(sampled)
        if f"{index}:{name}" in arrivals
    ]
    assert len(delays) >= sampled * len(joined_at) // 2, "the sampled watchers saw the joins"
    # Generous bounds: the tick is 250 ms; a lobby that waited for the stuck client would
    # stall for as long as that client stays stuck.
    assert statistics.median(delays) < 1.0 and max(delays) < 3.0, (
        statistics.median(delays),
        max(delays),
    )


@pytest.mark.expect_error_logs
async def test_a_crash_in_one_connection_closes_only_that_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = user_module.UserActor._to_game

    def crash_for_mallory(self: user_module.UserActor, *args: object) -> None:
        if self.name == "mallory":
            raise RuntimeError("injected fault")
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(user_module.UserActor, "_to_game", crash_for_mallory)
    async with (
        open_server() as server,
        connect(server, "ann") as ann,
        connect(server, "bob") as bob,
        connect(server, "mallory") as mallory,
    ):
        game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
        await mallory.send(Move(game_id="x", column=1))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await mallory.receive()
        assert closed.value.reason.code == 1011
        await bob.send(Move(game_id=game_id, column=2))
        assert (await ann.expect(GameState)).moves == [2]
        stats = await server.lobby.stats()
        assert stats.users == 2 and stats.games == 1


@pytest.mark.expect_error_logs
async def test_a_store_fault_fails_only_that_request(monkeypatch: pytest.MonkeyPatch) -> None:
    original = SQLiteStore.get_account

    async def flaky(self: SQLiteStore, name: str) -> object:
        if name.lower() == "boom":
            raise RuntimeError("injected store fault")
        return await original(self, name)

    monkeypatch.setattr(SQLiteStore, "get_account", flaky)
    async with (
        open_server() as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
        connect(server, "ann") as ann,
    ):
        response = await http.get("/api/users/boom")
        assert response.status_code == 500 and response.json()["error"] == "internal_error"
        assert (await http.get("/api/users/ann")).status_code == 404
        async with connect(server) as boom:
            await boom.send(NewConnection(username="boom"))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await boom.receive()
            assert closed.value.reason.code == 1011
        async with connect(server, "fine"):
            seen: set[str] = set()
            while "fine" not in seen:
                seen |= {u.name for u in (await ann.expect(LobbyUpdate)).users}
            assert (await server.lobby.stats()).users == 2


# --------------------------------------------------------------------------- fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["ann", "bob", "mallory", "GAME"]),
    st.lists(st.integers(), max_size=3),
)
TYPES = ["new_connection", "challenge", "cancel", "accept", "decline", "move", "quit", "welcome"]
FIELDS = ["username", "resume", "opponent", "challenger", "game_id", "column", "type", "from"]


@st.composite
def hostile_frame(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=64))
    if kind == 1:
        return draw(st.text(max_size=64))
    if kind == 2:
        return json.dumps(draw(JSON))
    if kind == 3:
        return "[" * draw(st.integers(1, 3000))
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES, max_size=4))
    fields["type"] = draw(st.sampled_from(TYPES))
    return json.dumps(fields)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    frames=st.lists(
        st.tuples(st.sampled_from(["mallory", "eve"]), hostile_frame()), min_size=1, max_size=25
    ),
)
@pytest.mark.trio
async def test_hostile_frames_never_hurt_other_players(
    frames: list[tuple[str, str | bytes]],
) -> None:
    async with open_server(lobby_tick=0) as server:
        async with (
            connect(server, "ann") as ann,
            connect(server, "bob") as bob,
            connect(server) as mallory,
            connect(server, "eve") as eve,
        ):
            game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
            attackers = {"mallory": mallory, "eve": eve}
            for who, frame in frames:
                text = frame.replace("GAME", game_id) if isinstance(frame, str) else frame
                with suppress(ConnectionClosed):
                    await attackers[who].send_raw(text)
            # The honest game goes on and ends correctly, whatever the attackers did.
            for column, mover in [(0, bob), (1, ann), (0, bob), (1, ann), (0, bob), (1, ann)]:
                await mover.send(Move(game_id=game_id, column=column))
                await ann.expect(GameState)
                await bob.expect(GameState)
            await bob.send(Move(game_id=game_id, column=0))
            await ann.expect(GameState)
            assert (await ann.expect(GameOver)).winner == "bob"
            await ann.expect(UserList)
            # Every attacker socket is either still answering or was closed cleanly.
            for client in attackers.values():
                try:
                    await client.send(Move(game_id="probe", column=0))
                    # Earlier replies may still be queued: read up to the probe's answer.
                    probe_answers = {"unknown_game", "not_connected", "rate_limited"}
                    while True:
                        message = await client.receive()
                        if isinstance(message, Error) and message.code in probe_answers:
                            break
                except ConnectionClosed as closed:
                    assert closed.reason.code in {1008, 1009, 1011, 1000}
        # Afterwards: nothing stuck, nothing leaked.
        with trio.fail_after(5):
            while (stats := await server.lobby.stats()).mailboxes:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert (stats.users, stats.games, stats.game_tasks) == (0, 0, 0)


async def test_healthz_reports_a_failing_store_with_503(tmp_path: Path) -> None:
    async with (
        open_server(db_path=str(tmp_path / "c4.sqlite3")) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        healthy = await http.get("/healthz")
        assert (healthy.status_code, healthy.json()["status"]) == (200, "ok")
        await server.store.aclose()  # every query fails from now on, as with a lost disk
        failing = await http.get("/healthz")
        assert (failing.status_code, failing.json()["status"]) == (503, "store_unavailable")
