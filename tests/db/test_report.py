"""The report: aging buckets and the funnel against hand-computed figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select

from engine.cases.run import run
from engine.core.money import format_amount
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.reports.aging import aging
from engine.reports.export import report_as_dict
from engine.reports.funnel import funnel
from engine.reports.html import render_report_html
from engine.reports.tables import debtors_table, render_report_tables
from engine.store.database import Store, connect
from engine.store.models import Case, Event
from tests.support import REPO

ROOT = REPO
HOSTILE = "Dupont & Fils <script>alert('x')</script>"

DEBTORS = f"""debtor_ref;kind;name
D1;b2b;{HOSTILE}
D2;b2c;Jeanne D'Arc
D3;b2b;Martin SA
"""
# Report day R = 2025-06-30; days past due on R in the comments.
INVOICES = """invoice_number;debtor_ref;issue_date;due_date;amount;currency
F1;D1;2025-05-31;2025-06-30;100.00;EUR
F2;D1;2025-05-30;2025-06-29;200.00;EUR
F3;D1;2025-05-01;2025-05-31;300.00;EUR
F4;D2;2025-04-30;2025-05-30;400.00;EUR
F5;D2;2025-03-01;2025-04-01;500.00;EUR
F6;D3;2025-01-30;2025-03-01;1000.00;EUR
F7;D3;2025-02-08;2025-03-10;700.00;EUR
F8;D3;2025-07-01;2025-07-31;800.00;EUR
F9;D3;2025-01-15;2025-02-15;90.00;USD
"""
#  F1 0 (not yet due) · F2 1 · F3 30 · F4 31 · F5 90 · F6 121 · F7 paid · F8 issued after R · F9 in USD
PAYMENTS = """debtor_ref;payment_date;amount;invoice_number;reference
D2;2025-06-10;150.00;F4;P-1
D3;2025-04-01;700.00;F7;P-2
D3;2025-07-05;1000.00;F6;P-3
"""
CREDIT_NOTES = """credit_note_number;debtor_ref;issue_date;amount;invoice_number
AV-1;D2;2025-06-01;50.00;F5
AV-2;D2;2025-07-02;20.00;F5
"""
R = date(2025, 6, 30)


def _csv(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    yield store
    store.dispose()


@pytest.fixture
def ledger(store: Store, tmp_path: Path) -> Store:
    """The aging data set: three debtors of ACME, plus another creditor's unpaid invoice."""
    for name, text in [("debtors.csv", DEBTORS), ("invoices.csv", INVOICES), ("payments.csv", PAYMENTS),
                       ("credit_notes.csv", CREDIT_NOTES)]:
        import_csv(store, _csv(tmp_path, name, text), creditor_ref="ACME")
    other = tmp_path / "other"
    other.mkdir()
    import_csv(store, _csv(other, "debtors.csv", "debtor_ref;kind;name\nX1;b2b;Autre SARL\n"), creditor_ref="OTHER")
    import_csv(store, _csv(other, "invoices.csv", "invoice_number;debtor_ref;issue_date;due_date;amount\n"
                                                  "G1;X1;2025-01-01;2025-02-01;5000.00\n"), creditor_ref="OTHER")
    return store


def _buckets(report) -> list[tuple[str, int, int, Decimal]]:
    return [(b.key, b.invoices, b.debtors, b.amount) for b in report.buckets]


def test_aging_buckets_by_days_past_due_with_partial_payments_and_credit_notes(ledger: Store) -> None:
    with ledger.session() as s:
        report = aging(s, R, creditor_ref="ACME")
    # F4 400 - 150 paid; F5 500 - 50 credit note (the second one is dated after R); F6's payment comes later.
    assert _buckets(report) == [
        ("not_due", 1, 1, Decimal("100.00")),
        ("1_30", 2, 1, Decimal("500.00")),
        ("31_60", 1, 1, Decimal("250.00")),
        ("61_90", 1, 1, Decimal("450.00")),
        ("over_90", 1, 1, Decimal("1000.00")),
    ]
    assert (report.total.invoices, report.total.debtors, report.total.amount) == (6, 3, Decimal("2300.00"))
    assert report.overdue == Decimal("2200.00")
    assert report.overdue_share == Decimal("0.9565")
    assert report.other_currencies == {"USD": 1}
    assert [(d.ref, d.invoices, d.total) for d in report.debtors] == [
        ("D3", 1, Decimal("1000.00")), ("D2", 2, Decimal("700.00")), ("D1", 3, Decimal("600.00"))]
    assert report.debtors[1].amounts == (Decimal("0.00"), Decimal("0.00"), Decimal("250.00"), Decimal("450.00"),
                                         Decimal("0.00"))
    assert all(isinstance(b.amount, Decimal) for b in report.buckets)


