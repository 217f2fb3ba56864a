"""Signing in and out, and the admin's page of users."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.cases import users
from engine.errors import BusyError
from engine.web.cases import RequestDesk, refusal
from engine.web.render import flash, page
from engine.web.security import CSRF_FIELD, checked_form, require, safe_next


async def login_page(request: Request) -> Response:
    if request.method == "GET":
        return page(request, "login.html", next=safe_next(request.query_params.get("next")), error=None, name="")
    form = await checked_form(request)
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    address = request.client.host if request.client else "?"
    throttle = request.app.state.throttle
    wait = throttle.wait(name, address)
    if wait > 0:
        minutes = int(wait // 60) + 1
        return page(request, "login.html", status_code=429, next=target, name=name,
                    error=f"Trop de tentatives de connexion : réessayez dans {minutes} minute(s).")
    user = await run_in_threadpool(users.authenticate, request.app.state.desk, name, password)
    if user is None:
        throttle.failed(name, address)
        return page(request, "login.html", status_code=401, next=target, name=name,
                    error="Nom d'utilisateur ou mot de passe incorrect.")
    throttle.succeeded(name)
    request.session.clear()  # a new session: nothing of the anonymous one carries over
    request.session["user"] = user.name
    request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def users_page(request: Request) -> Response:
    require(request, "admin")
    desk = request.app.state.desk
    if request.method == "POST":
        form = await checked_form(request)
        desk = RequestDesk(desk)
        action = form.get("action")
        try:
            if action == "add":
                added = await run_in_threadpool(users.add_user, desk, str(form.get("name") or "").strip(),
                                                str(form.get("role") or ""), str(form.get("password") or ""))
                flash(request, f"Utilisateur {added.name} créé.")
            elif action == "disable":
                done = await run_in_threadpool(users.disable_user, desk, str(form.get("name") or ""))
                flash(request, f"Utilisateur {done.name} désactivé.")
        except (users.UserError, BusyError) as exc:
            flash(request, refusal(exc), "error")
        return RedirectResponse("/users", status_code=303)
    found = await run_in_threadpool(users.list_users, desk)
    return page(request, "users.html", users=found, roles=users.ROLES)


ROUTES = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/users", users_page, methods=["GET", "POST"]),
]
