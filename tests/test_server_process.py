"""The ready file and the shared launcher: ``c4actors serve --ready-file`` as scripts use it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from c4actors.server_process import ServerProcess, ServerStartError, running_server

BENCH: Path = Path(__file__).resolve().parent.parent / "bench"


def test_the_ready_file_tells_where_the_server_listens(tmp_path: Path) -> None:
    with running_server(["--port", "0", "--db", str(tmp_path / "c4.sqlite3")]) as server:
        written = json.loads(server.ready_file.read_text())
        assert set(written) == {"host", "port", "http_url", "ws_url", "pid"}
        assert written["pid"] == server.process.pid
        assert written["host"] == "127.0.0.1" and written["port"] > 0
        assert written["http_url"] == f"http://127.0.0.1:{written['port']}"
        assert written["ws_url"] == f"ws://127.0.0.1:{written['port']}/ws"
        assert httpx.get(f"{server.http_url}/healthz").json()["status"] == "ok"
    assert server.process.returncode == 0


def test_a_server_that_cannot_start_is_reported_with_its_output(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("not a database " * 100)
    with pytest.raises(ServerStartError, match="exited with code 1") as failed:
        ServerProcess.start(["--port", "0", "--db", str(not_a_database)])
    assert "cannot start" in str(failed.value)


@pytest.mark.parametrize("script", ["game_server.py", "echo_server.py"])
def test_the_benchmark_servers_write_the_same_ready_file(script: str) -> None:
    command = [sys.executable, str(BENCH / script)]
    with running_server(["--port", "0"], command=command) as server:
        assert httpx.get(f"{server.http_url}/healthz").json()["status"] == "ok"
        assert server.info.pid == server.process.pid
