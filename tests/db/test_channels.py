"""Channels that really happen, on both backends: e-mails through a real SMTP server (aiosmtpd on
127.0.0.1), call tasks and their outcomes, approvals before the formal notice, the debtor-level hold."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.app import App
from engine.cases import actions, approvals, tasks
from engine.cases.debtors import hold_debtor, resume_debtor
from engine.errors import CaseError
from engine.store.events import (
    RUN_ACTOR,
    ApprovalRequested,
    Approved,
    CallRecorded,
    DebtorHeld,
    DebtorResumed,
    EmailFailed,
    EmailRetried,
    EmailSent,
    LetterSent,
    Rejected,
    read_event,
)
from engine.store.models import Case, Document, Event, Outbox
from engine.workspace import init_workspace, load_workspace
from tests.smtp_server import SmtpSink, pdf_attachments, smtp_server, smtp_toml
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

DUE = date(2025, 1, 10)
REMINDER = date(2025, 1, 20)  # fr-b2b: reminder1 (e-mail + call) five days after the due date


def make_app(tmp_path: Path, database_url: str, cases: int, *, emails: bool = True) -> App:
    root = tmp_path / "ws"
    init_workspace(root)
    debtors, invoices = tmp_path / "debtors.csv", tmp_path / "invoices.csv"
    with debtors.open("w", encoding="utf-8") as out:
        out.write(DEBTORS_HEADER)
        for i in range(cases):
            mail = f"compta{i}@client{i}.example" if emails else ""
            out.write(f"D{i:04d};b2b;Client {i} SARL;;{i} rue de la Paix;;75002;Paris;FR;{mail};01 02 03 04 {i % 100:02d}\n")
    with invoices.open("w", encoding="utf-8") as out:
        out.write(INVOICES_HEADER)
        for i in range(cases):
            out.write(f"F{i:04d};D{i:04d};2024-12-10;{DUE};{1000 + i}.00;EUR\n")
    app = App.open(load_workspace(root, database_url))
    app.import_files([debtors, invoices])
    return app


def events_of(app: App, kind: str) -> list[tuple[str, object, date, str | None]]:
    with app.session() as session:
        rows = session.execute(select(Case.ref, Event).join(Case, Case.id == Event.case_id)
                               .where(Event.kind == kind).order_by(Event.id)).all()
        return [(ref, read_event(e.kind, e.payload), e.occurred_on, e.actor) for ref, e in rows]


def test_a_run_sends_one_email_per_step_with_its_pdf_and_records_the_message_id(tmp_path: Path,
                                                                                database_url: str) -> None:
    with smtp_server() as sink:
        app = _with_port(make_app(tmp_path, database_url, 6), database_url, sink.port)
        app.run(REMINDER)
        assert app.after_run.delivery is not None and len(app.after_run.delivery.sent) == 6
        assert app.after_run.delivery.pdf_processes == 1  # one LibreOffice for the six letters
        assert len(sink.messages) == 6 and len(sink.message_ids) == 6
        for message in sink.messages:
            assert pdf_attachments(message) == ["01-reminder1.pdf"]
            assert message["Subject"].startswith("Rappel : facture F")
            assert message.get_body(("html",)) is not None
        sent = events_of(app, EmailSent.kind)
        assert {str(payload.message_id) for _, payload, _, _ in sent} == set(sink.message_ids)  # type: ignore[attr-defined]
        assert all(payload.smtp_response.startswith("250 2.0.0 Ok") for _, payload, _, _ in sent)  # type: ignore[attr-defined]
        # A second run and an explicit retry send nothing more: each step's e-mail went once.
        app.run(REMINDER)
        app.deliver(REMINDER, retry=True)
        assert len(sink.messages) == 6


def test_a_550_fails_the_step_puts_the_case_on_the_task_list_and_keeps_the_letter(tmp_path: Path,
                                                                                 database_url: str) -> None:
    with smtp_server(SmtpSink(refuse={"compta1@client1.example"})) as sink:
        app = _with_port(make_app(tmp_path, database_url, 3), database_url, sink.port)
        app.run(REMINDER)
        assert len(sink.messages) == 2 and sink.refused == ["compta1@client1.example"]
        failed = events_of(app, EmailFailed.kind)
        assert [(ref, "550" in str(p.error)) for ref, p, _, _ in failed] == [("ALD-F0001", True)]  # type: ignore[attr-defined]
        with app.session() as session:
            assert session.scalar(select(Outbox.status).where(Outbox.to_address == "compta1@client1.example")) == "failed"
            listed = tasks.list_tasks(session, REMINDER, kinds=("email_failed",))
            path = session.scalar(select(Document.path).join(Case, Case.id == Document.case_id)
                                  .where(Case.ref == "ALD-F0001"))
        assert [(t.case_ref, t.kind) for t in listed] == [("ALD-F0001", "email_failed")]
        assert "550" in (listed[0].detail or "")
        assert path and (app.workspace.output_dir / path).is_file()  # the letter is not lost
        # The team fixes the address at the server's end: --retry sends it and closes the task.
        sink.refuse.clear()
        done = app.deliver(REMINDER + timedelta(days=1), retry=True)
        assert len(done.sent) == 1 and len(sink.messages) == 3
        with app.session() as session:
            assert tasks.list_tasks(session, REMINDER, kinds=("email_failed",)) == []


def test_a_temporary_failure_is_retried_later_and_then_sent(tmp_path: Path, database_url: str) -> None:
    with smtp_server(SmtpSink(busy_first=1)) as sink:
        app = _with_port(make_app(tmp_path, database_url, 1), database_url, sink.port, retry_after=3600)
        app.run(REMINDER)
        retried = events_of(app, EmailRetried.kind)
        assert len(retried) == 1 and "451" in retried[0][1].error and not sink.messages  # type: ignore[attr-defined]
        assert app.deliver(REMINDER).sent == []  # backoff: not yet
        assert len(app.deliver(REMINDER, retry=True).sent) == 1
        assert [p.attempt for _, p, _, _ in events_of(app, EmailSent.kind)] == [2]  # type: ignore[attr-defined]
        assert len(sink.messages) == 1


def test_a_debtor_without_address_fails_at_once_and_without_smtp_emails_wait(tmp_path: Path,
                                                                             database_url: str) -> None:
    app = make_app(tmp_path, database_url, 2, emails=False)
    app.run(REMINDER)
    assert app.after_run.delivery is not None and not app.after_run.delivery.configured
    assert app.after_run.delivery.waiting == 2
    with smtp_server() as sink:
        app = _with_port(app, database_url, sink.port)
        done = app.deliver(REMINDER)
        assert not sink.messages and [why for _, why in done.failed] == ["no e-mail address"] * 2


def test_a_phone_step_is_a_task_and_a_call_records_its_outcome(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 2)
    app.run(REMINDER)
    with app.session() as session:
        listed = tasks.list_tasks(session, REMINDER, due=REMINDER, kinds=("call",))
        assert tasks.list_tasks(session, REMINDER, due=REMINDER - timedelta(days=1)) == []
    assert [(t.case_ref, t.phone, str(t.balance)) for t in listed] == [
        ("ALD-F0000", "01 02 03 04 00", "1000.00"), ("ALD-F0001", "01 02 03 04 01", "1001.00")]
    assert any("courriel" in line for line in listed[0].history)

    tasks.record_call(app, "ALD-F0000", "no_answer", REMINDER, by="ana", note="messagerie")
    tasks.record_call(app, "ALD-F0001", "promise", REMINDER, by="ana", note="paiera vendredi",
                      until=REMINDER + timedelta(days=4))
    with app.session() as session:
        open_tasks = tasks.list_tasks(session, REMINDER + timedelta(days=1))
        promised = session.scalar(select(Case).where(Case.ref == "ALD-F0001"))
        assert promised is not None and promised.state == "promised"
    assert [(t.case_ref, t.due_on) for t in open_tasks] == [("ALD-F0000", REMINDER + timedelta(days=1))]
    calls = events_of(app, CallRecorded.kind)
    assert [(ref, p.outcome, actor) for ref, p, _, actor in calls] == [  # type: ignore[attr-defined]
        ("ALD-F0000", "no_answer", "ana"), ("ALD-F0001", "promise", "ana")]
    with pytest.raises(CaseError, match="--until"):
        tasks.record_call(app, "ALD-F0000", "promise", REMINDER, by="ana")


def test_a_formal_notice_is_never_written_before_approval(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 2)
    day = REMINDER
    while day < date(2025, 4, 1):  # reminders every ten days, then the notice would be due
        app.run(day)
        day += timedelta(days=1)
    with app.session() as session:
        states = dict(session.execute(select(Case.ref, Case.state)).all())
        notices = session.scalar(select(func.count()).select_from(Document).where(Document.state == "formal_notice"))
        waiting = approvals.waiting_approvals(session, day)
    assert states == {"ALD-F0000": "reminder3", "ALD-F0001": "reminder3"} and notices == 0
    assert [(w.case_ref, w.state, w.to) for w in waiting] == [("ALD-F0000", "reminder3", "formal_notice"),
                                                              ("ALD-F0001", "reminder3", "formal_notice")]
    requested_on = waiting[0].since
    assert requested_on < day

    approved_on = date(2025, 4, 3)
    done = approvals.approve(app, "ALD-F0000", approved_on, by="Mme Leroy", note="vu")
    assert done.state == "formal_notice"
    approvals.reject(app, "ALD-F0001", approved_on, by="Mme Leroy", reason="négociation en cours")
    with app.session() as session:
        notice = session.execute(select(Document, Event).join(Event, Event.id == Document.event_id)
                                 .where(Document.state == "formal_notice")).all()
        held = session.scalar(select(Case).where(Case.ref == "ALD-F0001"))
        assert held is not None and held.on_hold and held.state == "reminder3" and held.awaiting_approval is None
        assert approvals.waiting_approvals(session, approved_on) == []
    assert len(notice) == 1 and notice[0][1].occurred_on == approved_on  # written on approval, dated that day
    assert [(ref, p.state, on, actor) for ref, p, on, actor in events_of(app, Approved.kind)] == [  # type: ignore[attr-defined]
        ("ALD-F0000", "formal_notice", approved_on, "Mme Leroy")]
    with pytest.raises(CaseError, match="waits for no approval"):
        approvals.approve(app, "ALD-F0000", approved_on, by="x")
    # The timeline names the steps as the letters do, not by the workflow's keys.
    said = [p.describe() for kind in (ApprovalRequested.kind, Approved.kind, Rejected.kind)  # type: ignore[attr-defined]
            for _ref, p, _on, _actor in events_of(app, kind)]
    assert said == ["passage de « Troisième relance » à « Mise en demeure » en attente de validation"] * 2 + [
        "passage à « Mise en demeure » validé — vu",
        "passage à « Mise en demeure » refusé, dossier suspendu — négociation en cours"]


def test_a_held_debtor_escalates_no_case_and_each_case_says_so(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 2)
    app.run(DUE + timedelta(days=1))  # the cases open
    outcome = hold_debtor(app, "D0000", DUE + timedelta(days=2), by="ana", reason="procédure collective")
    assert outcome.cases == ("ALD-F0000",) and outcome.changed
    for day in range(3, 40):
        app.run(DUE + timedelta(days=day))
    with app.session() as session:
        states = dict(session.execute(select(Case.ref, Case.state)).all())
    assert states == {"ALD-F0000": "due", "ALD-F0001": "reminder3"}
    assert [ref for ref, *_ in events_of(app, DebtorHeld.kind)] == ["ALD-F0000"]
    resume_debtor(app, "D0000", DUE + timedelta(days=40), by="ana")
    app.run(DUE + timedelta(days=40))
    with app.session() as session:
        assert session.scalar(select(Case.state).where(Case.ref == "ALD-F0000")) == "reminder1"
    assert [ref for ref, *_ in events_of(app, DebtorResumed.kind)] == ["ALD-F0000"]


def test_the_do_not_chase_column_holds_and_resumes_through_the_import(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 1)
    app.run(DUE + timedelta(days=1))
    held = tmp_path / "held.csv"
    held.write_text("debtor_ref;kind;name;do_not_chase\nD0000;b2b;Client 0 SARL;oui\n", encoding="utf-8")
    [report] = app.import_files([held])
    assert (report.updated, report.events) == (1, 1)
    assert app.import_files([held])[0].unchanged == 1  # the same file again changes nothing
    app.run(REMINDER)
    with app.session() as session:
        assert session.scalar(select(Case.state)) == "due"
    held.write_text("debtor_ref;kind;name;do_not_chase\nD0000;b2b;Client 0 SARL;non\n", encoding="utf-8")
    app.import_files([held])
    app.run(REMINDER + timedelta(days=1))
    with app.session() as session:
        assert session.scalar(select(Case.state)) == "reminder1"
    assert len(events_of(app, DebtorHeld.kind)) == 1 and len(events_of(app, DebtorResumed.kind)) == 1


def test_emails_carry_docx_when_the_workspace_says_so(tmp_path: Path, database_url: str) -> None:
    with smtp_server() as sink:
        app = _with_port(make_app(tmp_path, database_url, 1), database_url, sink.port, attach='["docx"]')
        app.run(REMINDER)
        [message] = sink.messages
        assert [p.get_filename() for p in message.iter_attachments()] == ["01-reminder1.docx"]
        assert app.after_run.delivery is not None and app.after_run.delivery.pdf_processes == 0
    assert all(isinstance(p, LetterSent) for _, p, _, _ in events_of(app, LetterSent.kind))


def _with_port(app: App, database_url: str, port: int, *, retry_after: int = 0, attach: str | None = None) -> App:
    """The app's workspace with [smtp] pointing at the test's server (relance.toml rewritten)."""
    config = app.workspace.root / "relance.toml"
    text = config.read_text(encoding="utf-8").split("\n[smtp]")[0]
    extra = smtp_toml(port).replace("retry_after = 0", f"retry_after = {retry_after}")
    if attach:
        extra += f"attach = {attach}\n"
    config.write_text(text + extra, encoding="utf-8")
    app.store.dispose()
    return App.open(load_workspace(app.workspace.root, database_url))


def test_letters_recall_the_emails_sent_and_the_calls_that_reached_someone(tmp_path: Path, database_url: str) -> None:
    import docx

    with smtp_server() as sink:
        app = _with_port(make_app(tmp_path, database_url, 2), database_url, sink.port)
        app.run(REMINDER)
    tasks.record_call(app, "ALD-F0000", "reached", REMINDER + timedelta(days=1), by="ana", note="rappel")
    tasks.record_call(app, "ALD-F0001", "no_answer", REMINDER + timedelta(days=1), by="ana")
    app.run(REMINDER + timedelta(days=10))  # the second reminders recall what happened
    with app.session() as session:
        paths = dict(session.execute(select(Case.ref, Document.path).join(Case, Case.id == Document.case_id)
                                     .where(Document.state == "reminder2")).all())
    lines = {ref: [p.text for p in docx.Document(str(app.workspace.output_dir / path)).paragraphs
                   if p.text.startswith("– le ")] for ref, path in paths.items()}
    assert any("courriel" in line for line in lines["ALD-F0000"])  # the e-mail the server took
    assert any("appel téléphonique" in line for line in lines["ALD-F0000"])  # the call that reached someone
    assert any("courriel" in line for line in lines["ALD-F0001"])
    assert not any("appel" in line for line in lines["ALD-F0001"])  # no answer: no contact to recall


def test_an_email_waiting_for_a_step_the_case_has_left_is_not_sent(tmp_path: Path, database_url: str) -> None:
    from engine.cases import actions

    app = make_app(tmp_path, database_url, 2)
    app.run(REMINDER)  # no [smtp] yet: both first reminders wait in the outbox
    assert app.after_run.delivery is not None and app.after_run.delivery.waiting == 2
    actions.pay(app, "ALD-F0000", "1000.00", REMINDER + timedelta(days=2), by="alice")  # paid in full: closed
    with smtp_server() as sink:
        app = _with_port(app, database_url, sink.port)
        done = app.deliver(REMINDER + timedelta(days=3), retry=True)
        # "Please pay by ..." to a debtor who has paid would be false: only the case still on its step gets it.
        assert [message["To"] for message in sink.messages] == ["compta1@client1.example"]
        assert [ref for ref, _why in done.superseded] == ["ALD-F0000"]
        assert len(done.sent) == 1 and not done.failed
        with app.session() as session:
            statuses = dict(session.execute(select(Case.ref, Outbox.status).join(Case, Case.id == Outbox.case_id)).all())
        assert statuses == {"ALD-F0000": "superseded", "ALD-F0001": "sent"}
        assert [ref for ref, *_ in events_of(app, EmailSent.kind)] == ["ALD-F0001"]
        assert app.deliver(REMINDER + timedelta(days=4), retry=True).superseded == []  # decided once
        assert len(sink.messages) == 1


def test_an_email_sent_records_each_attachments_sha256_and_verify_checks_the_files(tmp_path: Path,
                                                                                    database_url: str) -> None:
    """An auditor proves which file left: each attachment's name and SHA-256 in the `email_sent` event, in
    the printed timeline, and `relance verify` names a sent file changed since."""
    import hashlib

    from engine.cases.audit import audit
    from engine.reports.timeline import render_timeline

    with smtp_server() as sink:
        app = _with_port(make_app(tmp_path, database_url, 1), database_url, sink.port, attach='["docx", "pdf"]')
        app.run(REMINDER)
        [message] = sink.messages
    left = {p.get_filename(): hashlib.sha256(p.get_payload(decode=True)).hexdigest()
            for p in message.iter_attachments()}
    assert set(left) == {"01-reminder1.docx", "01-reminder1.pdf"}
    [(ref, sent, _, _)] = events_of(app, EmailSent.kind)
    assert isinstance(sent, EmailSent)
    assert {f.name: f.sha256 for f in sent.files} == left
    [(_, letter, _, _)] = events_of(app, LetterSent.kind)
    assert isinstance(letter, LetterSent) and left["01-reminder1.docx"] == letter.sha256
    with app.session() as session:
        case = session.scalar(select(Case).where(Case.ref == ref))
        assert case is not None
        printed = render_timeline(session, case)
    assert f"01-reminder1.pdf (SHA-256 {left['01-reminder1.pdf']})" in printed
    assert audit(app, app.workspace.output_dir).ok
    # The PDF on disk is no longer the one that left (made again, or edited): verify says so.
    pdf = app.workspace.output_dir / Path(letter.path).with_suffix(".pdf")
    pdf.write_bytes(pdf.read_bytes() + b"\n% edited")
    findings = audit(app, app.workspace.output_dir).findings
    assert [(f.case_ref, f.document_path, "sent by e-mail changed" in f.problem) for f in findings] == [
        (ref, str(Path(letter.path).with_suffix(".pdf")), True)]
    pdf.unlink()
    assert ["missing" in f.problem for f in audit(app, app.workspace.output_dir).findings] == [True]


def test_a_case_settled_or_held_while_it_waits_leaves_the_queue_and_is_not_approved(tmp_path: Path,
                                                                                    database_url: str) -> None:
    """Like Odoo's credit control: money imported for a case waiting for approval takes it out of the queue, and
    its move to « Soldée » is the payment's (its day, its author), not the approver's nor the day of the approval.
    A case put on hold or disputed while it waits leaves the queue too, and so does a case whose debtor is put on
    hold: approving it would record « validé » for a step the run does not take."""
    app = make_app(tmp_path, database_url, 4)
    app.run(REMINDER)
    asked = REMINDER + timedelta(days=2)
    for ref in ("ALD-F0000", "ALD-F0001", "ALD-F0002", "ALD-F0003"):
        actions.jump(app, ref, "formal_notice", asked, by="ana", reason="aucune réponse")
    paid_on = asked + timedelta(days=2)
    payments = tmp_path / "payments.csv"
    payments.write_text(f"debtor_ref;payment_date;amount;invoice_number;reference\nD0000;{paid_on};1000.00;F0000;VIR\n",
                        encoding="utf-8")
    app.import_files([payments])
    actions.hold(app, "ALD-F0001", paid_on, by="ana", reason="le client appelle")
    actions.dispute(app, "ALD-F0002", paid_on, by="ana", reason="livraison contestée")
    hold_debtor(app, "D0003", paid_on, by="ana", reason="procédure collective")
    later = paid_on + timedelta(days=6)
    with app.session() as session:
        assert approvals.waiting_approvals(session, later) == []
    with pytest.raises(CaseError, match=r"ALD-F0000 moved to paid on .* nothing is left to approve"):
        approvals.approve(app, "ALD-F0000", later, by="Mme Leroy")
    for ref in ("ALD-F0001", "ALD-F0002"):
        with pytest.raises(CaseError):
            approvals.approve(app, ref, later, by="Mme Leroy")
    with pytest.raises(CaseError, match=r"debtor D0003 is on hold \(do_not_chase\): resume the debtor"):
        approvals.approve(app, "ALD-F0003", later, by="Mme Leroy")
    assert events_of(app, Approved.kind) == []
    settled = [(ref, p.dest, on, actor) for ref, p, on, actor in events_of(app, "state_change")  # type: ignore[attr-defined]
               if ref == "ALD-F0000" and p.dest == "paid"]
    assert settled == [("ALD-F0000", "paid", paid_on, RUN_ACTOR)]
    with app.session() as session:
        case = session.scalar(select(Case).where(Case.ref == "ALD-F0000"))
        assert case is not None and case.closed and case.awaiting_approval is None
