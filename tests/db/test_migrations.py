"""The migrated schema is the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.store.database import SCHEMA_HEAD, StoreError, connect
from engine.store.models import Base
from tests.support import REPO


def test_empty_database_upgrades_to_head_and_matches_models(database_url: str) -> None:
    store = connect(database_url)
    assert store.current_revision() is None
    store.upgrade()
    # The head every command checks without Alembic is Alembic's head, read as Alembic reads it.
    assert store.current_revision() == store.head_revision() == SCHEMA_HEAD
    with store.bind.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == SCHEMA_HEAD
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []
    assert {"cases", "event", "invoice", "payment_allocation"} <= set(store.table_names())
    store.dispose()


def test_upgrade_twice_is_harmless_and_check_schema_passes(database_url: str) -> None:
    store = connect(database_url, upgrade=True)
    store.upgrade()
    store.check_schema()
    store.dispose()


def test_check_schema_on_empty_database_tells_to_upgrade(sqlite_url: str) -> None:
    store = connect(sqlite_url)
    with pytest.raises(StoreError, match="relance db upgrade"):
        store.check_schema()


def test_a_populated_first_schema_database_upgrades_to_head_keeping_its_rows(database_url: str) -> None:
    """`relance db upgrade` on a database a team has used: rows referencing invoices must survive."""
    from datetime import date
    from decimal import Decimal

    from sqlalchemy import text

    from engine.cases.run import run
    from engine.core.workflow import load_workflow

    store = connect(database_url)
    store.upgrade("0001")
    with store.bind.begin() as conn:
        conn.execute(text("INSERT INTO creditor (id, ref, name, country) VALUES (1, 'ACME', 'Acme', 'FR')"))
        conn.execute(text(
            "INSERT INTO debtor (id, creditor_id, ref, kind, name, country) VALUES (1, 1, 'D1', 'b2b', 'Dupont', 'FR')"
        ))
        conn.execute(text(
            "INSERT INTO invoice (id, creditor_id, debtor_id, number, issue_date, due_date, amount, currency) "
            "VALUES (1, 1, 1, 'F1', '2026-01-01', '2026-02-01', 1000.00, 'EUR'),"
            "       (2, 1, 1, 'F2', '2026-01-05', '2026-02-05', 300.00, 'EUR')"
        ))
        conn.execute(text(
            "INSERT INTO payment (id, creditor_id, debtor_id, payment_date, amount, natural_key) "
            "VALUES (1, 1, 1, '2026-01-20', 300.00, 'k1')"
        ))
        conn.execute(text("INSERT INTO payment_allocation (id, invoice_id, payment_id, amount) VALUES (1, 2, 1, 300.00)"))
    store.upgrade()
    assert store.current_revision() == store.head_revision()
    with store.bind.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM payment_allocation")).scalar_one() == 1
        assert conn.execute(text("SELECT sum(amount) FROM invoice")).scalar_one() == Decimal("1300.00")
    # The upgraded database runs: the unpaid invoice gets a case, the paid one does not.
    report = run(store, load_workflow(REPO / "workflows" / "fr-b2b.yaml"), date(2026, 2, 10))
    assert report.cases_opened == 1
    store.dispose()


def test_existing_payments_and_credit_notes_take_the_currency_of_their_invoices(database_url: str) -> None:
    """0009 gives each stored payment a currency: its named invoice's, else the one it was allocated to, else EUR."""
    from sqlalchemy import text

    store = connect(database_url)
    store.upgrade("0008")
    with store.bind.begin() as conn:
        conn.execute(text("INSERT INTO creditor (id, ref, name, country) VALUES (1, 'ACME', 'Acme', 'FR')"))
        conn.execute(text("INSERT INTO debtor (id, creditor_id, ref, kind, name, country, do_not_chase) "
                          "VALUES (1, 1, 'D1', 'b2b', 'Dupont', 'FR', false)"))
        conn.execute(text(
            "INSERT INTO invoice (id, creditor_id, debtor_id, number, issue_date, due_date, amount, currency, settled) "
            "VALUES (1, 1, 1, 'U1', '2026-01-01', '2026-02-01', 100.00, 'USD', false),"
            "       (2, 1, 1, 'G1', '2026-01-01', '2026-02-01', 100.00, 'GBP', false)"))
        conn.execute(text(
            "INSERT INTO payment (id, creditor_id, debtor_id, payment_date, amount, invoice_number, natural_key) "
            "VALUES (1, 1, 1, '2026-01-20', 10.00, 'U1', 'named'), (2, 1, 1, '2026-01-20', 10.00, NULL, 'spent'),"
            "       (3, 1, 1, '2026-01-20', 10.00, NULL, 'credit')"))
        conn.execute(text("INSERT INTO payment_allocation (id, invoice_id, payment_id, amount) VALUES (1, 2, 2, 10.00)"))
        conn.execute(text("INSERT INTO credit_note (id, creditor_id, debtor_id, number, issue_date, amount, "
                          "invoice_number) VALUES (1, 1, 1, 'AV1', '2026-01-21', 5.00, 'G1')"))
    store.upgrade()
    with store.bind.connect() as conn:
        assert dict(conn.execute(text("SELECT natural_key, currency FROM payment")).all()) == {
            "named": "USD", "spent": "GBP", "credit": "EUR"}
        assert conn.execute(text("SELECT currency FROM credit_note")).scalar_one() == "GBP"
    store.dispose()


