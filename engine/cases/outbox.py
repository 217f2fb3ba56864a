"""E-mails through an outbox: queued in the step's transaction, delivered after the commit, recorded once.

`enqueue` runs inside the case's transaction (engine.cases.channels calls it for a `channel: email`
action): it renders the subject and body (engine.letters.email) and adds one `outbox` row keyed by
(case, step), so the e-mail exists exactly when the step does. `deliver` runs after the commits: it
makes the missing PDFs in one LibreOffice batch, then sends each row in its own transaction holding the
case's row lock, and records the outcome in the case's timeline:

- accepted → `email_sent` (Message-ID, the server's answer, each attachment's name and SHA-256), the row `sent`;
- temporary failure (4xx, server down) → `email_retried`, the row tried again after a growing delay;
- permanent failure (5xx, no address, or too many temporary ones) → `email_failed`, the row `failed`,
  an `email_failed` task on the team's list (`relance tasks`); the letter file stays where it is;
- the case has left the step since (paid, disputed, escalated, closed) → the row `superseded`, nothing sent
  and nothing in the timeline: an e-mail delivered late must not say what is no longer true.

Exactly one e-mail per step: the Message-ID is derived from (case, step). A crash after the server
took the message and before the commit leaves the row `pending`: the next delivery sends the same
message again, with the same Message-ID, and records it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from engine.cases.documents import DocumentError, recorded_letter
from engine.channels.email import AddressError, Attachment, Email, build, check_address, message_id
from engine.channels.smtp import (
    PermanentFailure,
    SmtpConfigError,
    SmtpSettings,
    TemporaryFailure,
    Transport,
    open_transport,
)
from engine.core.limits import Limits
from engine.letters.email import render_email
from engine.letters.pdf import PdfError, convert_batch
from engine.store.database import Store
from engine.store.events import EmailFailed, EmailRetried, EmailSent, SentFile
from engine.store.models import Case, Document, Outbox, Task
from engine.store.timeline import append_event

MAX_BACKOFF = timedelta(hours=6)


@dataclass
class Delivery:
    """What one delivery did; ``waiting`` counts e-mails left for later (backoff, or no [smtp] at all)."""

    sent: list[str] = field(default_factory=list)  # Message-IDs
    retried: list[tuple[str, str]] = field(default_factory=list)  # (case ref, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (case ref, why)
    # E-mails not sent because their case has left their step (paid, disputed, escalated): (case ref, why)
    superseded: list[tuple[str, str]] = field(default_factory=list)
    waiting: int = 0
    configured: bool = True
    pdf_processes: int = 0
    error: str | None = None  # the transport could not be opened at all


@dataclass(frozen=True)
class OutboxLine:
    """One e-mail of the outbox as `relance outbox` lists it."""

    case_ref: str
    step_key: str
    to: str | None
    subject: str
    status: str
    attempts: int
    message_id: str
    next_attempt_at: datetime | None  # UTC, as stored: the reader shows it on the team's clock
    error: str | None
    smtp_response: str | None


def outbox_rows(session: Session, *, include_sent: bool = False) -> list[OutboxLine]:
    query = select(Outbox, Case.ref).join(Case, Case.id == Outbox.case_id).order_by(Outbox.id)
    if not include_sent:
        query = query.where(Outbox.status != "sent")
    return [OutboxLine(ref, row.step_key, row.to_address, row.subject, row.status, row.attempts, row.message_id,
                       row.next_attempt_at,
                       row.last_error, row.smtp_response)
            for row, ref in session.execute(query).all()]


def enqueue(session: Session, case: Case, *, step_key: str, state: str, on: date, letters_dir: Path,
            context: dict[str, object], document_path: str | None, attach: Iterable[str], domain: str,
            limits: Limits | None = None) -> Outbox:
    """The outbox row of a step's e-mail, in the caller's transaction (rendered now: what was sent is
    what the step decided, whatever the templates say later), within the letters' ``limits``."""
    content = render_email(letters_dir, state, context, limits)
    row = Outbox(
        case_id=case.id, step_key=step_key, state=state, occurred_on=on,
        message_id=message_id(case.ref, step_key, domain), to_address=case.debtor.email,
        subject=content.subject, body_text=content.text, body_html=content.html,
        document_path=document_path, attach=list(attach) if document_path else [],
        status="pending", attempts=0, created_at=_utcnow(),
    )
    session.add(row)
    return row