def test_aging_as_of_a_later_day_counts_later_payments_and_invoices(ledger: Store) -> None:
    with ledger.session() as s:
        report = aging(s, date(2025, 7, 10), creditor_ref="ACME", top=2)
    # F6 paid on 07-05 (gone); F8 issued 07-01, due 07-31; ten days later F1 is 10 days past due,
    # F2 11, F3 40, F4 41, F5 100 (and AV-2 takes 20 more off it).
    assert _buckets(report) == [
        ("not_due", 1, 1, Decimal("800.00")),
        ("1_30", 2, 1, Decimal("300.00")),
        ("31_60", 2, 2, Decimal("550.00")),
        ("61_90", 0, 0, Decimal("0.00")),
        ("over_90", 1, 1, Decimal("430.00")),
    ]
    assert report.total.amount == Decimal("2080.00")
    assert [d.ref for d in report.debtors] == ["D3", "D2"]  # top=2


def test_aging_without_creditor_filter_includes_every_creditor(ledger: Store) -> None:
    with ledger.session() as s:
        everyone = aging(s, R)
        nobody = aging(s, R, creditor_ref="NOPE")
    assert everyone.buckets[-1].amount == Decimal("6000.00")  # G1 (OTHER) is 149 days past due
    assert everyone.total.debtors == 4
    assert (nobody.total.invoices, nobody.total.amount, nobody.debtors) == (0, Decimal("0.00"), ())
    assert nobody.overdue_share is None


# The funnel data set: three debtors, one invoice each, due 2025-03-01, escalated by fr-b2b.
FUNNEL_DEBTORS = f"debtor_ref;kind;name\nA;b2b;Alpha SARL\nB;b2b;Beta & Cie\nC;b2b;L'Atelier {HOSTILE[7:]}\n"
FUNNEL_INVOICES = """invoice_number;debtor_ref;issue_date;due_date;amount
FA;A;2025-01-30;2025-03-01;1000.00
FB;B;2025-01-30;2025-03-01;1000.00
FC;C;2025-01-30;2025-03-01;1000.00
"""


@pytest.fixture
def escalated(store: Store, tmp_path: Path):
    """Run fr-b2b day by day; payments are imported on the day they arrive, as in real life."""
    payments = {
        # A pays everything and B 400 while at reminder2; B pays the rest at reminder3.
        date(2025, 3, 20): "A;2025-03-20;1000.00;FA;PA\nB;2025-03-20;400.00;FB;PB1\n",
        date(2025, 3, 30): "B;2025-03-30;600.00;FB;PB2\n",
    }
    workflow, states = _escalate(store, tmp_path, FUNNEL_DEBTORS, FUNNEL_INVOICES, payments)
    return store, workflow, states


def _escalate(store: Store, tmp_path: Path, debtors: str, invoices: str, payments: dict[date, str]):
    # The funnel follows cases to litigation unattended: the policy without its approvals (issue 11).
    path = ROOT / "workflows" / "fr-b2b.yaml"
    workflow = load_workflow(path, source=path.read_text(encoding="utf-8").replace("approval: required",
                                                                                   "approval: none"))
    import_csv(store, _csv(tmp_path, "debtors.csv", debtors), creditor_ref="ACME")
    import_csv(store, _csv(tmp_path, "invoices.csv", invoices), creditor_ref="ACME")
    states = {}
    for day in [date(2025, 3, 2), date(2025, 3, 6), date(2025, 3, 16), date(2025, 3, 20), date(2025, 3, 26),
                date(2025, 3, 30), date(2025, 4, 5), date(2025, 4, 20)]:
        if day in payments:
            path = _csv(tmp_path, f"payments-{day}.csv",
                        "debtor_ref;payment_date;amount;invoice_number;reference\n" + payments[day])
            import_csv(store, path, creditor_ref="ACME")
        report = run(store, workflow, day)
        states[day] = sorted((p.case_ref, p.dest) for p in report.planned)
    return workflow, states


