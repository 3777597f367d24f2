"""Session cookies (``c4actors/sessions.py``): what a cookie proves, and how it stops working."""

from __future__ import annotations

import time

from itsdangerous import URLSafeTimedSerializer

from c4actors.sessions import MAX_AGE_SECONDS, Session, SessionSigner
from c4actors.store import Account

ANN = Account(name="Ann", password_hash="h", color="red", session_version=3)


def test_a_cookie_holds_the_account_and_its_session_version() -> None:
    signer = SessionSigner("secret")
    session = signer.session(signer.sign(ANN))
    assert session == Session("Ann", 3) and session.is_current(ANN)
    ended = Account(name="Ann", password_hash="h", color="red", session_version=4)
    assert not session.is_current(ended)


def test_forged_expired_and_malformed_cookies_are_no_session() -> None:
    signer = SessionSigner("secret")
    cookie = signer.sign(ANN)
    now = time.time()
    assert signer.session(cookie, now=now + MAX_AGE_SECONDS - 60) is not None
    assert signer.session(cookie, now=now + MAX_AGE_SECONDS + 60) is None, "expired"
    assert SessionSigner("another secret").session(cookie) is None
    assert signer.session(None) is None and signer.session("") is None
    assert signer.session(cookie[:-2] + "xx") is None
    forge = URLSafeTimedSerializer("secret", salt="c4actors-session")
    assert signer.session(forge.dumps({"name": "Ann", "v": "3"})) is None
    assert signer.session(forge.dumps({"name": "Ann", "v": True})) is None
    assert signer.session(forge.dumps(["Ann"])) is None
    # A cookie from before sessions had versions is the first version's.
    assert signer.session(forge.dumps({"name": "Ann"})) == Session("Ann", 0)
