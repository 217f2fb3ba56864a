"""A signed-in test client of the web app (Starlette's TestClient) for the web tests."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import docx
from starlette.testclient import TestClient

from engine.app import App
from engine.web.app import create_app
from engine.web.security import LoginThrottle
from engine.workspace import load_workspace
from tests.support import PASSWORDS, WEB_AS_OF

SECRET = "test-secret-" + "x" * 40
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def open_app(root: Path, database_url: str | None = None, **options: Any) -> App:
    return App.open(load_workspace(root, database_url))


def client(desk: App, *, base_url: str = "http://testserver", raise_server_exceptions: bool = True,
           **options: Any) -> TestClient:
    """``raise_server_exceptions=False``: a server error is the 500 page a browser gets, not an exception."""
    options.setdefault("throttle", LoginThrottle())
    options.setdefault("today", lambda: WEB_AS_OF)
    web = create_app(desk, secret=SECRET, **options)
    return TestClient(web, base_url=base_url, follow_redirects=False, raise_server_exceptions=raise_server_exceptions)


def csrf_of(http: TestClient, url: str = "/login") -> str:
    match = CSRF.search(http.get(url).text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def sign_in(http: TestClient, role: str, password: str | None = None) -> str:
    """Sign in as the user named ``role``; the session's CSRF token."""
    answer = http.post("/login", data={"csrf": csrf_of(http), "name": role, "password": password or PASSWORDS[role],
                                       "next": "/cases"})
    assert answer.status_code == 303, answer.text
    return csrf_of(http, "/cases")


def edited(template: Path, old: str, new: str) -> bytes:
    """The template with ``old`` replaced by ``new`` in the run that holds it."""
    document = docx.Document(str(template))
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            if old in run.text:
                run.text = run.text.replace(old, new)
                out = io.BytesIO()
                document.save(out)
                return out.getvalue()
    raise AssertionError(f"{old!r} not found in {template.name}")
