"""A claim a lawyer can sign, through the real run, letters and store (SQLite and PostgreSQL).

One workspace-like portfolio, run day by day from 5 January to 15 March 2026 with both shipped workflows:
- D-EU owes 1 000 EUR and 5 000 USD: two cases, never one sum;
- D-OLD owes a B2B invoice due 1 March 2021 (time-barred after 1 March 2026, L110-4): it is claimed
  with 2021's rates and reaches the lawyer before that day;
- D-CONS owes a consumer invoice due 1 February 2023 (time-barred since 1 February 2025, L218-2) and
  one due December 2025: the notice claims only the second; D-BARRED owes only a time-barred one;
- D-OK is an ordinary B2B debtor; a new invoice of D-OK falls due after its formal notice.
"""

from __future__ import annotations

import re
import zipfile
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.cases.letters import LetterWriter
from engine.cases.run import run
from engine.cases.steps import record_receipt
from engine.core.machine import Escalator
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.letters import Creditor, Party
from engine.reports.prescription import prescription_watch
from engine.store.database import connect
from engine.store.events import LetterSent, NoticeReceived, TimeBarred, read_event
from engine.store.models import Case, Debtor, Document, Event, Invoice
from tests.conftest import fresh_postgres_database
from tests.support import REPO

NBSP = "\u00a0"
DEBTORS = """debtor_ref;kind;name;civility;is_merchant
D-EU;b2b;Martin Import SARL;;
D-OLD;b2b;Vieux Client SAS;;yes
D-CONS;b2c;Paul Durand;M.;
D-BARRED;b2c;Anne Morel;Mme;
D-OK;b2b;Cabinet Leroy SELARL;;
"""
INVOICES = """invoice_number;debtor_ref;issue_date;due_date;amount;currency
E1;D-EU;2025-11-01;2025-12-01;1000.00;EUR
U1;D-EU;2025-11-01;2025-12-01;5000.00;USD
O1;D-OLD;2021-02-01;2021-03-01;2000.00;EUR
C1;D-CONS;2023-01-02;2023-02-01;800.00;EUR
C2;D-CONS;2025-11-10;2025-12-10;900.00;EUR
B1;D-BARRED;2023-01-02;2023-02-01;650.00;EUR
K1;D-OK;2025-11-15;2025-12-15;1200.00;EUR
K2;D-OK;2026-01-10;2026-02-10;700.00;EUR
"""
CREDITOR = Creditor(name="Atelier Lumière SAS", address_lines=("12 rue des Archives",), postal_code="75004",
                    city="Paris", iban="FR76 3000 4000 0312 3456 7890 143", bic="BNPAFRPPXXX", place="Paris",
                    legal_form="SAS", share_capital="50 000 €", rcs="RCS Paris 812 345 678")
COUNSEL = Party("SELARL Moreau Avocats", ("45 boulevard Haussmann",), "75009", "Paris")
FIRST, LAST = date(2026, 1, 5), date(2026, 3, 15)


def text_of(path: Path) -> str:
    with zipfile.ZipFile(path) as package:
        xml = package.read("word/document.xml").decode("utf-8")
    paragraphs = re.findall(r"<w:p[ >].*?</w:p>", xml, re.DOTALL)
    return "\n".join("".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", p)) for p in paragraphs)


@pytest.fixture(scope="module")
def workflows():
    # The claim's rules, unattended: the shipped policies without their approvals (tested in test_channels).
    return {kind: load_workflow(path, source=path.read_text(encoding="utf-8").replace("approval: required",
                                                                                      "approval: none"))
            for kind, path in (("b2b", REPO / "workflows" / "fr-b2b.yaml"),
                               ("b2c", REPO / "workflows" / "fr-b2c.yaml"))}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portfolio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, workflows):
    """The portfolio run once per backend (seventy days of two workflows), shared by the tests that read it."""
    tmp_path = tmp_path_factory.mktemp("claim")
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'relance.sqlite'}" if request.param == "sqlite"
               else stack.enter_context(fresh_postgres_database()))
        yield from _run_portfolio(url, tmp_path, workflows)


def _run_portfolio(database_url: str, tmp_path: Path, workflows):
    store = connect(database_url, upgrade=True)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, tmp_path / name, creditor_ref="ACME")
    writer = LetterWriter(CREDITOR, workflows, tmp_path / "out", counsel=COUNSEL)
    reports = []
    day = FIRST
    while day <= LAST:
        for kind, workflow in workflows.items():
            reports.append(run(store, workflow, day, perform=writer, debtor_kinds=(kind,)))
        day += timedelta(days=1)
    yield store, tmp_path / "out", reports, writer
    store.dispose()


