"""The letter writer (engine.cases.letters): where letters land, what they record, and orphan files; both backends.

Letters are rendered from the shipped French pack. Fixtures: D1 owes F-001 1 200.00 due 1 February 2025
(and F-002 300.50 due 19 February); fr-b2b sends reminder1 on 6 February (e-mail + phone), reminder2
ten days later by letter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.cases.letters import LetterWriter, orphan_files
from engine.cases.lookup import find_case
from engine.cases.run import run
from engine.core.case import Action, Step
from engine.core.claim import InvoiceDebt, claim, load_rates
from engine.core.workflow import Workflow, load_workflow
from engine.imports.importer import import_csv
from engine.letters import CompiledTemplate, Creditor, build_context
from engine.letters.render import render_content
from engine.letters.wording import rendered_text
from engine.store.database import connect
from engine.store.models import Document, Event
from engine.store.timeline import verify
from tests.support import CSV, DEBTORS_HEADER, INVOICES_HEADER, PACK, SHIPPED_WORKFLOWS

CREDITOR = Creditor(name="ACME SAS", address_lines=("1 rue du Test",), postal_code="75001", city="Paris",
                    iban="FR76 3000 6000 0112 3456 7890 189", signatory="A. Martin", place="Paris")

# reminder1 goes out both by letter and by e-mail: one step, two channels, one template.
TWO_CHANNELS = f"""\
name: two-channels
version: 1
letters: {PACK}
initial: due
states:
  due: {{}}
  reminder1:
    letter: relance_1.docx
    channel: [letter, email]
  paid: {{final: true}}
transitions:
  - trigger: escalate
    source: due
    dest: reminder1
    after: 5 days
    since: due_date
  - trigger: payment
    source: "*"
    dest: paid
    when: "balance <= 0"
