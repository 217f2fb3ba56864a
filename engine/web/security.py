"""What keeps the web app safe: signed cookie sessions, the sign-in guard, CSRF tokens, roles, and the
login throttle.

- **Sessions** are a signed (itsdangerous, HMAC-SHA1 over the JSON) and timestamped cookie: no
  server-side store, nothing a browser can forge; ``HttpOnly`` (no script reads it), ``SameSite=Lax``
  (not sent on a cross-site POST) and ``Secure`` when the app is reached over HTTPS.
- **Every page but the login needs a session** (``SignInGuard``); the user named in it must still be
  active, so disabling a user ends their sessions at their next request.
- **Every POST carries the session's CSRF token** in a form field, compared in constant time
  (``checked_form``); a POST without it is refused 403 before anything is read or done.
- **No control or invisible character** (engine.core.text) in a form field, a query parameter or a path:
  refused 400 with the field named (``unsafe_field``), as the importer refuses them in a cell; PostgreSQL
  refuses NUL, and a timeline or a letter must not carry what a reader cannot see.
- **Roles**: ``require(request, role)``; a viewer's POST to an action is a 403.
- **Login attempts** are limited per user name and per client address (``LoginThrottle``).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.cases.users import UserInfo, get_user
from engine.core.text import inert, unsafe_characters, visible

COOKIE = "relance_session"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"
# Paths open without a session: the sign-in page and the files it needs.
PUBLIC = ("/login", "/static/")
MAX_FORM_BYTES = 12 * 1024 * 1024  # a letter template and a little more
MAX_FIELDS = 50  # our largest form has a dozen
FORM_REFUSED = (f"Formulaire illisible ou trop grand (au plus {MAX_FIELDS} champs, un fichier d'au plus "
                f"{MAX_FORM_BYTES // (1024 * 1024)} Mo) : rien n'a été enregistré ; rechargez la page et recommencez.")
MAX_REMEMBERED = 10_000  # names and addresses the login throttle keeps before dropping the stale ones


class SignedSessions:
    """ASGI middleware: ``scope["session"]`` from the signed cookie, written back when it changed."""

    def __init__(self, app: ASGIApp, secret: str, *, https: bool = False, max_age: int = SESSION_SECONDS) -> None:
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="relance-session")
        self.https = https
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = HTTPConnection(scope).cookies.get(COOKIE)
        session: dict[str, Any] = {}
        if raw:
            try:
                loaded = self.serializer.loads(raw, max_age=self.max_age)
                session = loaded if isinstance(loaded, dict) else {}
            except BadSignature:  # forged, altered or expired: as if there were none
                session = {}
        scope["session"] = session
        before = json.dumps(session, sort_keys=True)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                after = scope["session"]
                if json.dumps(after, sort_keys=True) != before or (raw and not after):
                    secure = self.https or scope.get("scheme") == "https"
                    flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
                    value = (f"{COOKIE}={self.serializer.dumps(after)}; Max-Age={self.max_age}" if after
                             else f"{COOKIE}=; Max-Age=0")
                    MutableHeaders(scope=message).append("set-cookie", value + flags)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class SignInGuard:
    """ASGI middleware: a request without a session of an active user goes to the sign-in page."""

    def __init__(self, app: ASGIApp, desk: Any) -> None:
        self.app = app
        self.desk = desk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        name = scope["session"].get("user")
        user = await run_in_threadpool(get_user, self.desk, name) if isinstance(name, str) else None
        if user is None:
            scope["session"].pop("user", None)
            target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            await response(scope, receive, send)
            return
        scope["user"] = user
        await self.app(scope, receive, send)


def is_public(path: str) -> bool:
    """The sign-in page and the static files it needs; nothing else is served without a session."""
    return any(path.startswith(p) if p.endswith("/") else path == p for p in PUBLIC)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the sign-in page makes one for anonymous visitors)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after its CSRF token matched the session's (403 otherwise)."""
    try:
        form = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=MAX_FORM_BYTES)
    except HTTPException as exc:  # Starlette's parser says why in English ("Too many fields..."): the team reads French
        raise HTTPException(exc.status_code, FORM_REFUSED) from None
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "Jeton de sécurité (CSRF) absent ou invalide : rechargez la page et recommencez.")
    said = unsafe_field((key, value) for key, value in form.multi_items() if isinstance(value, str))
    if said is not None:
        raise HTTPException(400, said)
    return form


def unsafe_field(fields: Iterable[tuple[str, str]]) -> str | None:
    """What to say of the first field (name, text) holding a control or invisible character; None when clean."""
    for name, text in fields:
        found = unsafe_characters(name) + unsafe_characters(text)
        if found:
            shown = " ".join(dict.fromkeys(visible(char) for char in found))
            return (f"Le champ « {inert(name)} » contient un caractère de contrôle ou invisible ({shown}) : "
                    "retirez-le et recommencez.")
    return None


def current_user(request: Request) -> UserInfo:
    user = request.scope.get("user")
    if not isinstance(user, UserInfo):
        raise HTTPException(403, "Connexion requise.")
    return user


def require(request: Request, role: str) -> UserInfo:
    """The signed-in user if their role includes ``role``'s rights; 403 otherwise."""
    user = current_user(request)
    if not user.may(role):
        raise HTTPException(403, f"Votre rôle ({user.role}) ne permet pas cette action.")
    return user


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class LoginThrottle:
    """Failed sign-ins remembered per user name and per client address over a sliding window.

    In memory: one `relance serve` process serves a team; a restart forgets (and so do attackers' waits).
    """

    def __init__(self, *, per_user: int = 5, per_address: int = 20, window: float = 15 * 60,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def wait(self, name: str, address: str) -> float:
        """Seconds to wait before this name or address may try again (0: go ahead)."""
        now = self.clock()
        waits = [0.0]
        for key in (("user", name.lower()), ("address", address)):
            failures = self._recent(key, now)
            if len(failures) >= self.limits[key[0]]:
                waits.append(failures[0] + self.window - now)
        return max(waits)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        for key in (("user", name.lower()), ("address", address)):
            self._recent(key, now).append(now)
        if len(self._failures) > MAX_REMEMBERED:  # names tried once long ago are forgotten, memory stays bounded
            for key in [k for k, failures in self._failures.items() if not self._recent(k, now)]:
                del self._failures[key]

    def succeeded(self, name: str) -> None:
        self._failures.pop(("user", name.lower()), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures


def workspace_secret(root: Path) -> str:
    """The key that signs session cookies: kept in the workspace (readable by its owner only), made once."""
    path = root / ".relance-web-secret"
    try:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) >= 32:
            return secret
    except OSError:
        pass
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(secret + "\n", encoding="ascii")
    return secret


__all__ = ["COOKIE", "CSRF_FIELD", "LoginThrottle", "SignInGuard", "SignedSessions", "checked_form", "csrf_token",
           "current_user", "require", "safe_next", "unsafe_field", "workspace_secret"]
