"""The JSON HTTP API: accounts, sessions, profiles, game records and the leaderboard.

Error replies are ``{"error": code, "message": text}`` with a status that says
what kind of problem it is: 400 invalid input (the message names the field),
401 wrong credentials (the same text whether the name or the password was
wrong), 404, 409 name taken, 413 body too large, 429 too many failed logins or
registrations from one address, 503 the store failed.  Passwords are hashed with
argon2 in a worker thread and never logged or returned.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import argon2
import attrs
import cattrs
import trio
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from c4actors.colors import PALETTE
from c4actors.lobby_state import USERNAME_RULE, ColorChanged, is_valid_username
from c4actors.sessions import COOKIE_NAME, MAX_AGE_SECONDS, SessionSigner
from c4actors.store import Account, GameRecord, NameTaken, Store, StoreError
from c4actors.throttle import LoginThrottle, RegistrationLimit
from protocol.api import ColorRequest, LoginRequest, RegisterRequest
from protocol.codec import ProtocolError, decode_object

log = logging.getLogger("c4actors.accounts")

MAX_BODY_BYTES: Final = 4096
PASSWORD_MIN, PASSWORD_MAX = 8, 128
T = TypeVar("T")

_unstructure = cattrs.Converter().unstructure


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": error.code, "message": error.message}
    return JSONResponse(body, status_code=error.status, headers=headers)


async def _read_body(request: Request, cls: type[T]) -> T:
    """The request body as ``cls``: capped in size while it is read, then strictly parsed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
    try:
        return decode_object(bytes(body), cls, MAX_BODY_BYTES)
    except ProtocolError as error:
        code = "invalid_field" if error.code == "invalid_field" else "bad_json"
        raise ApiError(400, code, error.message) from None


def _check_username(name: str) -> None:
    if not is_valid_username(name):
        raise ApiError(400, "invalid_name", f"username: {USERNAME_RULE}")


def _check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        text = f"password: {PASSWORD_MIN} to {PASSWORD_MAX} characters"
        raise ApiError(400, "invalid_password", text)


def _check_color(color: str) -> None:
    if color not in PALETTE:
        raise ApiError(400, "invalid_color", f"color: one of {', '.join(PALETTE)}")


def account_json(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "color": account.color,
        "color_css": PALETTE.get(account.color),
        "wins": account.wins,
        "losses": account.losses,
        "draws": account.draws,
        "registered": True,
    }