"""


@pytest.fixture(scope="module")
def workflow() -> Workflow:
    return load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    yield store
    store.dispose()


def writer(workflow: Workflow, output: Path) -> LetterWriter:
    return LetterWriter(CREDITOR, {"b2b": workflow, "b2c": workflow}, output)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_letters_land_at_debtor_case_step_state_and_their_hash_is_the_files(store, workflow, tmp_path: Path) -> None:
    out = tmp_path / "output"
    for day in (date(2025, 2, 6), date(2025, 2, 16)):
        run(store, workflow, day, perform=writer(workflow, out))
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["D1/ACME-F-001/01-reminder1.docx", "D1/ACME-F-001/02-reminder2.docx",
                     "D2/ACME-F-003/01-reminder1.docx"]
    with store.session() as s:
        documents = s.scalars(select(Document).order_by(Document.id)).all()
        letters = {e.id: e.payload["sha256"] for e in s.scalars(select(Event).where(Event.kind == "letter"))}
        assert sorted(Path(d.path).as_posix() for d in documents) == files  # relative: the folder may move
        for document in documents:
            assert document.sha256 == sha256(out / document.path) == letters[document.event_id]
        assert verify(s, out) == []


def test_a_state_with_two_letter_channels_writes_one_file(store, tmp_path: Path, monkeypatch) -> None:
    rendered: list[Path] = []

    def counting(template: Path, context: Mapping[str, object], **options: object) -> bytes:
        rendered.append(template)
        return render_content(template, context, **options)  # type: ignore[arg-type]

    monkeypatch.setattr("engine.cases.letters.render_content", counting)
    path = tmp_path / "two.yaml"
    path.write_text(TWO_CHANNELS, encoding="utf-8")
    two = load_workflow(path)
    out = tmp_path / "output"
    report = run(store, two, date(2025, 2, 6), perform=writer(two, out))
    assert report.letters == 1 and len(rendered) == 1  # two channels carry it, one letter is rendered...
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.docx")] == ["D1/ACME-F-001/01-reminder1.docx"]
    with store.session() as s:
        documents = s.scalars(select(Document).order_by(Document.id)).all()
    # ...and recorded once per channel, each under its own key, both naming that one file.
    assert [(d.step_key, Path(d.path).as_posix()) for d in documents] == [
        ("1:reminder1/0", "D1/ACME-F-001/01-reminder1.docx"), ("1:reminder1/1", "D1/ACME-F-001/01-reminder1.docx")]
    assert documents[0].sha256 == documents[1].sha256 == sha256(out / documents[0].path)


def test_a_step_written_again_goes_to_the_same_file(store, workflow, tmp_path: Path) -> None:
    """What a crash between writing and committing leaves is overwritten, not doubled."""
    run(store, workflow, date(2025, 2, 3))
    out = tmp_path / "output"
    step, action = Step("escalate", "due", "reminder1", date(2025, 2, 6), {}), Action("email", "reminder1", "relance_1.docx", 8)
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        case.step_count = 1
        first = writer(workflow, out)(s, case, step, action)
        again = writer(workflow, out)(s, case, step, action)  # a fresh writer, as after a restart
    assert first is not None and again is not None and first.path == again.path
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["01-reminder1.docx"]
    with store.session() as s:  # a phone call writes nothing
        assert writer(workflow, out)(s, find_case(s, "ACME-F-001"), step, Action("phone", "reminder1")) is None


def test_a_pdf_that_fails_does_not_undo_the_letter(store, workflow, tmp_path: Path, monkeypatch) -> None:
    """PDFs are made after the commits, in one batch; LibreOffice failing leaves the letters and steps alone."""
    from engine.letters.pdf import PdfError

    def no_libreoffice(paths: object, **_options: object) -> object:
        raise PdfError("soffice not found")

    monkeypatch.setattr("engine.cases.letters.convert_batch", no_libreoffice)
    out = tmp_path / "output"
    with_pdf = LetterWriter(CREDITOR, {"b2b": workflow}, out, pdf=True)
    report = run(store, workflow, date(2025, 2, 6), perform=with_pdf)
    assert (report.letters, report.errors) == (1, [])
    assert with_pdf.pending_pdf == [Path("D1/ACME-F-001/01-reminder1.docx")]
    with_pdf.convert_pending()
    assert with_pdf.pdf_failures == ["D1/ACME-F-001/01-reminder1.docx: soffice not found"]
    assert with_pdf.pending_pdf == []
    with store.session() as s:
        assert [Path(d.path).as_posix() for d in s.scalars(select(Document))] == ["D1/ACME-F-001/01-reminder1.docx"]
    assert (out / "D1/ACME-F-001/01-reminder1.docx").is_file()


def test_a_hostile_debtor_reference_stays_inside_the_output_folder(tmp_path: Path, database_url: str, workflow) -> None:
    store = connect(database_url, upgrade=True)
    try:
        (tmp_path / "debtors.csv").write_text(DEBTORS_HEADER + "../../etc;b2b;Evil SARL;;1 rue A;;75001;Paris;FR;;\n")
        (tmp_path / "invoices.csv").write_text(INVOICES_HEADER + "../x;../../etc;2025-01-01;2025-02-01;10.00;EUR\n")
        for name in ("debtors.csv", "invoices.csv"):
            import_csv(store, tmp_path / name, creditor_ref="ACME")
        out = tmp_path / "deep" / "output"
        run(store, workflow, date(2025, 2, 6), perform=writer(workflow, out))
    finally:
        store.dispose()
    written = [p for p in tmp_path.rglob("*.docx")]
    assert [p.relative_to(out).as_posix() for p in written] == ["etc/ACME-.._x/01-reminder1.docx"]


def test_the_letter_recalls_earlier_contacts_but_not_itself(store, workflow, tmp_path: Path) -> None:
    out = tmp_path / "output"
    for day in (date(2025, 2, 6), date(2025, 2, 16)):
        run(store, workflow, day, perform=writer(workflow, out))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        step = Step("escalate", "reminder1", "reminder2", date(2025, 2, 16), {})
        letter = writer(workflow, out).letter_data(s, case, step, Action("letter", "reminder2", "relance_2.docx", 8), workflow)
    # reminder1 was planned by e-mail and phone; neither was recorded as done, so the letter recalls nothing
    # (a letter only states what the timeline recorded).
    assert letter.history == []
    assert (letter.letter_ref, letter.state_label, letter.as_of) == ("ACME-F-001/02", "Deuxième relance", date(2025, 2, 16))
    # F-002 is not due until 19 February: only F-001 is late. 1200 × 13.15 % × 15 / 365 = 6.4849 → 6.48.
    assert (letter.indemnity, letter.penalties) == (Decimal("40.00"), Decimal("6.48"))


def test_orphan_files_are_the_unrecorded_letters_and_temporary_files(store, workflow, tmp_path: Path) -> None:
    out = tmp_path / "output"
    with store.session() as s:
        assert orphan_files(s, out) == []  # no output folder yet
    run(store, workflow, date(2025, 2, 6), perform=writer(workflow, out))
    folder = out / "D1" / "ACME-F-001"
    recorded = folder / "01-reminder1.docx"
    recorded.with_suffix(".pdf").write_bytes(b"%PDF")  # the recorded letter's PDF belongs to it
    stray = folder / "02-reminder2.docx"
    stray.write_bytes(b"written, never committed")
    stray.with_suffix(".pdf").write_bytes(b"%PDF")
    temporary = folder / ".03-reminder3.docx.k2j4.tmp"
    temporary.write_bytes(b"half written")
    with store.session() as s:
        assert orphan_files(s, out) == sorted([stray, stray.with_suffix(".pdf"), temporary])


def test_a_credit_note_reaches_the_statement_as_an_avoir(store, workflow, tmp_path: Path) -> None:
    """The fixtures' credit note AV-001 (100.00 on F-001, 5 February 2025) and payment VIR-0001 (500.00 on
    10 February, oldest invoice first: F-001) travel from the ledger to the formal notice's statement each
    named for what it is; the penalties are those of two payments on the same days."""
    for name in ("credit_notes.csv", "payments.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    run(store, workflow, date(2025, 2, 3))
    on = date(2025, 3, 31)
    step = Step("escalate", "reminder3", "formal_notice", on, {})
    action = Action("registered_letter", "formal_notice", "mise_en_demeure.docx", 8)
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        letter = writer(workflow, tmp_path / "output").letter_data(s, case, step, action, workflow)
    rows = [(r["kind"], r["label"], r["amount_value"]) for r in build_context(letter)["statement_rows"]
            if r["kind"] in ("payment", "credit_note")]
    assert rows == [("credit_note", "Avoir n°\u00a0AV-001 du 05/02/2025", Decimal("-100.00")),
                    ("payment", "Règlement du 10/02/2025", Decimal("-500.00"))]
    [f001] = [line for line in letter.statement if line.number == "F-001"]
    as_payments = claim([InvoiceDebt("F-001", Decimal("1200.00"), date(2025, 2, 1),
                                     ((date(2025, 2, 5), Decimal("100.00")), (date(2025, 2, 10), Decimal("500.00"))))],
                        debtor_kind="b2b", as_of=on, rates=load_rates())
    assert f001.accruals == as_payments.lines[0].accruals and f001.penalties == as_payments.penalties


def test_the_invoice_table_says_when_a_credit_note_took_part_of_what_it_calls_settled(
        store, workflow, tmp_path: Path) -> None:
    """F-001's 600.00 taken off is a 100.00 credit note and a 500.00 payment: the table's column must not
    read « Réglé », which says the debtor paid it all; F-003's letter, with payments alone, still does."""
    for name in ("credit_notes.csv", "payments.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    run(store, workflow, date(2025, 2, 5))  # F-003 falls due on the 4th
    step = Step("escalate", "reminder3", "formal_notice", date(2025, 3, 31), {})
    action = Action("registered_letter", "formal_notice", "mise_en_demeure.docx", 8)
    texts, contexts = {}, {}
    with store.session() as s:
        for ref in ("ACME-F-001", "ACME-F-003"):
            letter = writer(workflow, tmp_path / "output").letter_data(s, find_case(s, ref), step, action, workflow)
            contexts[ref] = build_context(letter)
            texts[ref] = rendered_text(CompiledTemplate(PACK / action.template).render(contexts[ref]))
    [f001] = [line for line in contexts["ACME-F-001"]["invoices"] if line["number"] == "F-001"]
    assert (f001["paid_value"], f001["credited_value"]) == (Decimal("600.00"), Decimal("100.00"))
    assert contexts["ACME-F-001"]["has_credit_notes"] and "Réglé / avoirs" in texts["ACME-F-001"]
    assert not contexts["ACME-F-003"]["has_credit_notes"]
    assert "Réglé" in texts["ACME-F-003"] and "avoirs" not in texts["ACME-F-003"]


def test_the_hand_off_names_no_french_court_for_a_debtor_abroad(store, workflow, tmp_path: Path) -> None:
    """A debtor in London: the hand-off must not say a French court of its domicile hears the claim (which
    court does turns on what the file does not hold); a debtor in Paris keeps its sentence, word for word."""
    debtors, invoices = tmp_path / "debtors.csv", tmp_path / "invoices.csv"
    debtors.write_text(DEBTORS_HEADER + "GB1;b2b;Acme Trading SARL;;221B Baker Street;;NW1 6XE;London;GB;;\n",
                       encoding="utf-8")
    invoices.write_text(INVOICES_HEADER + "F-GB;GB1;2025-01-02;2025-02-01;1000.00;EUR\n", encoding="utf-8")
    for path in (debtors, invoices):
        import_csv(store, path, creditor_ref="ACME")
    run(store, workflow, date(2025, 2, 3))
    step = Step("escalate", "formal_notice", "litigation", date(2025, 4, 30), {})
    action = Action("letter", "litigation", "transmission_contentieux.docx", None)
    texts = {}
    with store.session() as s:
        for ref in ("ACME-F-GB", "ACME-F-001"):
            letter = writer(workflow, tmp_path / "output").letter_data(s, find_case(s, ref), step, action, workflow)
            texts[ref] = rendered_text(CompiledTemplate(PACK / action.template).render(build_context(letter)))
    abroad = texts["ACME-F-GB"]
    assert "tribunal" not in abroad and "du domicile du débiteur" not in abroad
    assert ("Juridiction : à déterminer, l'adresse du débiteur étant hors de France métropolitaine "
            "(ROYAUME-UNI).") in abroad
    # Boulangerie Martin SARL, Paris: commercial by its form, as before.
    assert ("Juridiction : tribunal de commerce du domicile du débiteur — société commerciale par sa forme : "
            "SARL.") in texts["ACME-F-001"] and "à déterminer" not in texts["ACME-F-001"]


def test_a_yen_case_claims_whole_yen(store, workflow, tmp_path: Path) -> None:
    """123 457 JPY due 1 February 2025, formal notice on 31 March: 58 days at 13.15 % = 2 579.744 → 2 580 yen,
    printed « 2 580 JPY » (never « 2 579,74 JPY », a sum no one can pay); the 40 € indemnity stays in euros."""
    debtors, invoices = tmp_path / "debtors.csv", tmp_path / "invoices.csv"
    debtors.write_text(DEBTORS_HEADER + "JP1;b2b;Nippon Trading SAS;;1-1 Chiyoda;;100-0001;Tokyo;JP;;\n",
                       encoding="utf-8")
    invoices.write_text(INVOICES_HEADER + "F-JP;JP1;2025-01-02;2025-02-01;123457;JPY\n", encoding="utf-8")
    for path in (debtors, invoices):
        import_csv(store, path, creditor_ref="ACME")
    run(store, workflow, date(2025, 2, 3))
    step = Step("escalate", "reminder3", "formal_notice", date(2025, 3, 31), {})
    action = Action("registered_letter", "formal_notice", "mise_en_demeure.docx", 8)
    with store.session() as s:
        letter = writer(workflow, tmp_path / "output").letter_data(s, find_case(s, "ACME-F-JP"), step, action, workflow)
    assert (letter.currency, letter.penalties, letter.indemnity) == ("JPY", Decimal("2580"), Decimal("40.00"))
    context = build_context(letter)
    assert context["penalties"] == "2\u00a0580\u00a0JPY" and context["total_claim"] == "126\u00a0037\u00a0JPY"
    assert [r["amount"] for r in context["statement_rows"] if r["kind"] == "charge"] == ["2\u00a0580\u00a0JPY"]


def test_the_hand_off_encloses_every_invoice_it_claims_something_on(store, workflow, tmp_path: Path) -> None:
    """F-001 (1 200 €, due 1 February) is paid in full, late, on 10 March; F-002 is still owed. The hand-off of
    30 April claims F-001's penalties and 40 € indemnity in its statement, so counsel must receive a copy of
    F-001 too, not only of the invoice whose principal is still open."""
    payments = tmp_path / "payments.csv"
    payments.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                        "D1;2025-03-10;1200.00;F-001;VIR-1\n", encoding="utf-8")
    run(store, workflow, date(2025, 2, 20))
    import_csv(store, payments, creditor_ref="ACME")
    step = Step("escalate", "formal_notice", "litigation", date(2025, 4, 30), {})
    action = Action("letter", "litigation", "transmission_contentieux.docx", None)
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        letter = writer(workflow, tmp_path / "output").letter_data(s, case, step, action, workflow)
    claimed_on = {line.number for line in letter.statement if line.indemnity or line.penalties or line.outstanding}
    assert claimed_on == {"F-001", "F-002"}
    assert [line.number for line in letter.invoices] == ["F-002"]  # the table of what is still unpaid
    assert letter.enclosures[0] == "copie des factures n° F-001 et F-002"
