"""The transport baseline: a bare WebSocket echo app on the game server's own stack.

A raw ASGI app (no Starlette, no actors, no codec) served by hypercorn's Trio worker with
the same ``Config`` settings and compression policy (declined) as
``c4actors.server.run_server``: every text or binary frame received on ``/ws`` is sent
straight back on the same connection.  The benchmark suite drives
it with the load tester's ``echo`` scenario, so the game server's figures can be expressed as
a fraction of what hypercorn + wsproto + Trio alone can do on the same machine.

``GET /healthz`` answers ``{"status": "ok", "connections": N}``.  Like ``game_server.py`` it
raises its open-file limit, writes its address to ``--ready-file`` once listening (see
``c4actors.server_process``) and prints ``listening on http://H:P (WebSocket ws://H:P/ws)``.

Run: ``python bench/echo_server.py --port 0`` (stops on SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import hypercorn.trio
import trio
from hypercorn.config import Config
from hypercorn.typing import Framework
from starlette.types import Receive, Scope, Send

from c4actors import websocket_compression
from c4actors.loadtest.runner import raise_open_file_limit
from c4actors.server import stop_on_signal
from c4actors.server_process import ReadyInfo, write_ready_file


class EchoApp:
    """The ASGI app: echo on ``/ws``, a health check on ``/healthz``, lifespan accepted."""

    def __init__(self) -> None:
        self.connections = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._echo(scope, receive, send)
        elif kind == "http":
            await self._http(scope, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _echo(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if scope["path"] != "/ws":
            await send({"type": "websocket.close", "code": 1008, "reason": "unknown path"})
            return
        await send({"type": "websocket.accept"})
        self.connections += 1
        try:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return  # websocket.disconnect
                await send(
                    {
                        "type": "websocket.send",
                        "text": message.get("text"),
                        "bytes": message.get("bytes"),
                    }
                )
        finally:
            self.connections -= 1

    async def _http(self, scope: Scope, send: Send) -> None:
        if scope["path"] == "/healthz":
            status = 200
            body = json.dumps({"status": "ok", "connections": self.connections}).encode()
        else:
            status, body = 404, b'{"status": "not found"}'
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def make_config(host: str, port: int) -> Config:
    """hypercorn settings matching ``c4actors.server.run_server``'s defaults."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_max_message_size = 64 * 1024
    config.websocket_ping_interval = None
    config.graceful_timeout = 3.0
    return config


async def serve(host: str, port: int, ready_file: Path | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = trio.Event()

    async def shutdown_trigger() -> None:
        await stop.wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, stop)
        binds: list[str] = await nursery.start(
            _serve_app, EchoApp(), make_config(host, port), shutdown_trigger
        )
        http_url = binds[0]
        ws_url = http_url.replace("http://", "ws://", 1) + "/ws"
        if ready_file is not None:
            bound_host, _, bound_port = http_url.removeprefix("http://").rpartition(":")
            write_ready_file(ready_file, ReadyInfo.listening(bound_host, int(bound_port)))
        print(f"listening on {http_url} (WebSocket {ws_url})", flush=True)
        await stop.wait()


async def _serve_app(
    app: EchoApp,
    config: Config,
    shutdown_trigger: Any,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """hypercorn with the game server's compression policy: the load tester offers
    ``permessage-deflate`` as browsers do, and plain hypercorn would accept it, making the
    baseline compress every frame while the game server declines."""
    websocket_compression.install()
    await hypercorn.trio.serve(
        cast(Framework, app), config, shutdown_trigger=shutdown_trigger, task_status=task_status
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--ready-file", type=Path, help="write the address here once listening")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    raise_open_file_limit(1 << 20)
    trio.run(serve, args.host, args.port, args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