@attrs.define
class AccountsApi:
    """The ``/api`` routes; holds the store, the session signer and the login throttle."""

    store: Store
    signer: SessionSigner
    notify_lobby: Callable[[ColorChanged], Awaitable[None]]
    is_online: Callable[[str], Awaitable[bool]]
    throttle: LoginThrottle = attrs.field(factory=LoginThrottle)
    registrations: RegistrationLimit = attrs.field(factory=RegistrationLimit)
    hasher: argon2.PasswordHasher = attrs.field(factory=argon2.PasswordHasher)
    _hashing: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(2))
    _login_checks: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(2))
    _dummy_hash: str | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/api/register", self._guard(self.register), methods=["POST"]),
            Route("/api/login", self._guard(self.login), methods=["POST"]),
            Route("/api/logout", self._guard(self.logout), methods=["POST"]),
            Route("/api/me", self._guard(self.me), methods=["GET", "PATCH"]),
            Route("/api/users/{name}", self._guard(self.profile), methods=["GET"]),
            Route("/api/games/{game_id}", self._guard(self.game), methods=["GET"]),
            Route("/api/games/{game_id}/analysis", self._guard(self.analysis), methods=["GET"]),
            Route("/api/leaderboard", self._guard(self.leaderboard), methods=["GET"]),
        ]

    def _guard(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Turn ``ApiError`` and store failures into JSON replies; nothing escapes unhandled."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as error:
                return _error_response(error)
            except StoreError:
                log.exception("store failed during %s %s", request.method, request.url.path)
                unavailable = ApiError(503, "store_unavailable", "storage unavailable, try again")
                return _error_response(unavailable)
            except ClientDisconnect:
                raise  # the client gave up: no reply is due, request_limits logs it (INFO)
            except Exception:
                # A bug: this request fails, the server and every other request carry on.
                log.exception("request failed: %s %s", request.method, request.url.path)
                return _error_response(ApiError(500, "internal_error", "internal error"))

        return endpoint

    # ----------------------------------------------------------------- sessions

    def _signed_in(self, response: Response, request: Request, account: Account) -> Response:
        response.set_cookie(
            COOKIE_NAME,
            self.signer.sign(account),
            max_age=MAX_AGE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    async def current_account(self, request: Request) -> Account | None:
        """The account whose session the request's cookie holds, if that session is still
        valid: signed by us, not expired, not ended by a logout (``sessions``)."""
        session = self.signer.session(request.cookies.get(COOKIE_NAME))
        if session is None:
            return None
        account = await self.store.get_account(session.name)
        return account if account is not None and session.is_current(account) else None

    async def _hash(self, password: str) -> str:
        return await trio.to_thread.run_sync(self.hasher.hash, password, limiter=self._hashing)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await trio.to_thread.run_sync(verify, limiter=self._hashing)

    # ----------------------------------------------------------------- endpoints

    async def register(self, request: Request) -> Response:
        body = await _read_body(request, RegisterRequest)
        _check_username(body.username)
        _check_password(body.password)
        _check_color(body.color)
        if await self.is_online(body.username):
            # A guest is playing under this name: taking it would strand their session.
            text = f"the name {body.username!r} is in use right now"
            raise ApiError(409, "name_taken", text)
        address = request.client.host if request.client else "unknown"
        wait = self.registrations.reserve(address, time.monotonic())
        if wait > 0:
            error = ApiError(429, "too_many_registrations", "too many new accounts from here")
            return _error_response(error, headers={"Retry-After": str(math.ceil(wait))})
        try:
            password_hash = await self._hash(body.password)
            account = await self.store.create_account(body.username, password_hash, body.color)
        except NameTaken:
            self.registrations.release(address)
            raise ApiError(409, "name_taken", f"the name {body.username!r} is taken") from None
        except BaseException:
            self.registrations.release(address)
            raise
        # Registering is signing in: this address is the owner's (see ``LoginThrottle``).
        self.throttle.succeeded(account.name, address, time.monotonic())
        log.info("account registered name=%s", account.name)
        response = JSONResponse(account_json(account), status_code=201)
        return self._signed_in(response, request, account)

    async def login(self, request: Request) -> Response:
        body = await _read_body(request, LoginRequest)
        address = request.client.host if request.client else "unknown"
        # Check, verify and record as one step (two at a time): otherwise a burst of
        # concurrent guesses would all pass the throttle before the first failure counted.
        async with self._login_checks:
            now = time.monotonic()
            wait = self.throttle.retry_after(body.username, address, now)
            if wait > 0:
                text = "too many failed logins: try again later"
                error = ApiError(429, "too_many_attempts", text)
                return _error_response(error, headers={"Retry-After": str(math.ceil(wait))})
            account = await self.store.get_account(body.username)
            if account is None:
                # Spend the same time as a real check: timing must not tell which names exist.
                if self._dummy_hash is None:
                    self._dummy_hash = await self._hash("not a real password")
                await self._verify(self._dummy_hash, body.password)
                ok = False
            else:
                ok = await self._verify(account.password_hash, body.password)
            if not ok or account is None:
                self.throttle.failed(body.username, address, time.monotonic())
                log.info("login failed name=%s address=%s", body.username[:40], address)
                raise ApiError(401, "wrong_credentials", "wrong username or password")
            self.throttle.succeeded(account.name, address, time.monotonic())
        if self.hasher.check_needs_rehash(account.password_hash):
            await self.store.set_password_hash(account.name, await self._hash(body.password))
        log.info("login name=%s", account.name)
        return self._signed_in(JSONResponse(account_json(account)), request, account)

    async def logout(self, request: Request) -> Response:
        account = await self.current_account(request)
        if account is not None:
            # Clearing the cookie is only the browser's side: end the session server-side,
            # so a copy of the cookie (another tab, a thief) stops working too.
            await self.store.end_sessions(account.name)
            log.info("logout name=%s", account.name)
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
        return response

    async def me(self, request: Request) -> Response:
        account = await self.current_account(request)
        if account is None and request.method == "GET":
            # Every guest's page asks on load: "no account" is an answer, not an error
            # (a 401 would show as a failed request in every guest's browser console).
            return Response(status_code=204)
        if account is None:
            raise ApiError(401, "not_signed_in", "not signed in")
        if request.method == "PATCH":
            body = await _read_body(request, ColorRequest)
            _check_color(body.color)
            updated = await self.store.set_color(account.name, body.color)
            if updated is None:
                raise ApiError(401, "not_signed_in", "not signed in")
            account = updated
            await self.notify_lobby(ColorChanged(account.name, account.color))
        return JSONResponse(account_json(account))

    async def profile(self, request: Request) -> Response:
        name = request.path_params["name"]
        account = await self.store.get_account(name) if is_valid_username(name) else None
        if account is None:
            raise ApiError(404, "unknown_user", f"no registered user named {name[:40]!r}")
        games = await self.store.recent_games(account.name, 20)
        body = account_json(account) | {"games": [_unstructure(game) for game in games]}
        return JSONResponse(body)

    async def game(self, request: Request) -> Response:
        game_id = request.path_params["game_id"]
        record = await self.store.get_game(game_id) if len(game_id) <= 64 else None
        if record is None:
            raise ApiError(404, "unknown_game", "no such game")
        return JSONResponse(game_json(record))

    async def analysis(self, request: Request) -> Response:
        """The stored analysis of a game (as the ``analysis`` message, without ``type``);
        404 ``not_analysed`` until someone asked for it (``analyse`` on the WebSocket)."""
        game_id = request.path_params["game_id"]
        stored = await self.store.get_analysis(game_id) if len(game_id) <= 64 else None
        if stored is None:
            if len(game_id) > 64 or await self.store.get_game(game_id) is None:
                raise ApiError(404, "unknown_game", "no such game")
            raise ApiError(404, "not_analysed", "this game has not been analysed yet")
        return JSONResponse(_unstructure(stored))

    async def leaderboard(self, request: Request) -> Response:
        rows = await self.store.leaderboard(50)
        return JSONResponse([_unstructure(row) for row in rows])


def game_json(record: GameRecord) -> dict[str, Any]:
    """A stored game as ``GET /api/games/{id}`` shows it: one flat object (see the API doc)."""
    player1, player2 = record.setup.players
    result = record.result
    return {
        "game_id": record.game_id,
        "player1": player1.name,
        "player2": player2.name,
        "registered1": player1.registered,
        "registered2": player2.registered,
        "color1": player1.color,
        "color2": player2.color,
        "moves": list(result.moves),
        "result": result.outcome,
        "winner": result.winner,
        "reason": result.reason,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "colors": _unstructure(record.setup.colors),
        "time_control": (
            None if record.setup.time_control is None else _unstructure(record.setup.time_control)
        ),
        "computer": (
            None if record.setup.computer is None else _unstructure(record.setup.computer)
        ),
    }
