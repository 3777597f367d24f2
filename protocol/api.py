"""Bodies of the JSON HTTP API (``/api/...``), parsed as strictly as the wire messages."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class RegisterRequest:
    """``POST /api/register``: create an account and sign in."""

    username: str
    password: str
    color: str = "red"


@attrs.frozen(kw_only=True)
class LoginRequest:
    """``POST /api/login``."""

    username: str
    password: str


@attrs.frozen(kw_only=True)
class ColorRequest:
    """``PATCH /api/me``: pick another token colour."""

    color: str
