"""Log lines (``c4actors.logs``): the JSON formatter names the event and lifts the message's
``key=value`` pairs into fields, so log tools can filter on them."""

from __future__ import annotations

import json
import logging
import sys

from c4actors.logs import JsonFormatter


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("c4actors.game", logging.INFO, __file__, 1, message, args, exc_info)


def test_pairs_become_fields_and_the_text_before_them_the_event() -> None:
    line = JsonFormatter().format(record("game ended game_id=%s winner=%s", "g1", "ann"))
    entry = json.loads(line)
    assert entry["event"] == "game ended"
    assert (entry["game_id"], entry["winner"]) == ("g1", "ann")
    assert entry["message"] == "game ended game_id=g1 winner=ann"
    assert (entry["level"], entry["logger"]) == ("info", "c4actors.game")
    assert entry["ts"].endswith("Z")


def test_a_pair_never_overwrites_the_entrys_own_fields() -> None:
    entry = json.loads(JsonFormatter().format(record("odd level=debug event=x")))
    assert (entry["level"], entry["event"]) == ("info", "odd")


def test_a_traceback_stays_in_the_one_line() -> None:
    line = JsonFormatter().format(record("game crashed game_id=g1", exc=True))
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]