def cases_of(session, debtor_ref: str) -> list[Case]:
    return list(session.scalars(select(Case).join(Debtor).where(Debtor.ref == debtor_ref).order_by(Case.id)))


def letters_of(session, case: Case, out: Path) -> dict[str, str]:
    return {doc.state: text_of(out / doc.path) for doc in session.scalars(
        select(Document).where(Document.case_id == case.id).order_by(Document.id))}


def events_of(session, case: Case) -> list[tuple[date, object]]:
    return [(e.occurred_on, read_event(e.kind, e.payload)) for e in session.scalars(
        select(Event).where(Event.case_id == case.id).order_by(Event.seq))]


def test_the_run_goes_on_for_everyone_and_no_case_fails(portfolio) -> None:
    _store, _out, reports, _writer = portfolio
    assert [error for report in reports for error in report.errors] == []


def test_two_currencies_are_two_cases_and_never_one_sum(portfolio) -> None:
    store, out, _reports, _writer = portfolio
    with store.session() as s:
        eur, usd = cases_of(s, "D-EU")
        assert (eur.currency, usd.currency) == ("EUR", "USD")
        assert [i.number for i in eur.invoices] == ["E1"] and [i.number for i in usd.invoices] == ["U1"]
        notice = letters_of(s, usd, out)["formal_notice"]
    assert f"5{NBSP}000,00{NBSP}$US" in notice and "6 000" not in notice.replace(NBSP, " ")
    # The 40 EUR indemnity stays in euros, shown apart from the dollar total.
    assert f"40,00{NBSP}€" in notice and "En sus, en euros" in notice


def test_a_2021_invoice_is_claimed_with_2021_rates_before_it_is_time_barred(portfolio) -> None:
    store, out, _reports, writer = portfolio
    with store.session() as s:
        (case,) = cases_of(s, "D-OLD")
        letters = letters_of(s, case, out)
    assert case.state == "litigation"  # the hand-off went out before 1 March 2026
    assert "du 02/03/2021 au 30/06/2021" in letters["formal_notice"] and f"10,00{NBSP}%" in letters["formal_notice"]
    assert "Juridiction : tribunal de commerce du domicile du débiteur — débiteur commerçant." in letters["litigation"]
    assert "SELARL Moreau Avocats" in letters["litigation"]
    assert {"2021 S1", "2021 S2"} <= writer.rates_used.unverified  # told to the team by `relance run`


def test_a_time_barred_consumer_invoice_is_never_put_on_notice(portfolio) -> None:
    store, out, _reports, _writer = portfolio
    with store.session() as s:
        (case,) = cases_of(s, "D-CONS")
        c1, c2 = sorted(case.invoices, key=lambda i: i.number)
        letters = letters_of(s, case, out)
        barred = [p for _on, p in events_of(s, case) if isinstance(p, TimeBarred)]
        (alone,) = cases_of(s, "D-BARRED")
        alone_events = [p for _on, p in events_of(s, alone) if isinstance(p, TimeBarred)]
    assert case.state == "formal_notice"
    assert (c1.noticed_on, c2.noticed_on) == (None, date(2026, 3, 6))
    notice = letters["formal_notice"]
    lines = notice.splitlines()
    assert "C2" in lines and "C1" not in lines  # the invoice table's cells: C2 only (the case ref is ACME-C1)
    assert [(p.invoice, p.prescribed_on) for p in barred] == [("C1", date(2025, 2, 1))]
    assert "L218-2" in (barred[0].article or "")
    assert notice.startswith("Atelier") and "Monsieur," in notice  # civility M.
    # Only a time-barred invoice: reminders, but never the formal notice.
    assert alone.state == "reminder3" and "formal_notice" not in alone.steps_taken
    assert [p.invoice for p in alone_events] == ["B1"]


def test_an_invoice_due_after_the_notice_gets_a_case_of_its_own(portfolio) -> None:
    store, out, _reports, _writer = portfolio
    with store.session() as s:
        first, second = cases_of(s, "D-OK")
        handoff = letters_of(s, first, out)["litigation"]
        opened = events_of(s, second)[0][1]
        assert [i.number for i in first.invoices] == ["K1"] and [i.number for i in second.invoices] == ["K2"]
    assert first.state == "litigation" and "K2" not in handoff
    assert "après la mise en demeure du dossier ACME-K1" in (opened.reason or "")  # type: ignore[attr-defined]
    assert second.state.startswith("reminder")  # its own reminders first
    assert "tribunal judiciaire" in handoff and "SELARL" in handoff  # not a merchant by its form


