"""« malgré nos relances » says only what the timeline holds: an invoice that joined a case after its reminders
went out was never reminded, and the letters say so by naming the invoices that were (shipped pack, real run)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from engine.cases.letters import LetterWriter
from engine.cases.run import run
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.letters import sample_letter_data
from engine.store.database import connect
from engine.store.models import Document
from tests.db.test_claim_run import text_of
from tests.support import REPO

DEBTORS = "debtor_ref;kind;name\nD1;b2b;Garage Petit SARL\n"
# F2 falls due after the second reminder (a postal letter naming F1 alone) and joins the open case.
INVOICES = """invoice_number;debtor_ref;issue_date;due_date;amount
F1;D1;2024-12-05;2025-01-05;1000.00
F2;D1;2024-12-26;2025-01-25;400.00
"""


def test_a_letter_says_despite_our_reminders_only_of_the_invoices_an_earlier_letter_named(database_url: str,
                                                                                      tmp_path: Path) -> None:
    path = REPO / "workflows" / "fr-b2b.yaml"
    workflow = load_workflow(path, source=path.read_text(encoding="utf-8").replace("approval: required",
                                                                                   "approval: none"))
    store = connect(database_url, upgrade=True)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, tmp_path / name, creditor_ref="ACME")
    out = tmp_path / "out"
    writer = LetterWriter(sample_letter_data().creditor, {"b2b": workflow}, out)
    day = date(2025, 1, 6)
    while day <= date(2025, 3, 15):
        assert not run(store, workflow, day, perform=writer).errors
        day += timedelta(days=1)
    with store.session() as s:
        letters = {doc.state: text_of(out / doc.path) for doc in s.scalars(select(Document).order_by(Document.id))}
    store.dispose()
    # The first reminder went by e-mail, never sent (no SMTP): no contact. The second named F1 alone.
    assert "F2" not in letters["reminder2"] and "malgré" not in letters["reminder2"]
    assert "F2" in letters["reminder3"]
    assert "impayées malgré nos relances précédentes concernant la facture n° F1 :" in letters["reminder3"]
    # The third reminder, sent by post, named both: the notice may say it of both.
    assert "Les factures suivantes restent impayées malgré nos relances :" in letters["formal_notice"]