def deliver(store: Store, settings: SmtpSettings | None, output_dir: Path, *, on: date,
            now: datetime | None = None, retry: bool = False, transport: Transport | None = None) -> Delivery:
    """Send what is due in the outbox (``retry``: everything unsent, failed ones included, at once)."""
    now = now or _utcnow()
    report = Delivery()
    with store.session() as session:
        due = session.execute(_due(now, retry).with_only_columns(Outbox.id, Outbox.document_path, Outbox.attach)).all()
        report.waiting = (session.scalar(select(_count()).where(Outbox.status == "pending")) or 0) - len(due)
    if settings is None:
        report.configured, report.waiting = False, report.waiting + len(due)
        return report
    if not due:
        return report
    pdf_problems = _make_pdfs(output_dir, [(path, attach) for _id, path, attach in due if path], report)
    try:
        transport = transport or open_transport(settings)
    except SmtpConfigError as exc:
        report.error, report.waiting = str(exc), report.waiting + len(due)
        return report
    try:
        for outbox_id, _path, _attach in due:
            _send_one(store, transport, settings, output_dir, outbox_id, on, now, retry, pdf_problems, report)
    finally:
        transport.close()
    return report


def _send_one(store: Store, transport: Transport, settings: SmtpSettings, output_dir: Path, outbox_id: int,
              on: date, now: datetime, retry: bool, pdf_problems: dict[str, str], report: Delivery) -> None:
    with store.session() as session:
        row = session.get_one(Outbox, outbox_id)
        # The case's row lock (PostgreSQL) serialises this with a run or another sender on the same case;
        # the status is read again under it, so a message another sender recorded is not sent twice.
        case = session.get_one(Case, row.case_id, with_for_update=store.is_postgresql, populate_existing=True)
        session.refresh(row)
        if row.status == "sent" or (row.status == "failed" and not retry):
            return
        left = _left_step(case, row)
        if left is not None:
            row.status, row.last_error, row.next_attempt_at = "superseded", left, None
            for task in _failure_tasks(session, case, row):  # nothing left to fix for the team
                task.done_on, task.outcome = max(on, row.occurred_on), "superseded"
            report.superseded.append((case.ref, left))
            return
        if row.status == "failed":
            row.status, row.to_address = "pending", case.debtor.email  # the team may have fixed the address
        day = max(on, row.occurred_on)
        row.attempts += 1
        try:
            to = check_address(row.to_address)
            attachments = _attachments(session, output_dir, row, pdf_problems)
            message = build(Email(row.message_id, settings.sender, to, row.subject, row.body_text, row.body_html,
                                  settings.reply_to, attachments, (("X-Relance-Case", case.ref),)))
            answer = transport.send(message, parseaddr(settings.sender)[1] or settings.sender, to)
        except TemporaryFailure as exc:
            if row.attempts < settings.max_attempts:
                delay = min(timedelta(seconds=settings.retry_after * 2 ** (row.attempts - 1)), MAX_BACKOFF)
                row.next_attempt_at, row.last_error = now + delay, str(exc)
                append_event(session, case, EmailRetried(row.step_key, row.message_id, row.attempts, exc.french,
                                                         row.next_attempt_at.isoformat(timespec="minutes")), day)
                report.retried.append((case.ref, str(exc)))
                return
            _fail(session, case, row, (f"{exc} (after {row.attempts} tries)", f"{exc.french} (après {row.attempts} "
                                       "essais)"), day, report)
            return
        # A letter that is not the one recorded (DocumentError): a person must look (relance verify).
        except (PermanentFailure, AddressError, DocumentError) as exc:
            _fail(session, case, row, (str(exc), exc.french or str(exc)), day, report)
            return
        row.status, row.smtp_response, row.sent_at, row.last_error = "sent", answer, _utcnow(), None
        # The hash of the bytes the server took, not of a file read again later: the evidence of what left.
        sent_files = tuple(SentFile(a.filename, hashlib.sha256(a.content).hexdigest()) for a in attachments)
        append_event(session, case, EmailSent(row.step_key, row.message_id, to, row.subject, answer,
                                              attempt=row.attempts, files=sent_files), day)
        for task in _failure_tasks(session, case, row):
            task.done_on, task.outcome = day, "sent"
        report.sent.append(row.message_id)


