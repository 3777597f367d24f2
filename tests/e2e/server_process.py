"""The real server for the browser tests, started exactly as an operator starts it.

The launcher is the shared ``c4actors.server_process.ServerProcess`` (the server writes its
address to a ready file); this module only chooses the browser tests' options.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from c4actors.server_process import ServerProcess

ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_GRACE: Final = 3.0
"""The grace period of the shared test server: short, so a disconnect test is quick."""
BOT_SEED: Final = 7
"""``--bot-seed`` of every browser-test server: the computer is reproducible, so a game
against it replays exactly.  With this seed, leftmost-column play loses to the beginner
whichever of its moves fall back to the quick move (checked by
``tests/test_computer_games.py``), so ``test_a_game_against_each_level`` cannot flake."""


def serve_args(
    *,
    grace: float,
    db: Path,
    lobby_tick: float = 0.05,
    lobby_list_limit: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """``c4actors serve`` options on a free port of 127.0.0.1 with the database ``db``.

    ``db`` is created if missing; tests pass a fresh temporary file, so nothing is left in
    the working directory and no test sees another run's records.  ``lobby_list_limit``
    None keeps the server's default limit; ``extra`` are more options for one module's server.
    """
    limit = [] if lobby_list_limit is None else ["--lobby-list-limit", str(lobby_list_limit)]
    return [
        *("--host", "127.0.0.1", "--port", "0"),
        *("--grace", str(grace), "--lobby-tick", str(lobby_tick)),
        *limit,
        *("--db", str(db)),
        # Every browser of every test registers from 127.0.0.1: lift the per-address limit.
        *("--registrations-per-address", "0"),
        *("--bot-seed", str(BOT_SEED)),
        *extra,
    ]


@contextmanager
def running_server(
    *, grace: float, db: Path, lobby_list_limit: int | None = None, extra: Sequence[str] = ()
) -> Iterator[ServerProcess]:
    """A started server; on exit, SIGTERM, and it must stop cleanly (exit code 0)."""
    args = serve_args(grace=grace, db=db, lobby_list_limit=lobby_list_limit, extra=extra)
    server = ServerProcess.start(args, cwd=ROOT)
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"the server exited with code {code} after SIGTERM:\n{server.log()}"
