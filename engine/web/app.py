"""The team's web app (`relance serve`): a Starlette application over one workspace's `App`.

Server-rendered pages, every action through engine.cases with the signed-in user as ``by``; the
security rules are in engine.web.security. ``create_app`` wires the routes and middlewares; the
pages themselves are in auth.py, cases.py, queues.py and library.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine.app import App
from engine.web import auth, cases, library, queues
from engine.web.render import STATIC, page
from engine.web.security import LoginThrottle, SignedSessions, SignInGuard, workspace_secret

TITLES = {400: "Demande invalide", 403: "Accès refusé", 404: "Introuvable", 405: "Méthode non permise",
          409: "Conflit", 429: "Trop de tentatives"}


def create_app(desk: App, *, secret: str | None = None, https: bool = False,
               today: Callable[[], date] = date.today, throttle: LoginThrottle | None = None) -> Starlette:
    """The web app of ``desk``'s workspace. ``secret`` signs the session cookies (default: the workspace's
    own, made on first use); ``https`` marks cookies Secure even when a proxy speaks plain HTTP to us."""
    routes = [
        Route("/", lambda request: RedirectResponse("/cases", status_code=303)),
        *auth.ROUTES,
        *cases.ROUTES,
        *library.ROUTES,
        *queues.ROUTES,
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    web = Starlette(
        routes=routes,
        middleware=[
            Middleware(SignedSessions, secret=secret or workspace_secret(desk.workspace.root), https=https),
            Middleware(SignInGuard, desk=desk),
        ],
        exception_handlers={HTTPException: _error_page},
    )
    web.state.desk = desk
    web.state.today = today
    web.state.throttle = throttle or LoginThrottle()
    return web


async def _error_page(request: Request, exc: Any) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or ""
    if "session" not in request.scope:
        return Response(detail, status_code=status, media_type="text/plain; charset=utf-8")
    return page(request, "error.html", status_code=status, title=TITLES.get(status, "Erreur"), detail=detail)


__all__ = ["create_app"]