def _failure_tasks(session: Session, case: Case, row: Outbox) -> list[Task]:
    """The open `email_failed` tasks of this e-mail."""
    return list(session.scalars(select(Task).where(Task.case_id == case.id, Task.kind == "email_failed",
                                                   Task.step_key == row.step_key, Task.done_on.is_(None))))


def _left_step(case: Case, row: Outbox) -> str | None:
    """Why the e-mail of ``row`` must no longer go out, or None. It says what its step said ("please pay by
    ..."); once the case has taken a later step (paid, disputed, escalated) or closed, sending it late (an
    [smtp] set up weeks after, a retry) would tell the debtor something no longer true."""
    number = row.step_key.partition(":")[0]
    if case.closed:
        return f"not sent: the case was closed ({case.state}) before it could go"
    if number.isdigit() and (case.step_count or 0) > int(number):
        return f"not sent: the case has moved on to {case.state} since this step"
    return None


def _fail(session: Session, case: Case, row: Outbox, reasons: tuple[str, str], day: date, report: Delivery) -> None:
    """The step is `email_failed`: recorded, and on the team's task list (reopened if it was closed).
    ``reasons``: why, in English for the command line's outbox, and in French for the timeline and the
    team's task list."""
    english, why = reasons
    row.status, row.last_error, row.next_attempt_at = "failed", english, None
    append_event(session, case, EmailFailed(row.step_key, row.message_id, why, row.to_address, row.attempts), day)
    task = session.scalar(select(Task).where(Task.case_id == case.id, Task.kind == "email_failed",
                                             Task.step_key == row.step_key))
    if task is None:
        session.add(Task(case_id=case.id, kind="email_failed", step_key=row.step_key, state=row.state,
                         detail=why, created_on=day, due_on=day))
    else:
        task.done_on, task.done_by, task.outcome, task.detail, task.due_on = None, None, None, why, day
    report.failed.append((case.ref, english))


def _attachments(session: Session, output_dir: Path, row: Outbox, pdf_problems: dict[str, str]) -> list[Attachment]:
    """The files the e-mail carries: the step's letter as recorded (its SHA-256 checked, DocumentError
    otherwise: an altered or swapped file must not leave as the letter the timeline describes), in each
    format of ``attach``."""
    if not row.document_path:
        return []
    sha256 = session.scalar(select(Document.sha256).where(Document.case_id == row.case_id,
                                                          Document.path == row.document_path).limit(1))
    docx = recorded_letter(output_dir, row.document_path, sha256 or "", f"the letter of step {row.step_key}",
                           f"le courrier de l'étape {row.state}")
    found = []
    for fmt in row.attach or ["pdf"]:
        path = docx.with_suffix(f".{fmt}")
        if fmt == "pdf" and row.document_path in pdf_problems:
            raise TemporaryFailure(pdf_problems[row.document_path], french="le PDF du courrier n'a pas pu être fait "
                                   f"(LibreOffice : {pdf_problems[row.document_path]})")
        try:
            found.append(Attachment(path.name, path.read_bytes()))
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise TemporaryFailure(f"the letter {path} cannot be read ({why})",
                                   french=f"le fichier {path.name} ne peut pas être lu ({why})") from None
    return found


def _make_pdfs(output_dir: Path, rows: list[tuple[str, list[str]]], report: Delivery) -> dict[str, str]:
    """The PDFs the due e-mails attach and that do not exist yet, in one LibreOffice batch; the problems
    by document path (those e-mails fail temporarily and are tried again)."""
    wanted = {}
    for path, attach in rows:
        docx = output_dir / path
        pdf = docx.with_suffix(".pdf")
        if "pdf" in (attach or ["pdf"]) and docx.is_file() and (
                not pdf.is_file() or pdf.stat().st_mtime_ns < docx.stat().st_mtime_ns):
            wanted[docx.resolve()] = path
    if not wanted:
        return {}
    try:
        done = convert_batch(wanted)
    except PdfError as exc:
        return {path: str(exc) for path in wanted.values()}
    report.pdf_processes += done.processes
    return {wanted[source]: why for source, why in done.failed.items()}


def _due(now: datetime, retry: bool) -> Select[Outbox]:
    query = select(Outbox).order_by(Outbox.id)
    if retry:
        return query.where(Outbox.status.in_(("pending", "failed")))
    return query.where(Outbox.status == "pending",
                       or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now))


def _count() -> ColumnElement[int]:
    return func.count(Outbox.id)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


__all__ = ["Delivery", "OutboxLine", "deliver", "enqueue", "outbox_rows"]