def test_every_history_line_of_every_letter_is_in_its_timeline(portfolio) -> None:
    """No letter recalls a contact its case's timeline does not record before it."""
    store, out, _reports, _writer = portfolio
    with store.session() as s:
        documents = list(s.scalars(select(Document).order_by(Document.id)))
        assert len(documents) >= 20
        checked = 0
        for doc in documents:
            letter_event = s.get(Event, doc.event_id)
            recorded = set()
            for on, payload in [(e.occurred_on, read_event(e.kind, e.payload)) for e in s.scalars(
                    select(Event).where(Event.case_id == doc.case_id, Event.seq < letter_event.seq))]:
                if isinstance(payload, LetterSent) and payload.channel in ("letter", "registered_letter"):
                    recorded.add((on, payload.reference))
            for line in text_of(out / doc.path).splitlines():
                if not line.startswith("– le "):
                    continue
                checked += 1
                assert "appel téléphonique" not in line and "courriel" not in line, (doc.path, line)
                reference = re.search(r"\(réf\. ([^)]+)\)", line)
                assert reference is not None, line
                assert any(ref == reference.group(1) and f"{on.day}" in line for on, ref in recorded), (doc.path, line)
        assert checked >= 10


def test_report_names_the_invoices_reaching_prescription(portfolio) -> None:
    store, _out, _reports, _writer = portfolio
    with store.session() as s:
        soon = prescription_watch(s, date(2026, 1, 5))
        later = prescription_watch(s, date(2026, 3, 15))
    assert [(line.invoice, line.barred) for line in soon] == [("B1", True), ("C1", True), ("O1", False)]
    assert soon[-1].prescription_on == date(2026, 3, 1) and soon[-1].days_left == 55
    assert [(line.invoice, line.barred) for line in later] == [("B1", True), ("C1", True), ("O1", True)]


def test_a_receipt_starts_b2c_interest_and_the_letter_says_so(database_url: str, tmp_path: Path, workflows) -> None:
    """Notice sent 21 March 2026, presented 23 March, received 26 March: interest on 900.00 at 2.62 %
    (2026 S1, other cases) from 27 March; the hand-off 30 days after the receipt, on 25 April:
    27 March – 25 April = 30 days, 900 × 0.0262 × 30 / 365 = 1.9381 → 1.94."""
    store = connect(database_url, upgrade=True)
    (tmp_path / "debtors.csv").write_text("debtor_ref;kind;name\nP1;b2c;Jean Petit\n", encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(
        "invoice_number;debtor_ref;issue_date;due_date;amount\nX1;P1;2025-12-01;2026-01-01;900.00\n", encoding="utf-8")
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, tmp_path / name, creditor_ref="ACME")
    workflow = workflows["b2c"]
    writer = LetterWriter(CREDITOR, workflows, tmp_path / "out", counsel=COUNSEL)
    for day in (date(2026, 1, 20), date(2026, 2, 9), date(2026, 3, 1), date(2026, 3, 21)):
        run(store, workflow, day, perform=writer)
    with store.session() as s:
        case = s.scalar(select(Case))
        assert case.state == "formal_notice"
        record_receipt(s, case, Escalator(workflow), tracking="1A 012 345 6789 0", presented_on=date(2026, 3, 23),
                       received_on=date(2026, 3, 26), on=date(2026, 3, 28), by="alice")
        assert case.next_check_at == date(2026, 4, 25)  # 30 days since the receipt, not since the letter
        assert s.scalar(select(Invoice)).notice_received_on == date(2026, 3, 26)
    assert run(store, workflow, date(2026, 4, 24), perform=writer).steps == 0
    assert [p.dest for p in run(store, workflow, date(2026, 4, 25), perform=writer).planned] == ["litigation"]
    with store.session() as s:
        case = s.scalar(select(Case))
        handoff = letters_of(s, case, tmp_path / "out")["litigation"]
        receipts = [p for _on, p in events_of(s, case) if isinstance(p, NoticeReceived)]
    assert [(r.tracking, r.received_on, r.invoices) for r in receipts] == [("1A 012 345 6789 0", date(2026, 3, 26),
                                                                            ("X1",))]
    assert f"1,94{NBSP}€" in handoff
    assert f"à compter de la réception de la mise en demeure le 26{NBSP}mars{NBSP}2026" in handoff
    assert f"reçue le 26{NBSP}mars{NBSP}2026" in handoff and "1A 012 345 6789 0" in handoff
    assert "avis de réception" in handoff  # the enclosure exists: the receipt was recorded
    store.dispose()
