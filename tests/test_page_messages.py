"""The page has its own words for every error code the server can send.

``www/messages.js`` maps codes to sentences; the page never shows the server's ``message``
as is. These tests tie that map to the codes' sources: the protocol's ``ErrorCode``, the
protocol doc (the socket's table and the HTTP API's codes), and the codes the HTTP side
raises in ``c4actors/``. A new code without a sentence in the page fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from protocol.messages import ERROR_CODES

ROOT: Final = Path(__file__).resolve().parents[1]
MESSAGES_JS: Final = ROOT / "www" / "messages.js"
PROTOCOL_DOC: Final = ROOT / "docs" / "protocol.md"


def _page_codes() -> set[str]:
    source = MESSAGES_JS.read_text(encoding="utf-8")
    block = source.split("export const ERROR_TEXT = {", 1)[1].split("\n};", 1)[0]
    return set(re.findall(r"^\s+([a-z_]+):", block, re.MULTILINE))


def _doc_codes() -> set[str]:
    doc = PROTOCOL_DOC.read_text(encoding="utf-8")
    table = doc.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    socket_codes = set(re.findall(r"^\| `([a-z_]+)`", table, re.MULTILINE))
    accounts = doc.split("## Accounts", 1)[1].split("\n## ", 1)[0]
    # HTTP errors are written as a status then the code (409 `name_taken`) or as JSON.
    http_codes = set(re.findall(r"\b[45]\d\d `([a-z_]+)`", accounts))
    http_codes |= set(re.findall(r'"error": "([a-z_]+)"', accounts))
    return socket_codes | http_codes


def _server_http_codes() -> set[str]:
    codes: set[str] = set()
    for path in (ROOT / "c4actors").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', text))
        codes |= set(re.findall(r'\{"error": "([a-z_]+)"', text))
    return codes


def test_the_page_has_words_for_every_protocol_error_code() -> None:
    missing = sorted(ERROR_CODES - _page_codes())
    assert not missing, f"www/messages.js has no message for {missing}"


def test_the_page_has_words_for_every_documented_error_code() -> None:
    documented = _doc_codes()
    assert documented >= ERROR_CODES  # the parse found the socket's table
    assert {"cross_site", "too_many_attempts", "not_signed_in"} <= documented
    missing = sorted(documented - _page_codes())
    assert not missing, f"www/messages.js has no message for documented codes {missing}"


def test_the_page_has_words_for_every_http_error_the_server_raises() -> None:
    raised = _server_http_codes()
    assert {"wrong_credentials", "server_busy"} <= raised  # the scan found them
    missing = sorted(raised - _page_codes())
    assert not missing, f"www/messages.js has no message for {missing}"
