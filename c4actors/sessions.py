"""Signed session cookies and the secret that signs them.

A login sets ``c4session``: the account name, signed and timestamped with
itsdangerous.  The same cookie is read by the HTTP API and by the WebSocket
handshake, so a signed-in browser tab joins the lobby under its account.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME: Final = "c4session"
MAX_AGE_SECONDS: Final = 30 * 24 * 3600
SECRET_ENV: Final = "C4ACTORS_SECRET"


class SessionSigner:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="c4actors-session")

    def sign(self, account_name: str) -> str:
        return self._serializer.dumps({"name": account_name})

    def account_name(self, cookie: str | None) -> str | None:
        """The account a cookie was signed for, or None if absent, forged or expired."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        name = data.get("name") if isinstance(data, dict) else None
        return name if isinstance(name, str) else None


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
