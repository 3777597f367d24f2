"""Signed session cookies and the secret that signs them.

A login sets ``c4session``: the account name and its session version, signed and
timestamped with itsdangerous.  The same cookie is read by the HTTP API and by the
WebSocket handshake, so a signed-in browser tab joins the lobby under its account.

A session ends three ways, each checked wherever the cookie is used (``GET`` and
``PATCH /api/me``, the WebSocket's account lookup):

* **expiry**: a cookie older than ``MAX_AGE_SECONDS`` is refused by its timestamp;
* **logout** (and any password change): the account's ``session_version`` is
  incremented in the store, so every cookie signed with an earlier version is refused
  (``Session.is_current``). Logging out ends the account's sessions everywhere: one
  integer per account, nothing to clean up, and a stolen cookie dies with the next logout.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Final

import attrs
from itsdangerous import BadSignature, URLSafeTimedSerializer

from c4actors.store.records import Account

COOKIE_NAME: Final = "c4session"
MAX_AGE_SECONDS: Final = 30 * 24 * 3600
SECRET_ENV: Final = "C4ACTORS_SECRET"


@attrs.frozen
class Session:
    """What a valid cookie says: the account, and the session version it was signed with."""

    name: str
    version: int

    def is_current(self, account: Account) -> bool:
        """Whether ``account``'s sessions were not ended since this cookie was signed."""
        return account.session_version == self.version


class SessionSigner:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="c4actors-session")

    def sign(self, account: Account) -> str:
        return self._serializer.dumps({"name": account.name, "v": account.session_version})

    def session(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie was signed for, or None if absent, forged or expired.

        ``now`` (seconds since the epoch) defaults to the clock; the tests pass one to
        check the expiry. Whether the session was ended since is ``Session.is_current``'s
        question (it needs the account)."""
        if not cookie:
            return None
        try:
            data, signed_at = self._serializer.loads(cookie, return_timestamp=True)
        except BadSignature:
            return None
        age = (time.time() if now is None else now) - signed_at.timestamp()
        if age > MAX_AGE_SECONDS:
            return None
        if not isinstance(data, dict):
            return None
        name, version = data.get("name"), data.get("v", 0)
        if not isinstance(name, str) or type(version) is not int:
            return None
        return Session(name, version)


def load_secret(explicit: str | None, db_path: Path | None) -> str:
    """The signing secret: ``--secret``, else the environment, else a file beside the database
    (created on first start, readable by its owner only) so sessions survive a restart."""
    if explicit:
        return explicit
    if from_env := os.environ.get(SECRET_ENV):
        return from_env
    if db_path is None:
        return secrets.token_urlsafe(32)
    path = db_path.with_name(db_path.name + ".secret")
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secret + "\n")
        return secret
