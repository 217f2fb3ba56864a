"""What the tests and benches share besides fixtures: the repository's folders, generated portfolios (N
debtors with one overdue invoice each, as CSV files) for the scale, crash and race tests, and scratch
PostgreSQL databases for the benches."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
EXAMPLES = REPO / "examples"
PACK = REPO / "letters" / "fr"
SHIPPED_WORKFLOWS = REPO / "workflows"
CSV = TESTS / "fixtures" / "csv"
TEST_WORKFLOWS = TESTS / "workflows"

DEBTORS_HEADER = "debtor_ref;kind;name;siren;address_line1;address_line2;postal_code;city;country;email;phone\n"
INVOICES_HEADER = "invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"


def write_portfolio(folder: Path, cases: int, *, due: date = date(2025, 1, 10), prefix: str = "D",
                    emails: bool = False) -> list[Path]:
    """debtors.csv and invoices.csv: ``cases`` B2B debtors, each owing one invoice due on ``due``
    (so a run a week later opens ``cases`` cases and sends each its first reminder); with ``emails``
    each debtor has an e-mail address, so that reminder also leaves by e-mail."""
    folder.mkdir(parents=True, exist_ok=True)
    debtors, invoices = folder / "debtors.csv", folder / "invoices.csv"
    issued = due - timedelta(days=30)
    with debtors.open("w", encoding="utf-8") as out:
        out.write(DEBTORS_HEADER)
        for i in range(cases):
            mail = f"compta{i}@client{i}.example" if emails else ""
            out.write(f"{prefix}{i:06d};b2b;Client {i} SARL;;{i} rue de la Paix;;75002;Paris;FR;{mail};\n")
    with invoices.open("w", encoding="utf-8") as out:
        out.write(INVOICES_HEADER)
        for i in range(cases):
            out.write(f"F{i:06d};{prefix}{i:06d};{issued};{due};{100 + i % 900},{i % 100:02d};EUR\n")
    return [debtors, invoices]


HOSTILE_NAME = "<script>alert('x')</script> & Fils"
WEB_AS_OF = date(2025, 1, 20)
PASSWORDS = {"viewer": "viewer-pass-1", "collector": "collector-pass-1", "legal": "legal-pass-1",
             "admin": "admin-pass-1"}


def web_workspace(root: Path, *, database_url: str | None = None, cases: int = 3) -> Path:
    """A workspace for the web app's tests: ``cases`` B2B debtors (the first with a hostile name), one overdue
    invoice each, one run on WEB_AS_OF (so each case has a first reminder written), and one user per role
    (named after it, password in PASSWORDS)."""
    from engine.app import App
    from engine.cases.users import add_user
    from engine.workspace import init_workspace, load_workspace

    init_workspace(root)
    files = write_portfolio(root / "csv", cases)
    text = files[0].read_text(encoding="utf-8").replace("Client 0 SARL", HOSTILE_NAME, 1)
    files[0].write_text(text, encoding="utf-8")
    app = App.open(load_workspace(root, database_url))
    app.import_files(files)
    app.run(WEB_AS_OF)
    for role, password in PASSWORDS.items():
        add_user(app, role, role, password)
    app.store.dispose()
    return root


def create_postgres_database(admin_url: str, prefix: str) -> str:
    """A new empty database on ``admin_url``'s server, named ``prefix`` + a unique tail; its URL."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _on_server(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url`` (made by create_postgres_database), closing its connections."""
    from sqlalchemy.engine import make_url

    _on_server(admin_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def _on_server(admin_url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    server = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(statement))
    finally:
        server.dispose()


@contextmanager
def postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A scratch database for the block, dropped after it."""
    url = create_postgres_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_postgres_database(admin_url, url)
