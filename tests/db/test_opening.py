"""Opening cases (engine.cases.opening): a batch's new cases, their first events and their invoices' links are
written in a few statements, not one UPDATE a case and one an invoice; the timelines verify, and an invoice
joins the case its debtor already has, opened in the same batch or before."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine.cases.batch import RunReport
from engine.cases.opening import open_cases
from engine.cases.steps import case_state
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.store.database import Store, connect
from engine.store.models import Case, Debtor, Event, Invoice
from engine.store.timeline import verify
from tests.support import DEBTORS_HEADER, INVOICES_HEADER, REPO, write_portfolio

AS_OF = date(2025, 1, 20)


def test_a_batch_of_new_cases_is_written_in_a_few_statements(database_url: str, tmp_path: Path) -> None:
    store = connect(database_url, upgrade=True)
    for csv in write_portfolio(tmp_path, 120):
        import_csv(store, csv, creditor_ref="ACME")
    sent = _statements(store)
    report = _open(store, batch_size=50, serialize=False)  # on PostgreSQL too: batches of 50, not buckets
    # Three batches: per batch, one UPDATE of the invoices, compiled once and sent as one executemany of its
    # rows (the ORM sent 50 UPDATEs of invoices and 50 of cases a batch), the cases in one INSERT and their
    # events in another.
    assert report.cases_opened == 120
    assert sent["UPDATE invoice"] == 3 and sent["UPDATE invoice rows"] == 120 and sent["UPDATE cases"] == 0
    assert sent["INSERT cases"] == 3 and sent["INSERT event"] == 3
    # 50, 50, then 20: a batch shorter than the limit was the last, so no fourth query asks for nothing.
    assert sent["SELECT invoice"] == 3
    with store.session() as s:
        assert verify(s) == []
        cases = s.scalars(select(Case).order_by(Case.id)).all()
        assert [(c.event_count, c.next_check_at) for c in cases] == [(1, AS_OF)] * 120
        assert {i.case_id for i in s.scalars(select(Invoice))} == {c.id for c in cases}
        opened = s.scalars(select(Event).where(Event.kind == "case_opened").order_by(Event.case_id)).all()
        assert [e.case_id for e in opened] == [c.id for c in cases]
        assert all(c.last_hash == e.hash for c, e in zip(cases, opened, strict=True))
    store.dispose()


def test_invoices_join_their_debtors_case_opened_in_the_batch_or_before(database_url: str, tmp_path: Path) -> None:
    store = connect(database_url, upgrade=True)
    debtors, invoices = tmp_path / "debtors.csv", tmp_path / "invoices.csv"
    debtors.write_text(DEBTORS_HEADER + "D1;b2b;Un SARL;;1 rue A;;75002;Paris;FR;;\n"
                       "D2;b2b;Deux SARL;;2 rue B;;75002;Paris;FR;;\n", encoding="utf-8")
    invoices.write_text(INVOICES_HEADER + "F1;D1;2024-11-01;2024-12-20;100,00;EUR\n"
                        "F2;D1;2024-11-01;2024-12-01;50,00;EUR\n"
                        "F3;D1;2024-11-01;2024-12-05;70,00;USD\n"
                        "F4;D2;2024-11-01;2024-12-10;30,00;EUR\n", encoding="utf-8")
    import_csv(store, debtors, creditor_ref="ACME")
    import_csv(store, invoices, creditor_ref="ACME")
    with store.session() as s:
        s.scalars(select(Debtor).where(Debtor.ref == "D2")).one().do_not_chase = True
    _open(store)
    later = tmp_path / "later.csv"
    later.write_text(INVOICES_HEADER + "F5;D1;2024-12-01;2025-01-25;20,00;EUR\n", encoding="utf-8")
    import_csv(store, later, creditor_ref="ACME")
    report = _open(store, as_of=date(2025, 2, 1))  # joins the case opened above, through the ORM
    assert (report.cases_opened, report.invoices_added) == (0, 1)
    with store.session() as s:
        assert verify(s) == []
        cases = {(c.debtor.ref, c.currency): c for c in s.scalars(select(Case))}
        assert sorted(cases) == [("D1", "EUR"), ("D1", "USD"), ("D2", "EUR")]
        eur = cases[("D1", "EUR")]
        assert [i.number for i in eur.invoices] == ["F2", "F1", "F5"]
        assert eur.due_date == date(2024, 12, 1)  # the earliest of its invoices, the one that joined included
        assert _kinds(s, eur) == ["case_opened", "invoice_added", "invoice_added"]
        assert _kinds(s, cases[("D2", "EUR")]) == ["case_opened", "debtor_hold"]
        assert [i.number for i in cases[("D1", "USD")].invoices] == ["F3"]
        # Guards read the case's currency (`currency == 'EUR'`): a threshold in euros is not one in dollars.
        assert case_state(s, cases[("D1", "USD")]).currency == "USD"
        assert case_state(s, eur).currency == "EUR"
    store.dispose()


def test_money_applied_before_the_case_opened_is_in_its_timeline(database_url: str, tmp_path: Path) -> None:
    """An advance paid and a credit note issued before the invoice fell due: its case's letters print them
    as paid, so its timeline must record them, whether the invoice opens a case or joins one."""
    store = connect(database_url, upgrade=True)
    debtors, invoices, money = tmp_path / "debtors.csv", tmp_path / "invoices.csv", tmp_path / "money.csv"
    debtors.write_text(DEBTORS_HEADER + "D1;b2b;Un SARL;;1 rue A;;75002;Paris;FR;;\n", encoding="utf-8")
    invoices.write_text(INVOICES_HEADER + "F1;D1;2024-11-01;2024-12-01;1000,00;EUR\n"
                        "F2;D1;2024-11-01;2025-01-10;400,00;EUR\n", encoding="utf-8")
    money.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                     "D1;2024-11-20;300,00;F1;ACOMPTE F1\nD1;2024-12-20;100,00;F2;ACOMPTE F2\n", encoding="utf-8")
    notes = tmp_path / "credit_notes.csv"
    notes.write_text("credit_note_number;debtor_ref;issue_date;amount;invoice_number\n"
                     "AV1;D1;2024-11-25;50,00;F1\n", encoding="utf-8")
    for csv in (debtors, invoices, money, notes):
        import_csv(store, csv, creditor_ref="ACME")
    _open(store, as_of=date(2024, 12, 5))  # F1 opens a case...
    _open(store, as_of=date(2025, 1, 15))  # ...that F2 joins
    with store.session() as s:
        assert verify(s) == []
        case = s.scalars(select(Case)).one()
        events = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq)).all()
        told = [(e.kind, e.occurred_on, e.payload["amount"]) for e in events if e.kind in ("payment", "credit_note")]
        assert told == [("payment", date(2024, 11, 20), "300.00"), ("credit_note", date(2024, 11, 25), "50.00"),
                        ("payment", date(2024, 12, 20), "100.00")]
    store.dispose()


def test_money_dated_after_the_opening_is_in_its_timeline(database_url: str, tmp_path: Path) -> None:
    """Bank statements imported before a catch-up run for a past day: a wire of 4 000 dated after that day.
    The case opened without it, no later run told it either, so its timeline never showed the wire while
    its balance, its letters and the aging counted it, and the report's recovered amounts left it out."""
    store = connect(database_url, upgrade=True)
    debtors, invoices, money = tmp_path / "debtors.csv", tmp_path / "invoices.csv", tmp_path / "money.csv"
    debtors.write_text(DEBTORS_HEADER + "D1;b2b;Un SARL;;1 rue A;;75002;Paris;FR;;\n", encoding="utf-8")
    invoices.write_text(INVOICES_HEADER + "F1;D1;2024-11-01;2024-12-01;10000,00;EUR\n", encoding="utf-8")
    money.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                     "D1;2024-12-20;4000,00;F1;VIREMENT\n", encoding="utf-8")
    for csv in (debtors, invoices, money):
        import_csv(store, csv, creditor_ref="ACME")
    _open(store, as_of=date(2024, 12, 5))
    with store.session() as s:
        assert verify(s) == []
        case = s.scalars(select(Case)).one()
        told = [(e.kind, e.occurred_on, e.payload["amount"]) for e in s.scalars(
            select(Event).where(Event.case_id == case.id, Event.kind == "payment"))]
        assert told == [("payment", date(2024, 12, 20), "4000.00")]
    store.dispose()


