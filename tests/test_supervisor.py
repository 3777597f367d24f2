"""``c4actors serve --redis URL --workers N``: one machine's cluster under one parent.

Real processes and a real Redis: the parent's children, a game through the shared port,
an edge killed with SIGKILL and restarted while the port keeps serving, and a clean stop.
The restart policy and the options given to the children are pure, tested apart."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest
import trio

from c4actors.cluster.restarts import Backoff
from c4actors.cluster.supervisor import child_arguments
from c4actors.server import RunningServer
from c4actors.server_process import ServerProcess, ServerStartError
from protocol import GameOver, GameState, LobbyUpdate, Move, NewConnection, UserList, Welcome
from tests.redis_server import RedisServer
from tests.support import connect, start_game


def test_a_process_that_keeps_dying_waits_longer_each_time() -> None:
    backoff = Backoff(first_delay=0.1, max_delay=1.0, healthy_after=10.0)
    delays = []
    for now in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        backoff, delay = backoff.died(started_at=now - 0.5, now=now)
        delays.append(delay)
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    # One that ran a while is restarted at once again.
    backoff, delay = backoff.died(started_at=100.0, now=200.0)
    assert (backoff.failures, delay) == (1, 0.1)


def test_the_children_get_every_option_but_the_parents_own() -> None:
    argv = ["--redis", "redis://h:1/0", "--workers", "3", "--port=8000", "--grace", "5"]
    argv += ["--ready-file", "/tmp/r.json", "--host", "0.0.0.0", "--log-format", "json"]
    assert child_arguments(argv) == [
        "--redis",
        "redis://h:1/0",
        "--grace",
        "5",
        "--log-format",
        "json",
    ]


def children(pid: int) -> dict[int, str]:
    """The process's children now, with the role each was started with."""
    found: dict[int, str] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        for child in map(int, text.split()):
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"--role" in argv:
                found[child] = argv[argv.index(b"--role") + 1].decode()
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def edges(pid: int) -> set[int]:
    return {child for child, role in children(pid).items() if role == "edge"}


async def served(url: str) -> bool:
    async with httpx.AsyncClient() as client:
        try:
            response = await client.get(f"{url}/api/config", timeout=5)
        except httpx.TransportError:
            return False
        return response.status_code == 200


async def test_a_killed_edge_is_restarted_and_the_port_keeps_serving(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    args = ["--redis", redis_server.url, "--workers", "2", "--port", "0"]
    args += ["--db", str(tmp_path / "c4.sqlite3"), "--lobby-tick", "0", "--log-format", "json"]
    server = ServerProcess.start(args, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=90)
    try:
        roles = sorted(children(server.pid).values())
        assert roles == ["core", "core", "edge", "edge"]  # a core, its standby, two edges
        address = RunningServer(server.info.host, server.info.port, None, None)  # type: ignore[arg-type]
        # A game through the shared port, wherever the kernel puts each socket.
        async with connect(address, "ann") as ann, connect(address, "bob") as bob:
            game_id = await start_game(ann, bob, skip=(LobbyUpdate,))
            for ply, column in enumerate([3, 2, 3, 2, 3, 2, 3]):
                await (bob, ann)[ply % 2].send(Move(game_id=game_id, column=column))
                for player in (ann, bob):
                    await player.expect(GameState)
            assert (await ann.expect(GameOver)).winner == "bob"

        before = edges(server.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        # The other edge keeps the port: every request meanwhile is served.
        with trio.fail_after(60):
            while edges(server.pid) - before == set():
                assert await served(server.http_url)
                await trio.sleep(0.1)
        assert victim not in edges(server.pid)
        assert any("child exited" in line and f"pid={victim}" in line for line in server.lines)
        for _ in range(20):
            assert await served(server.http_url)
        everyone = set(children(server.pid))
    finally:
        code = server.stop(timeout=60)
    assert code == 0
    # The parent waited for its children before it exited.
    assert not any(alive(pid) for pid in everyone)
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("option", [["--role", "edge"], ["--workers", "2", "--role", "core"]])
def test_role_needs_redis(option: list[str]) -> None:
    from c4actors.cli import main

    with pytest.raises(SystemExit):
        main(["serve", *option])


def lease_holders(server: ServerProcess) -> list[int]:
    """The pids of the cores that took the core lease, in order (from their JSON logs)."""
    holders = []
    for line in server.lines:
        if line.startswith("{") and '"core lease taken' in line:
            holders.append(int(json.loads(line)["holder"].split("-")[-2]))
    return holders


async def test_a_killed_core_is_replaced_by_its_standby_within_five_seconds(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    args = ["--redis", redis_server.url, "--workers", "2", "--port", "0"]
    args += ["--db", str(tmp_path / "c4.sqlite3"), "--lobby-tick", "0", "--log-format", "json"]
    server = ServerProcess.start(args, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=90)
    try:
        address = RunningServer(server.info.host, server.info.port, None, None)  # type: ignore[arg-type]
        [core] = lease_holders(server)
        assert children(server.pid)[core] == "core"
        async with connect(address, "ann") as ann:
            os.kill(core, signal.SIGKILL)
            killed_at = trio.current_time()
            # Served again: the standby took the lease and restored the lobby.
            with trio.fail_after(30):
                while True:
                    async with connect(address) as probe:
                        await probe.send(NewConnection(username="cat"))
                        if isinstance(await probe.receive(), Welcome):
                            break
                    await trio.sleep(0.05)
            served_again = trio.current_time() - killed_at
            # Ann's socket was never closed, and the new core knows her session: she plays.
            async with connect(address, "bob") as bob:
                game_id = await start_game(ann, bob, skip=(LobbyUpdate, UserList))
                await bob.send(Move(game_id=game_id, column=3, ply=0))
                for player in (ann, bob):
                    assert (await player.expect_skipping(GameState, LobbyUpdate)).moves == [3]
        assert served_again < 5.0, f"served again {served_again:.1f} s after the kill"
        assert len(lease_holders(server)) == 2
        # The dead core was restarted, as the new standby.
        with trio.fail_after(30):
            roles = ["core", "core", "edge", "edge"]
            while sorted(children(server.pid).values()) != roles:  # noqa: ASYNC110 (/proc)
                await trio.sleep(0.1)
    finally:
        assert server.stop(timeout=60) == 0
    assert "Traceback" not in server.log(), server.log()


def test_a_cluster_that_cannot_start_says_why_in_one_line(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    db = tmp_path / "a-directory"
    db.mkdir()  # not a database: the core refuses to start on it
    args = ["--redis", redis_server.url, "--workers", "1", "--port", "0", "--db", str(db)]
    server = ServerProcess([*args, "--secret", "x"], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    with pytest.raises(ServerStartError):
        server.wait_ready(90)
    assert server.wait(30) == 1
    assert any("cannot start the cluster: role=core index=0" in line for line in server.lines)
    assert not any("Traceback" in line for line in server.lines), server.log()
