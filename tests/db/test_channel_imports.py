"""The events and tracking.csv imports, and the day's print bundle, on both backends."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.app import App
from engine.cases import approvals
from engine.imports.importer import ImportFailed
from engine.letters import pdf as pdf_module
from engine.store.events import CallRecorded, Dispute, NoticeReceived, Promise, read_event
from engine.store.models import Case, Event
from tests.db.test_channels import DUE, REMINDER, make_app

EVENTS_HEADER = "event_date;debtor_ref;action;until;reason;outcome\n"


def kinds_on(app: App, ref: str) -> list[tuple[str, object]]:
    with app.session() as session:
        rows = session.scalars(select(Event).join(Case, Case.id == Event.case_id).where(Case.ref == ref)
                               .order_by(Event.seq))
        return [(e.kind, read_event(e.kind, e.payload)) for e in rows]


def test_an_events_file_records_disputes_promises_and_calls_once(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 3)
    app.run(REMINDER)
    events = tmp_path / "events.csv"
    events.write_text(EVENTS_HEADER
                      + f"{REMINDER};D0000;dispute;;livraison incomplète;\n"
                      + f"{REMINDER};D0001;call;{REMINDER + timedelta(days=5)};paiera lundi;promise\n"
                      + f"{REMINDER};D0002;call;;messagerie;no_answer\n", encoding="utf-8")
    [report] = app.import_files([events])
    assert (report.kind, report.rows, report.inserted, report.unchanged) == ("events", 3, 3, 0)
    assert [type(p) for k, p in kinds_on(app, "ALD-F0000") if k == Dispute.kind] == [Dispute]
    promised = [p for k, p in kinds_on(app, "ALD-F0001") if k in (CallRecorded.kind, Promise.kind)]
    assert [type(p).__name__ for p in promised] == ["CallRecorded", "Promise"]
    with app.session() as session:
        assert dict(session.execute(select(Case.ref, Case.state)).all()) == {
            "ALD-F0000": "disputed", "ALD-F0001": "promised", "ALD-F0002": "reminder1"}
    again = app.import_files([events])[0]
    assert (again.inserted, again.unchanged) == (0, 3)  # the same file twice records nothing new


def test_a_bad_events_file_is_refused_whole_with_each_row_located(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 2)
    app.run(REMINDER)
    events = tmp_path / "events.csv"
    events.write_text(EVENTS_HEADER + f"{REMINDER};D0000;dispute;;ok;\n"
                      + "32/13/2025;D0001;hold;;x;\n" + f"{REMINDER};D0001;telepathy;;x;\n"
                      + f"{REMINDER};D0001;call;;x;shouting\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        app.import_files([events])
    where = [(p.line, p.column) for p in caught.value.problems]
    assert where == [(3, "event_date"), (4, "action"), (5, "outcome")]
    assert not [k for k, _ in kinds_on(app, "ALD-F0000") if k == Dispute.kind]  # nothing of the file went in
    resolve = tmp_path / "resolve.csv"
    resolve.write_text(EVENTS_HEADER + f"{REMINDER};D0000;resolve;;rien à résoudre;\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="resolve.csv:2: .*no open dispute"):
        app.import_files([resolve])


def test_an_events_file_cannot_date_a_dispute_before_the_cases_last_event(tmp_path: Path, database_url: str) -> None:
    """The rule of `relance case dispute` and the web app (engine.cases.actions): an action that changes the case's
    course is not dated before its last event, whatever brings it in; the row says so, and nothing goes in."""
    app = make_app(tmp_path, database_url, 2)
    app.run(REMINDER)
    noted = REMINDER + timedelta(days=3)
    events = tmp_path / "events.csv"
    events.write_text(EVENTS_HEADER + f"{noted};D0000;note;;le client rappellera;\n", encoding="utf-8")
    app.import_files([events])
    late = tmp_path / "late.csv"
    late.write_text(EVENTS_HEADER + f"{noted - timedelta(days=1)};D0000;dispute;;livraison incomplète;\n"
                    + f"{noted - timedelta(days=1)};D0000;call;{noted + timedelta(days=5)};paiera;promise\n"
                    + f"{noted};D0001;dispute;;facture en double;\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        app.import_files([late])
    assert [(p.line, "last event" in p.reason) for p in caught.value.problems] == [(2, True), (3, True)]
    assert [k for k, _ in kinds_on(app, "ALD-F0000") if k in (Dispute.kind, CallRecorded.kind)] == []
    assert [k for k, _ in kinds_on(app, "ALD-F0001") if k == Dispute.kind] == []  # the file is refused whole


def test_tracking_csv_records_the_registered_letters_receipt(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 1)
    day = DUE
    while day < date(2025, 3, 1):
        app.run(day)
        day += timedelta(days=1)
    approvals.approve(app, "ALD-F0000", date(2025, 3, 2), by="Mme Leroy")  # the registered formal notice
    tracking = tmp_path / "tracking.csv"
    tracking.write_text("case_ref;tracking;presented_on;received_on\n"
                        "ALD-F0000;1A12345678901;2025-03-04;2025-03-05\n", encoding="utf-8")
    [report] = app.import_files([tracking])
    assert (report.kind, report.inserted) == ("tracking", 1)
    [receipt] = [p for k, p in kinds_on(app, "ALD-F0000") if k == NoticeReceived.kind]
    assert isinstance(receipt, NoticeReceived)
    assert (receipt.tracking, receipt.presented_on, receipt.received_on) == (
        "1A12345678901", date(2025, 3, 4), date(2025, 3, 5))
    assert app.import_files([tracking])[0].unchanged == 1
    early = tmp_path / "tracking-early.csv"
    early.write_text("case_ref;tracking;presented_on;received_on\nALD-F0000;1A9;2025-02-01;\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="tracking-early.csv:2: .*went out on 2025-03-02"):
        app.import_files([early])


def test_print_binds_the_days_postal_letters_behind_a_cover_with_one_soffice(tmp_path: Path, database_url: str,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path, database_url, 4)
    day = DUE
    while day <= date(2025, 2, 24):  # every case waits for approval of its formal notice
        app.run(day)
        day += timedelta(days=1)
    notice_day = date(2025, 2, 25)
    for ref in ("ALD-F0001", "ALD-F0003"):
        approvals.approve(app, ref, notice_day, by="Mme Leroy")
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return real_run(args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(pdf_module.subprocess, "run", counting_run)
    bundle = app.print_day(notice_day)
    assert len(calls) == 1 and "soffice" in calls[0][0]  # one LibreOffice for the cover and both letters
    assert [(letter.case_ref, letter.registered) for letter in bundle.letters] == [
        ("ALD-F0001", True), ("ALD-F0003", True)]
    assert bundle.path == app.workspace.output_dir / "_print" / "2025-02-25.pdf" and bundle.failures == {}
    reader = PdfReader(str(bundle.path))
    cover = reader.pages[0].extract_text()
    assert "2 courriers, dont 2 en recommandé" in cover and cover.count("LRAR") >= 2
    # Each step by the name its timeline recorded, as the team reads it, not the workflow's code.
    assert [letter.state_label for letter in bundle.letters] == ["Mise en demeure"] * 2
    assert " ".join(cover.split()).count("Mise en demeure") == 2 and "formal_notice" not in cover
    assert len(reader.pages) == bundle.pages > 2
    assert "ALD-F0001" in reader.pages[1].extract_text() or "Client 1" in reader.pages[1].extract_text()
    reminder2 = app.print_day(date(2025, 1, 25))  # the second reminders: simple letters
    assert [(letter.registered, letter.state, letter.state_label) for letter in reminder2.letters] == [
        (False, "reminder2", "Deuxième relance")] * 4
    assert app.print_day(date(2025, 1, 24)).path is None  # nothing posted that day
    audit = subprocess.run([str(Path(sys.executable).parent / "relance"), "--db", database_url, "--workspace", str(app.workspace.root), "verify",
                            "--json"], capture_output=True, text=True, check=False)
    assert '"orphans": []' in audit.stdout  # the bundle is not mistaken for a stray letter
