"""What the tests share besides fixtures: the repository's folders, and generated portfolios (N debtors
with one overdue invoice each, as CSV files) for the scale, crash and race tests."""

from __future__ import annotations

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


def write_portfolio(folder: Path, cases: int, *, due: date = date(2025, 1, 10), prefix: str = "D") -> list[Path]:
    """debtors.csv and invoices.csv: ``cases`` B2B debtors, each owing one invoice due on ``due``
    (so a run a week later opens ``cases`` cases and sends each its first reminder)."""
    folder.mkdir(parents=True, exist_ok=True)
    debtors, invoices = folder / "debtors.csv", folder / "invoices.csv"
    issued = due - timedelta(days=30)
    with debtors.open("w", encoding="utf-8") as out:
        out.write(DEBTORS_HEADER)
        for i in range(cases):
            out.write(f"{prefix}{i:06d};b2b;Client {i} SARL;;{i} rue de la Paix;;75002;Paris;FR;;\n")
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