def _open(store: Store, *, as_of: date = AS_OF, batch_size: int = 500, serialize: bool | None = None) -> RunReport:
    workflow = load_workflow(REPO / "workflows" / "fr-b2b.yaml")
    report = RunReport(as_of=as_of, dry_run=False)
    open_cases(store.session, workflow, as_of, report, batch_size=batch_size,
               serialize=store.is_postgresql if serialize is None else serialize)
    return report


def _kinds(session: Session, case: Case) -> list[str]:
    return list(session.scalars(select(Event.kind).where(Event.case_id == case.id).order_by(Event.seq)))


def _statements(store: Store) -> Counter[str]:
    """INSERT and UPDATE statements sent from now on, by table, an executemany counting once; under
    "UPDATE table rows", the rows the UPDATEs were sent for; and the queries of invoices ("SELECT invoice")."""
    sent: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, parameters: object, _context: object,
              executemany: bool) -> None:
        words = statement.split()
        if words[0] == "SELECT" and words[1].startswith("invoice."):
            sent["SELECT invoice"] += 1
        if words[0] in ("INSERT", "UPDATE"):
            table = words[2] if words[0] == "INSERT" else words[1]
            sent[f"{words[0]} {table}"] += 1
            if words[0] == "UPDATE":
                sent[f"UPDATE {table} rows"] += (len(parameters) if executemany and isinstance(parameters, (list, tuple))
                                                 else 1)

    event.listen(store.bind, "before_cursor_execute", count)
    return sent
