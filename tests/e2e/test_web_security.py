"""Each security rule of the web app, over HTTP (Starlette's TestClient against the real app and a real
workspace); each test fails if its protection is taken out.

Sessions (signed, HttpOnly, SameSite=Lax, Secure over HTTPS), the sign-in guard on every page, CSRF on
every POST, the login throttle, escaping of a hostile debtor name, roles (a viewer's POST is 403), and
downloads that serve only the files the database records.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from starlette.routing import Route

from engine.app import App
from engine.cases.users import disable_user
from engine.store.models import Case, Debtor, Document, Event
from engine.web.app import create_app
from engine.web.security import COOKIE, LoginThrottle
from tests.e2e.web_client import SECRET, client, csrf_of, open_app, sign_in
from tests.support import HOSTILE_NAME, web_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return web_workspace(tmp_path_factory.mktemp("web") / "ws")


@pytest.fixture
def desk(workspace: Path) -> Iterator[App]:
    app = open_app(workspace)
    yield app
    app.store.dispose()


def first_case(desk: App, *, debtor_name: str | None = None) -> tuple[int, int]:
    """(case id, id of its first letter)."""
    with desk.session() as session:
        query = select(Case.id, Document.id).join(Document, Document.case_id == Case.id).order_by(Case.id)
        if debtor_name is not None:
            query = query.join(Debtor, Debtor.id == Case.debtor_id).where(Debtor.name == debtor_name)
        case_id, document_id = session.execute(query.limit(1)).one()
    return case_id, document_id


def events_of(desk: App, case_id: int) -> list[tuple[str, str | None]]:
    with desk.session() as session:
        return [(kind, actor) for kind, actor in session.execute(
            select(Event.kind, Event.actor).where(Event.case_id == case_id).order_by(Event.seq))]


def page_urls(desk: App) -> list[str]:
    """A URL for every GET route of the app (path parameters filled with a real case, letter, template)."""
    case_id, document_id = first_case(desk)
    values = {"case_id": str(case_id), "document_id": str(document_id), "name": "relance_1.docx", "version": "1"}
    b2b = next(w for w in desk.workflows.values() if w.name == "fr-b2b-standard")  # whatever its version
    urls = []
    for route in create_app(desk, secret=SECRET).routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()) and route.path != "/login":
            path = re.sub(r"/workflows/\{name\}/v\{version(:\w+)?\}", f"/workflows/{b2b.name}/v{b2b.version}",
                          route.path)
            urls.append(re.sub(r"\{(\w+)(?::\w+)?\}", lambda found: values[found[1]], path))
    return urls


def post_routes(desk: App) -> list[str]:
    case_id, _ = first_case(desk)
    found = []
    for route in create_app(desk, secret=SECRET).routes:
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            values = {"case_id": str(case_id), "action": "pay", "name": "relance_1.docx"}
            found.append(re.sub(r"\{(\w+)(?::\w+)?\}", lambda found: values[found[1]], route.path))
    return found


# --- every page needs a session -------------------------------------------------------------------------------

def test_every_page_but_the_login_redirects_to_it_without_a_session(desk: App) -> None:
    http = client(desk)
    urls = page_urls(desk)
    assert len(urls) >= 10 and "/cases" in urls and "/report" in urls
    for url in urls:
        answer = http.get(url)
        assert answer.status_code == 303, url
        assert answer.headers["location"].startswith("/login?next="), url
    assert http.get("/login").status_code == 200
    assert http.get("/static/app.css").status_code == 200  # what the login page needs


def test_every_page_answers_once_signed_in(desk: App) -> None:
    http = client(desk)
    sign_in(http, "admin")
    expected = {"/": 303, "/find": 303, "/letters/relance_1.docx/v1": 404}  # home, search: to the list
    for url in page_urls(desk):
        assert http.get(url).status_code == expected.get(url, 200), url


def test_a_forged_or_altered_cookie_is_no_session(desk: App) -> None:
    http = client(desk)
    sign_in(http, "admin")
    value = http.cookies[COOKIE]
    http.cookies.clear()
    http.cookies.set(COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert http.get("/cases").status_code == 303
    other = client(desk)
    from itsdangerous import URLSafeTimedSerializer
    other.cookies.set(COOKIE, URLSafeTimedSerializer("another secret", salt="relance-session").dumps({"user": "admin"}))
    assert other.get("/cases").status_code == 303


def test_a_disabled_user_loses_the_session_at_the_next_request(workspace: Path) -> None:
    from engine.cases.users import add_user

    desk = open_app(workspace)
    add_user(desk, "leaving", "collector", "leaving-pass-1")
    http = client(desk)
    sign_in(http, "leaving", "leaving-pass-1")
    assert http.get("/cases").status_code == 200
    disable_user(desk, "leaving")
    assert http.get("/cases").status_code == 303
    desk.store.dispose()


# --- the cookie's flags ---------------------------------------------------------------------------------------

def _session_cookie(answer) -> str:
    cookies = [value for key, value in answer.headers.multi_items() if key == "set-cookie" and value.startswith(COOKIE)]
    assert cookies, answer.headers
    return cookies[-1]


def test_the_session_cookie_is_httponly_samesite_lax_and_not_secure_over_http(desk: App) -> None:
    http = client(desk)
    answer = http.post("/login", data={"csrf": csrf_of(http), "name": "viewer", "password": "viewer-pass-1"})
    cookie = _session_cookie(answer)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # a plain-HTTP browser would drop it


def test_the_session_cookie_is_secure_over_https_or_when_told(desk: App) -> None:
    for http in (client(desk, base_url="https://testserver"), client(desk, https=True)):
        answer = http.post("/login", data={"csrf": csrf_of(http), "name": "viewer", "password": "viewer-pass-1"})
        assert "; Secure" in _session_cookie(answer)


# --- CSRF -----------------------------------------------------------------------------------------------------

def test_every_post_without_or_with_a_wrong_csrf_token_is_refused(desk: App) -> None:
    case_id, _ = first_case(desk)
    before = events_of(desk, case_id)
    http = client(desk)
    token = sign_in(http, "admin")
    routes = post_routes(desk)
    assert f"/cases/{case_id}/actions/pay" in routes and "/logout" in routes and "/login" in routes
    for url in routes:
        assert http.post(url, data={"amount": "10", "name": "x", "password": "y"}).status_code == 403, url
        assert http.post(url, data={"csrf": token[:-2] + "zz", "amount": "10"}).status_code == 403, url
    assert events_of(desk, case_id) == before  # nothing was recorded
    assert http.get("/cases").status_code == 200  # and the session is still there (logout was refused)


def test_with_its_token_a_collector_records_a_payment_in_their_name(desk: App) -> None:
    case_id, _ = first_case(desk)
    http = client(desk)
    token = sign_in(http, "collector")
    answer = http.post(f"/cases/{case_id}/actions/pay", data={"csrf": token, "amount": "1,50", "on": "2025-01-20"})
    assert answer.status_code == 303
    assert events_of(desk, case_id)[-1] == ("payment", "collector")
    assert "Paiement de 1,50" in http.get(answer.headers["location"]).text


# --- roles ----------------------------------------------------------------------------------------------------

def test_a_viewer_reads_but_every_action_post_is_403(desk: App) -> None:
    case_id, _ = first_case(desk)
    before = events_of(desk, case_id)
    http = client(desk)
    token = sign_in(http, "viewer")
    assert "form-pay" not in http.get(f"/cases/{case_id}").text  # no forms shown
    for action in ("pay", "promise", "dispute", "resolve", "hold", "resume", "note", "jump"):
        answer = http.post(f"/cases/{case_id}/actions/{action}",
                           data={"csrf": token, "amount": "10", "reason": "r", "until": "2025-02-01", "dest": "paid"})
        assert answer.status_code == 403, action
    upload = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                       files={"file": ("relance_1.docx", b"PK", "application/octet-stream")})
    assert upload.status_code == 403
    assert http.post("/users", data={"csrf": token, "action": "add", "name": "mallory", "role": "admin",
                                     "password": "mallory-pass"}).status_code == 403
    assert events_of(desk, case_id) == before


def test_a_collector_may_not_jump_nor_edit_templates_nor_manage_users(desk: App) -> None:
    case_id, _ = first_case(desk)
    http = client(desk)
    token = sign_in(http, "collector")
    assert http.post(f"/cases/{case_id}/actions/jump",
                     data={"csrf": token, "dest": "formal_notice", "reason": "r"}).status_code == 403
    assert http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                     files={"file": ("x.docx", b"PK", "application/octet-stream")}).status_code == 403
    assert http.get("/users").status_code == 403


# --- the login throttle ---------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_login_attempts_are_limited_per_user_then_allowed_after_the_window(desk: App) -> None:
    clock = Clock()
    http = client(desk, throttle=LoginThrottle(per_user=5, per_address=50, window=900, clock=clock))
    for _ in range(5):
        wrong = http.post("/login", data={"csrf": csrf_of(http), "name": "admin", "password": "guess"})
        assert wrong.status_code == 401
    blocked = http.post("/login", data={"csrf": csrf_of(http), "name": "admin", "password": "admin-pass-1"})
    assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text
    assert COOKIE not in blocked.headers.get("set-cookie", "") or "user" not in http.cookies.get(COOKIE, "")
    assert http.get("/cases").status_code == 303  # the right password did not get in while blocked
    other = http.post("/login", data={"csrf": csrf_of(http), "name": "viewer", "password": "viewer-pass-1"})
    assert other.status_code == 303  # another user from the same address is not blocked by admin's limit
    clock.now += 901
    http.cookies.clear()
    assert http.post("/login", data={"csrf": csrf_of(http), "name": "admin",
                                     "password": "admin-pass-1"}).status_code == 303


def test_login_attempts_are_limited_per_address_across_names(desk: App) -> None:
    http = client(desk, throttle=LoginThrottle(per_user=100, per_address=4, window=900, clock=Clock()))
    for i in range(4):
        assert http.post("/login", data={"csrf": csrf_of(http), "name": f"nobody{i}",
                                         "password": "guess"}).status_code == 401
    assert http.post("/login", data={"csrf": csrf_of(http), "name": "viewer",
                                     "password": "viewer-pass-1"}).status_code == 429


def test_after_login_only_a_local_path_is_followed(desk: App) -> None:
    for target, expected in (("//evil.example/x", "/"), ("https://evil.example/", "/"), ("/report", "/report")):
        http = client(desk)
        answer = http.post("/login", data={"csrf": csrf_of(http), "name": "viewer", "password": "viewer-pass-1",
                                           "next": target})
        assert answer.headers["location"] == expected


# --- escaping -------------------------------------------------------------------------------------------------

def test_a_hostile_debtor_name_prints_as_text_on_every_page_that_shows_it(desk: App) -> None:
    case_id, _ = first_case(desk, debtor_name=HOSTILE_NAME)
    http = client(desk)
    sign_in(http, "viewer")
    for url in ("/cases", f"/cases/{case_id}", "/cases?debiteur=%3Cscript", "/report"):
        text = http.get(url).text
        assert "&lt;script&gt;alert(" in text, url
        assert "<script>alert(" not in text, url
    assert "default-src 'self'" in http.get("/cases").headers["content-security-policy"]


def test_a_hostile_note_prints_as_text(desk: App) -> None:
    case_id, _ = first_case(desk)
    http = client(desk)
    token = sign_in(http, "collector")
    http.post(f"/cases/{case_id}/actions/note", data={"csrf": token, "reason": "<img src=x onerror=alert(1)>"})
    text = http.get(f"/cases/{case_id}").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img src=x" not in text


# --- downloads ------------------------------------------------------------------------------------------------

def test_a_recorded_letter_downloads_and_nothing_else_does(desk: App, workspace: Path) -> None:
    case_id, document_id = first_case(desk)
    http = client(desk)
    sign_in(http, "viewer")
    good = http.get(f"/cases/{case_id}/letters/{document_id}")
    assert good.status_code == 200 and good.content[:2] == b"PK"
    assert "attachment" in good.headers["content-disposition"]
    for url in (f"/cases/{case_id}/letters/..%2F..%2Frelance.toml", f"/cases/{case_id}/letters/../../relance.toml",
                f"/cases/{case_id}/letters/{document_id + 10_000}", f"/cases/{case_id + 10_000}/letters/{document_id}",
                "/letters/..%2Frelance.toml", "/letters/relance.toml", "/static/../relance.toml",
                "/static/..%2F..%2F..%2Fapp.py"):
        answer = http.get(url)
        assert answer.status_code in (404, 303, 400), url  # 303: normalised to a page that does not exist
        assert b"[creditor]" not in answer.content and b"create_app" not in answer.content, url


def test_a_document_row_pointing_outside_the_output_folder_is_refused(workspace: Path) -> None:
    desk = open_app(workspace)
    secret = workspace / "secret.txt"
    secret.write_text("not a letter", encoding="utf-8")
    case_id, document_id = first_case(desk)
    with desk.store.bind.begin() as conn:  # what someone with the database, not the app, could do
        conn.execute(update(Document).where(Document.id == document_id).values(
            path="../secret.txt", sha256=hashlib.sha256(secret.read_bytes()).hexdigest()))
    try:
        http = client(desk)
        sign_in(http, "viewer")
        answer = http.get(f"/cases/{case_id}/letters/{document_id}")
        assert answer.status_code == 409
        assert b"not a letter" not in answer.content
    finally:
        with desk.store.bind.begin() as conn:
            conn.execute(update(Document).where(Document.id == document_id).values(path=_original_path(desk, document_id)))
        desk.store.dispose()


def _original_path(desk: App, document_id: int) -> str:
    with desk.session() as session:
        payload = session.scalar(select(Event.payload).join(Document, Document.event_id == Event.id)
                                 .where(Document.id == document_id))
    return payload["path"]


def test_a_letter_altered_on_disk_is_not_served(workspace: Path) -> None:
    desk = open_app(workspace)
    with desk.session() as session:
        case_id, document_id, path = session.execute(
            select(Document.case_id, Document.id, Document.path).order_by(Document.id.desc()).limit(1)).one()
    letter = desk.workspace.output_dir / path
    original = letter.read_bytes()
    letter.write_bytes(original + b"tampered")
    try:
        http = client(desk)
        sign_in(http, "viewer")
        assert http.get(f"/cases/{case_id}/letters/{document_id}").status_code == 409
    finally:
        letter.write_bytes(original)
        desk.store.dispose()