def test_funnel_counts_reached_current_resolved_and_recovered(escalated) -> None:
    store, workflow, states = escalated
    # The data set does what the comments say (else the figures below test nothing).
    assert states[date(2025, 3, 20)] == [("ACME-FA", "paid")]
    assert states[date(2025, 3, 30)] == [("ACME-FB", "paid")]
    assert states[date(2025, 4, 20)] == [("ACME-FC", "litigation")]
    with store.session() as s:
        report = funnel(s, date(2025, 4, 30), [workflow])
    table = {step.state: (step.reached, step.current, step.resolved, step.recovered, step.payments)
             for step in report.steps}
    assert [step.state for step in report.steps] == [
        "due", "reminder1", "reminder2", "reminder3", "formal_notice", "litigation",
        "paid", "written_off", "disputed", "promised"]
    assert table == {
        "due": (3, 0, 0, Decimal("0.00"), 0),
        "reminder1": (3, 0, 0, Decimal("0.00"), 0),
        "reminder2": (3, 0, 1, Decimal("1400.00"), 2),
        "reminder3": (2, 0, 1, Decimal("600.00"), 1),
        "formal_notice": (1, 0, 0, Decimal("0.00"), 0),
        "litigation": (1, 1, 0, Decimal("0.00"), 0),
        "paid": (2, 2, 0, Decimal("0.00"), 0),
        "written_off": (0, 0, 0, Decimal("0.00"), 0),
        "disputed": (0, 0, 0, Decimal("0.00"), 0),
        "promised": (0, 0, 0, Decimal("0.00"), 0),
    }
    assert (report.cases, report.recovered, report.in_litigation) == (3, Decimal("2000.00"), 1)
    assert report.step("reminder3").resolution_rate == Decimal("0.5000")
    assert report.step("paid").resolution_rate is None


def test_funnel_as_of_a_past_day_reads_the_timeline_as_it_stood(escalated) -> None:
    store, workflow, _states = escalated
    with store.session() as s:
        report = funnel(s, date(2025, 3, 25), [workflow])
    assert {s.state: (s.reached, s.current) for s in report.steps if s.reached} == {
        "due": (3, 0), "reminder1": (3, 0), "reminder2": (3, 2), "paid": (1, 1)}
    assert report.step("reminder2").resolved == 1
    assert report.recovered == Decimal("1400.00")
    with store.session() as s:
        before = funnel(s, date(2025, 3, 1), workflow)
    assert (before.cases, before.recovered) == (0, Decimal("0.00"))


def test_html_escapes_hostile_names_and_shows_the_figures(escalated) -> None:
    store, workflow, _states = escalated
    with store.session() as s:
        balance = aging(s, date(2025, 4, 30), creditor_ref="ACME")
        steps = funnel(s, date(2025, 4, 30), [workflow], creditor_ref="ACME")
    # Only FC is unpaid: 1 000 €, 60 days past due, in litigation.
    assert [(b.key, b.amount) for b in balance.buckets if b.invoices] == [("31_60", Decimal("1000.00"))]
    page = render_report_html(balance, steps, title="Relances <ACME> & co", as_of=date(2025, 4, 30))
    assert "<script>" not in page and "alert('x')" not in page
    assert "L&#x27;Atelier &amp; Fils &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<title>Relances &lt;ACME&gt; &amp; co</title>" in page
    assert "Situation au 30\u00a0avril\u00a02025" in page  # a date never breaks across lines
    for figure in ["1\u00a0000,00\u00a0€", "2\u00a0000,00\u00a0€", "1\u00a0400,00\u00a0€", "100,0\u00a0%"]:
        assert figure in page  # total and overdue share; recovered in all and at reminder2
    assert 'Dossiers au contentieux</div><div class="value">1</div>' in page
    assert page.count("<svg") == 2
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # self-contained: nothing to fetch


def test_terminal_tables_and_json_show_the_same_figures(ledger: Store) -> None:
    workflow = load_workflow(ROOT / "workflows" / "fr-b2b.yaml")
    with ledger.session() as s:
        balance, steps = aging(s, R, creditor_ref="ACME"), funnel(s, R, [workflow])
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_report_tables(balance, steps, console)
    text = console.file.getvalue()
    assert format_amount(Decimal("2300.00")) in text
    assert HOSTILE in text  # printed as text: rich markup in a name is not interpreted
    assert "USD" in text
    data = json.loads(json.dumps(report_as_dict(balance, steps)))
    assert data["aging"]["total"] == {"key": "total", "label": "total", "invoices": 6, "debtors": 3,
                                      "amount": "2300.00"}
    assert data["aging"]["top_debtors"][0]["buckets"]["over_90"] == "1000.00"
    assert data["funnel"]["cases"] == 0  # no run in this data set: no case yet


