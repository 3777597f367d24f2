"""Logging set-up: one line per event, as text or as JSON objects (``--log-format json``).

Log calls write ``key=value`` pairs in their message (``game ended game_id=... reason=...``);
the JSON formatter also lifts those pairs into fields, so log tools can filter on them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, Final

_PAIR: Final = re.compile(r"(\w+)=(\S+)")
"""``key=value`` in a log message; the text before the first pair names the event."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": _PAIR.split(message, 1)[0].strip(),
            "message": message,
        }
        for key, value in _PAIR.findall(message):
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