def test_payments_without_reference_or_invoice_are_keyed_by_their_currency_too(database_url: str, tmp_path) -> None:
    """0010 adds the currency to the stored key of payments without a reference or an invoice, as the import
    now computes it: importing the same rows again changes nothing, and 100 EUR beside 100 USD goes in."""
    from sqlalchemy import text

    from engine.imports.importer import import_csv
    from tests.support import CSV

    store = connect(database_url)
    store.upgrade("0009")
    for name in ("debtors.csv", "invoices.csv"):  # D1 owes F-001 in EUR
        import_csv(store, CSV / name, creditor_ref="ACME")
    legacy = [(None, None, "row|D1|2026-04-02|100.00|", "USD"),  # as the import keyed them before
              (None, "F-001", "row|D1|2026-04-02|100.00|F-001", "EUR"), ("VIR-1", None, "ref|D1|VIR-1", "EUR")]
    with store.bind.begin() as conn:
        for reference, invoice, key, currency in legacy:
            conn.execute(text(
                "INSERT INTO payment (creditor_id, debtor_id, payment_date, amount, reference, invoice_number, "
                "natural_key, currency) SELECT creditor_id, id, '2026-04-02', 100.00, :reference, :invoice, :key, "
                ":currency FROM debtor WHERE ref = 'D1'"),
                {"reference": reference, "invoice": invoice, "key": key, "currency": currency})
    store.upgrade()
    with store.bind.connect() as conn:
        assert sorted(conn.execute(text("SELECT natural_key FROM payment")).scalars()) == [
            "ref|D1|VIR-1", "row|D1|2026-04-02|100.00|F-001", "row|D1|2026-04-02|100.00||USD"]
    (tmp_path / "payments.csv").write_text(
        "debtor_ref;payment_date;amount;invoice_number;reference;currency\n"
        "D1;2026-04-02;100.00;;;USD\nD1;2026-04-02;100.00;F-001;;\nD1;2026-04-02;100.00;;VIR-1;EUR\n"
        "D1;2026-04-02;100.00;;;EUR\n", encoding="utf-8")
    report = import_csv(store, tmp_path / "payments.csv", creditor_ref="ACME")
    assert (report.inserted, report.unchanged) == (1, 3)
    store.dispose()


def test_closed_on_of_cases_closed_before_the_fix_is_the_day_of_their_closing_step(database_url: str) -> None:
    """0011: a case closed by a payment of 12 February, seen by the run of 25 February, kept closed_on = the 25th
    (what the engine wrote before); its timeline dates the step the 12th. An open case keeps no date."""
    from datetime import date

    from sqlalchemy import text

    from engine.cases.run import run
    from engine.core.workflow import load_workflow
    from engine.imports.importer import import_csv
    from tests.support import CSV

    store = connect(database_url)
    store.upgrade("0010")
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    workflow = load_workflow(REPO / "workflows" / "fr-b2b.yaml")
    run(store, workflow, date(2025, 2, 10))
    import_csv(store, CSV / "payments.csv", creditor_ref="ACME")  # D2 pays F-003 in full on 12 February
    run(store, workflow, date(2025, 2, 25))
    with store.bind.begin() as conn:
        closed = conn.execute(text("SELECT id FROM cases WHERE closed = :yes"), {"yes": True}).scalars().all()
        assert len(closed) == 1
        last_step = conn.execute(text("SELECT occurred_on FROM event WHERE case_id = :id AND kind = 'state_change' "
                                      "ORDER BY seq DESC LIMIT 1"), {"id": closed[0]}).scalar_one()
        assert str(last_step) == "2025-02-12"
        # The value the engine wrote before the fix: the day of the run that saw the payment.
        conn.execute(text("UPDATE cases SET closed_on = :day WHERE id = :id"),
                     {"day": date(2025, 2, 25), "id": closed[0]})
    store.upgrade()
    assert store.current_revision() == SCHEMA_HEAD
    with store.bind.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, closed_on FROM cases")).tuples().all())
    assert str(rows.pop(closed[0])) == "2025-02-12"
    assert rows and set(rows.values()) == {None}  # the open cases have no closing day
    store.dispose()
