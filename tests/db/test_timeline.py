"""The hash chain, tamper detection on events and documents, and the exports."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from engine.cases.lookup import find_case
from engine.cases.run import run
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.reports.timeline import ORDER_NOTE, render_timeline, timeline_entries
from engine.store.database import connect
from engine.store import timeline
from engine.store.events import Note
from engine.store.models import Case, Document, Event
from engine.store.timeline import canonical_json, verify
from tests.support import CSV, REPO

ROOT = REPO


def letter_writer(folder: Path):
    """A stand-in for the letter renderer: one small file per letter action with a template."""
    def perform(session, case_row, step, action):
        if action.template is None:
            return None
        path = folder / f"{case_row.ref}-{step.dest}-{action.kind}.txt"
        body = f"{case_row.ref} {step.dest} {step.on}".encode()
        path.write_bytes(body)
        return Document(path=path.name, sha256=hashlib.sha256(body).hexdigest())
    return perform


@pytest.fixture
def built(database_url: str, tmp_path: Path):
    """A store with two cases, letters on disk and imported payments: (store, letters folder)."""
    store = connect(database_url, upgrade=True)
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    workflow = load_workflow(ROOT / "workflows" / "fr-b2b.yaml")
    perform = letter_writer(tmp_path)
    for day in (date(2025, 2, 8), date(2025, 2, 20)):
        run(store, workflow, day, perform=perform)
    import_csv(store, CSV / "payments.csv", creditor_ref="ACME")
    yield store, tmp_path
    store.dispose()


def test_canonical_json_is_stable() -> None:
    assert canonical_json({"b": Decimal("1.50"), "a": date(2025, 3, 1), "c": [1, None]}) == \
        '{"a":"2025-03-01","b":"1.50","c":[1,null]}'


def test_an_untouched_store_verifies_clean(built) -> None:
    store, letters = built
    with store.session() as s:
        assert verify(s, letters) == []
        assert s.scalar(select(Event.prev_hash).where(Event.seq == 1).limit(1)) is None


def test_an_amount_changed_with_raw_sql_is_named(built) -> None:
    store, letters = built
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        target = s.scalar(select(Event).where(Event.case_id == case.id, Event.kind == "payment").order_by(Event.seq).limit(1))
        forged = dict(target.payload, amount="5000.00")
        seq, event_id = target.seq, target.id
    with store.bind.begin() as conn:
        conn.execute(text("UPDATE event SET payload = :p WHERE id = :id"), {"p": json.dumps(forged), "id": event_id})
    with store.session() as s:
        findings = verify(s, letters)
    assert [(f.case_ref, f.seq) for f in findings] == [("ACME-F-001", seq)]
    assert "content altered" in str(findings[0])


def test_a_changed_or_missing_letter_file_is_named(built) -> None:
    store, letters = built
    files = sorted(letters.glob("ACME-F-001-*"))
    assert files
    body = bytearray(files[0].read_bytes())
    body[0] ^= 1
    files[0].write_bytes(bytes(body))
    (letters / "ACME-F-003-reminder1-email.txt").unlink()
    with store.session() as s:
        problems = sorted((f.case_ref, f.document_path, f.problem) for f in verify(s, letters))
    assert problems == [
        ("ACME-F-001", files[0].name, "file changed since it was produced (SHA-256 differs)"),
        ("ACME-F-003", "ACME-F-003-reminder1-email.txt", "file is missing"),
    ]


def test_a_deleted_last_event_is_noticed(built) -> None:
    store, letters = built
    with store.session() as s:
        case = find_case(s, "ACME-F-003")
        case_id, last = case.id, case.event_count
    with store.bind.begin() as conn:
        conn.execute(text("DELETE FROM event WHERE case_id = :c AND seq = :s"), {"c": case_id, "s": last})
    with store.session() as s:
        findings = verify(s, letters)
    assert [(f.case_ref, f.seq) for f in findings] == [("ACME-F-003", None)]
    assert "events removed or added" in findings[0].problem


def test_exports_carry_the_events_and_the_chain_status(built) -> None:
    store, _letters = built
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        as_text = render_timeline(s, case, "text")
        as_json = json.loads(render_timeline(s, case, "json"))
        as_csv = list(csv.DictReader(io.StringIO(render_timeline(s, case, "csv")), delimiter=";"))
        as_html = render_timeline(s, case, "html")
        with pytest.raises(ValueError, match="unknown timeline format"):
            render_timeline(s, case, "pdf")
        count = case.event_count
    assert "chaîne d'empreintes SHA-256 intacte" in as_text
    assert "« Facture échue » → « Première relance » : délai de 5 jours depuis l'échéance écoulé" in as_text
    assert as_json["chain"]["ok"] is True and len(as_json["events"]) == count
    assert as_json["case"]["balance"] == "700.00"  # 1500.50 owed, 800.50 paid
    assert [row["kind"] for row in as_csv][:3] == ["case_opened", "state_change", "letter"]
    assert "Boulangerie Martin SARL" in as_html and "intacte" in as_html and "@media print" in as_html


def test_html_escapes_what_users_typed(built) -> None:
    store, _letters = built
    with store.session() as s:
        case = s.scalar(select(Case).where(Case.ref == "ACME-F-001"))
        case.debtor.name = "<script>alert(1)</script> & Fils"
    with store.session() as s:
        html = render_timeline(s, find_case(s, "ACME-F-001"), "html")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; Fils" in html


def test_a_usd_payment_reads_in_usd_and_the_chain_holds(database_url: str, tmp_path: Path) -> None:
    store = connect(database_url, upgrade=True)
    import_csv(store, CSV / "debtors.csv", creditor_ref="ACME")
    (tmp_path / "invoices.csv").write_text("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
                                           "CUR-U1;D1;2025-01-02;2025-02-01;1000.00;USD\n")
    import_csv(store, tmp_path / "invoices.csv", creditor_ref="ACME")
    run(store, load_workflow(ROOT / "workflows" / "fr-b2b.yaml"), date(2025, 2, 8), perform=letter_writer(tmp_path))
    (tmp_path / "payments.csv").write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                                           "D1;2025-02-10;1000.00;CUR-U1;VIR-U\n")
    import_csv(store, tmp_path / "payments.csv", creditor_ref="ACME")
    with store.session() as s:
        case = find_case(s, "ACME-CUR-U1")
        lines = [line for line in render_timeline(s, case, "text").splitlines() if "paiement de" in line]
        assert verify(s, tmp_path) == []
    assert len(lines) == 1 and "€" not in lines[0]
    assert "paiement de 1\u00a0000,00\u00a0$US (réf. VIR-U) imputé sur CUR-U1 (1\u00a0000,00\u00a0$US)" in lines[0]
    store.dispose()


def test_a_seal_until_an_unfinished_event_chains_the_events_before_it_and_leaves_the_rest(built) -> None:
    """A run with renderer processes seals a batch in parts (engine.cases.batch): the events before the first one
    whose letter is not back are hashed, that one and those after wait; the chain is the one a single seal makes."""
    store, folder = built
    with store.session() as s:
        case = s.scalars(select(Case).order_by(Case.id)).first()
        with timeline.sealed_later(s), s.no_autoflush:
            added = [timeline.append_event(s, case, Note(f"note {n}"), date(2025, 3, 1)) for n in range(3)]
            assert timeline.seal(s, until=lambda event: event is added[1]) == 1
            assert added[0].hash is not None and added[1].hash is None and added[2].hash is None
            added[1].payload = {**added[1].payload, "reason": "note 1, completed"}  # as a letter's SHA-256 is
            assert timeline.seal(s, until=lambda event: False) == 2
        assert [e.prev_hash for e in added[1:]] == [e.hash for e in added[:-1]] and case.last_hash == added[2].hash
    with store.session() as s:
        assert verify(s, folder) == []


def test_a_catch_up_prints_where_it_happened_and_the_chain_still_verifies(built) -> None:
    """A note recorded today about 1 February lands after February's steps in the chain: every printed
    format shows it first (by the day it happened, seq kept, marked as recorded after the fact, the order
    said in one line), and the chain is still checked in recording order."""
    store, _letters = built
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        late = timeline.append_event(s, case, Note("appel du 1er février"), date(2025, 2, 1), actor="ana")
        s.flush()
        late_seq = late.seq
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        as_text = render_timeline(s, case, "text")
        as_json = json.loads(render_timeline(s, case, "json"))
        as_csv = list(csv.DictReader(io.StringIO(render_timeline(s, case, "csv")), delimiter=";"))
        as_html = render_timeline(s, case, "html")
        entries, status = timeline_entries(s, case)
    rows = [line.split() for line in as_text.splitlines() if line[:4].strip().isdigit()]
    assert [int(row[0]) for row in rows][0] == late_seq  # first printed, last recorded
    dates = [date.fromisoformat(ev["occurred_on"]) for ev in as_json["events"]]
    assert dates == sorted(dates) and as_json["events"][0]["seq"] == late_seq and as_json["chain"]["ok"] is True
    assert [int(row["seq"]) for row in as_csv] == [ev["seq"] for ev in as_json["events"]]
    assert [ev.seq for ev, _text in entries][0] == late_seq and status.ok
    assert ORDER_NOTE in as_text and ORDER_NOTE in html.unescape(as_html)
    assert "chaîne d'empreintes SHA-256 intacte" in as_text
    noted = next(line for line in as_text.splitlines() if "appel du 1er février" in line)
    assert "enregistré après coup" in noted
    opened = next(line for line in as_text.splitlines() if "dossier ouvert" in line)
    assert "enregistré après coup" not in opened  # recorded in its place: nothing to say
