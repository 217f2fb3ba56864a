"""The team's web app (`relance serve`): a Starlette application over one workspace's `App`.

Server-rendered pages, every action through engine.cases with the signed-in user as ``by``; the
security rules are in engine.web.security. ``create_app`` wires the routes and middlewares; the
pages themselves are in auth.py, cases.py, queues.py and library.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.app import App
from engine.web import auth, cases, library, queues
from engine.web.render import STATIC, page
from engine.web.security import LoginThrottle, SignedSessions, SignInGuard, unsafe_field, workspace_secret

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
            Middleware(VisibleText),
        ],
        exception_handlers={HTTPException: _error_page},
    )
    web.state.desk = desk
    web.state.today = today
    web.state.throttle = throttle or LoginThrottle()
    return web


class VisibleText:
    """ASGI middleware: a path or a query parameter holding a control or invisible character is a 400 page
    naming it (the forms are checked by ``checked_form``), before any page reads it or sends it to the database."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = parse_qsl(scope["query_string"].decode("utf-8", "replace"), keep_blank_values=True)
            said = unsafe_field([("adresse", scope["path"]), *query])
            if said is not None:
                response = page(Request(scope, receive), "error.html", status_code=400, title=TITLES[400], detail=said)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# What a page says when Starlette raised the error itself (an unknown URL, a GET on a form's address): its
# detail is then the English HTTP phrase ("Not Found"), which the team must not read.
DETAILS = {404: "Aucune page à cette adresse.",
           405: "Cette adresse ne s'ouvre pas ainsi : passez par le formulaire de la page."}


async def _error_page(request: Request, exc: Any) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or ""
    if detail == _phrase(status):
        detail = DETAILS.get(status, "")
    if "session" not in request.scope:
        return Response(detail, status_code=status, media_type="text/plain; charset=utf-8")
    return page(request, "error.html", status_code=status, title=TITLES.get(status, "Erreur"), detail=detail)


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


__all__ = ["create_app"]
