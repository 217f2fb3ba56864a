"""The web app's pages from our own Jinja templates (engine/web/templates), autoescaped: every string
from data — a debtor's name, a note, a reason — is escaped, so ``<script>`` in a name prints as text.

French formatting goes through engine.core.money (Babel), like the letters and the report.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse

from engine.core.instants import format_instant_fr
from engine.core.money import format_amount, format_date, format_long_date
from engine.web.security import csrf_token

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

ROLE_LABELS = {"viewer": "lecture", "collector": "recouvrement", "legal": "juridique", "admin": "administration"}


# An absolute file path inside a message (two folders at least, so "/cases" or "25/11/2026" are left alone).
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])(?:/[^\s/«»\"'<>,;()]+){2,}/([^\s/«»\"'<>,;()]+)")


def without_paths(text: str) -> str:
    """``text`` with every absolute path cut to its file name: a page must not tell a visitor how the server
    is laid out. The messages' sources already name files as the team knows them; this catches what an
    engine message (often written for the command line) still carries."""
    return _SERVER_PATH.sub(lambda found: found.group(1), text)


def _money(amount: Any, currency: str = "EUR") -> str:
    return format_amount(amount if isinstance(amount, Decimal) else Decimal(str(amount)), currency)


def _day(on: date | datetime | None) -> str:
    if on is None:
        return ""
    return format_date(on.date() if isinstance(on, datetime) else on)


@pass_context
def _stamp(context: Context, at: datetime | None) -> str:
    """A time stamp the store keeps in UTC, as the team reads it: « 23/11/2026 à 15 h 05 », on the
    workspace's clock (``zone`` of the page, engine.core.instants)."""
    return format_instant_fr(at, context.get("zone")) if at else ""


ENV = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters["money"] = _money
ENV.filters["day"] = _day
ENV.filters["longday"] = lambda on: format_long_date(on) if on else ""
ENV.filters["stamp"] = _stamp
ENV.filters["role"] = lambda role: ROLE_LABELS.get(role, role)
ENV.filters["without_paths"] = without_paths


def _query(params: dict[str, str], **changes: str | None) -> str:
    """``?a=1&b=2``: the current query with ``changes`` (None removes a key), for links of the case list."""
    merged = {**params, **changes}
    return "?" + urlencode({key: value for key, value in merged.items() if value})


ENV.globals["query"] = _query


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with what every page shows: the user, the CSRF token, the flash message."""
    flash = request.session.pop("flash", None) if "session" in request.scope else None
    body = ENV.get_template(template).render(
        request=request, user=request.scope.get("user"), csrf=csrf_token(request), flash=flash,
        path=request.url.path, zone=getattr(getattr(request.app.state, "desk", None), "zone", None), **context,
    )
    return HTMLResponse(body, status_code=status_code, headers={
        # Our pages load nothing from elsewhere; say so, so an injected tag could not either.
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                   "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    })


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A one-line message shown on the next page (after a POST's redirect)."""
    request.session["flash"] = {"kind": kind, "text": without_paths(text)}


__all__ = ["ENV", "STATIC", "TEMPLATES", "flash", "page", "without_paths"]