def test_funnel_never_adds_payments_of_two_currencies(store: Store, tmp_path: Path) -> None:
    """1000 EUR and 1000 USD recovered at reminder2 made "2 000,00 €" recovered by the escalation."""
    invoices = ("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
                "FA;A;2025-01-30;2025-03-01;1000.00;EUR\nFU;B;2025-01-30;2025-03-01;1000.00;USD\n")
    payments = {date(2025, 3, 20): "A;2025-03-20;1000.00;FA;PA\nB;2025-03-20;1000.00;FU;PU\n"}
    workflow, states = _escalate(store, tmp_path, FUNNEL_DEBTORS, invoices, payments)
    assert states[date(2025, 3, 20)] == [("ACME-FA", "paid"), ("ACME-FU", "paid")]
    with store.session() as s:
        euros, dollars = (funnel(s, date(2025, 4, 30), [workflow], currency=code) for code in ("EUR", "USD"))
        balance = aging(s, date(2025, 4, 30))
    for report, code, other in ((euros, "EUR", "USD"), (dollars, "USD", "EUR")):
        assert (report.currency, report.recovered, report.other_currencies) == (code, Decimal("1000.00"), {other: 1})
        assert (report.step("reminder2").recovered, report.step("reminder2").payments) == (Decimal("1000.00"), 1)
        assert report.cases == 2  # counting cases adds no money: both count
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render_report_tables(balance, euros, console)
    text = console.file.getvalue()
    assert "2\u00a0000,00" not in text and format_amount(Decimal("1000.00")) in text
    assert "1 payment(s) in USD" in text
    assert report_as_dict(balance, euros)["funnel"]["currency"] == "EUR"
    page = render_report_html(balance, euros, title="ACME", as_of=date(2025, 4, 30))
    assert "2\u00a0000,00" not in page and "1 paiement(s) en USD" in page


def test_money_paid_before_a_case_opened_is_not_recovered_by_the_escalation(store: Store, tmp_path: Path) -> None:
    """An advance of 300 € paid on 20/02, before FA fell due and before its case opened, was counted as
    "recovered" at the initial step: the key figure credited the escalation with money it never chased."""
    payments = {date(2025, 3, 2): "A;2025-02-20;300.00;FA;ACOMPTE\n",  # imported before the case opens
                date(2025, 3, 20): "A;2025-03-20;700.00;FA;SOLDE\n"}  # the rest, at reminder2
    invoices = "invoice_number;debtor_ref;issue_date;due_date;amount\nFA;A;2025-01-30;2025-03-01;1000.00\n"
    workflow, states = _escalate(store, tmp_path, FUNNEL_DEBTORS, invoices, payments)
    assert states[date(2025, 3, 20)] == [("ACME-FA", "paid")]
    with store.session() as s:
        report = funnel(s, date(2025, 4, 30), [workflow])
        # The advance is in the case's timeline (so the data set tests what it says), dated before the opening.
        paid_on = s.scalars(select(Event.occurred_on).join(Case, Case.id == Event.case_id)
                            .where(Event.kind == "payment").order_by(Event.seq)).all()
    assert paid_on == [date(2025, 2, 20), date(2025, 3, 20)]
    assert (report.step("due").recovered, report.step("due").payments) == (Decimal("0.00"), 0)
    assert (report.step("reminder2").recovered, report.step("reminder2").payments) == (Decimal("700.00"), 1)
    assert report.recovered == Decimal("700.00")


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_terminal_tables_never_wrap_an_amount_whatever_the_width(ledger: Store, width: int) -> None:
    """At 80 columns the top debtors' amounts wrapped at their group spaces: "17 567,52 €" printed as "17" over
    "567,52 €", two numbers. An amount stays on one line; when every bucket cannot fit, each debtor's total and
    oldest bucket do."""
    workflow = load_workflow(ROOT / "workflows" / "fr-b2b.yaml")
    with ledger.session() as s:
        balance, steps = aging(s, R, creditor_ref="ACME"), funnel(s, R, [workflow])
    console = Console(file=io.StringIO(), width=width, color_system=None)
    render_report_tables(balance, steps, console)
    assert all(len(line) <= width for line in console.file.getvalue().splitlines())
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(debtors_table(balance, console))
    lines = console.file.getvalue().splitlines()
    header = next(line for line in lines if " inv. " in line)
    by_bucket = "over 90" in header
    assert by_bucket != ("oldest" in header)
    assert by_bucket == (width >= 200)  # this data's split needs over 100 columns
    for debtor in balance.debtors:
        row = next(line for line in lines if f" {debtor.ref} " in line)
        figures = [*(a for a in debtor.amounts if a), debtor.total] if by_bucket else [debtor.total]
        assert all(format_amount(figure) in row for figure in figures)
