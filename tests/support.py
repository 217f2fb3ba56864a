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
