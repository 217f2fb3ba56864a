"""The database rows: creditors, debtors, invoices, payments, cases and their timeline.

SQLAlchemy 2.0 typed declarative. The schema itself is owned by the Alembic migrations in
engine/migrations; a test checks that the migrated schema and this metadata agree.

Step keys. A step (a state change of one case) is identified by ``f"{n}:{dest}"`` where ``n`` is the
case's step counter after the step (1 for its first state change, 2 for the next...). The counter
lives on the case row, so two workers that read the same case compute the same key for the same
step and the unique (case_id, step_key) constraint on events makes the second one fail and roll
back: a re-run or a race is a no-op. A case that legitimately re-enters a state after a jump gets a
new ``n``, so it is not mistaken for a duplicate. A document's key is the step key followed by
``/i``, the index of the action that produced it within the step.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints make migrations reproducible on both backends (SQLite batch mode needs names).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(14, 2)


class Base(DeclarativeBase):
    """Declarative base sharing one metadata with a constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)
    # Every server default here has a Python default too, so an insert never needs one read back. "auto"
    # would read them back with RETURNING, which on SQLite means one INSERT a row (engine.store.keys).
    __mapper_args__ = {"eager_defaults": False}


# The largest id (or version number) a row can have: Integer columns are 32-bit on PostgreSQL. A larger
# number, in a URL or a page marker, names no row; sent to PostgreSQL it is an error, not an empty answer.
MAX_ID = 2**31 - 1


class Creditor(Base):
    """The company that is owed: its identity appears on every letter."""

    __tablename__ = "creditor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="FR")
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))


class Debtor(Base):
    """A customer who owes money; ``ref`` is the creditor's own customer reference."""

    __tablename__ = "debtor"
    __table_args__ = (
        UniqueConstraint("creditor_id", "ref"),
        CheckConstraint("kind IN ('b2b', 'b2c')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"))
    ref: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="FR")
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    # Stop every case of this debtor from escalating (`relance debtor hold`, or the import's column).
    do_not_chase: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "M." or "Mme" for a person (letters then open "Monsieur," / "Madame,"); none: "Madame, Monsieur,".
    civility: Mapped[str | None] = mapped_column(String(10))
    # Whether a business debtor is a merchant (the court: commerce or judiciaire); none: read the legal
    # form in its name (engine.core.jurisdiction).
    is_merchant: Mapped[bool | None] = mapped_column(Boolean)

    creditor: Mapped[Creditor] = relationship()


# The case list's debtor filter: a reference, or a name prefix read as a range (see engine.cases.listing).
Index("ix_debtor_name", Debtor.name)
Index("ix_debtor_ref", Debtor.ref)


class Case(Base):
    """One escalation: a debtor's overdue invoices moving together through a workflow."""

    # "case" is an SQL keyword: a plural name spares every raw query its quoting.
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "<creditor ref>-<number of the invoice that opened it>": stable, readable, unique.
    ref: Mapped[str] = mapped_column(String(140), unique=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True)
    workflow_name: Mapped[str] = mapped_column(String(100))
    workflow_version: Mapped[int] = mapped_column(Integer)
    # One case per debtor and currency: amounts of two currencies are never added together.
    currency: Mapped[str] = mapped_column(String(3), default="EUR", server_default="EUR")
    state: Mapped[str] = mapped_column(String(64))
    state_entered: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    promise_until: Mapped[date | None] = mapped_column(Date)
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    resume_state: Mapped[str | None] = mapped_column(String(64))
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    letters_sent: Mapped[int] = mapped_column(Integer, default=0)
    steps_taken: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The amount paid (payments + credit notes) the engine was last told about: when the rows
    # say more, the run calls engine.pay() with the difference.
    paid_seen: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    # The balance (principal - paid, from the ledger) when the engine last looked at the case, written
    # with paid_seen: what the case list filters and sorts on with an index. Pages still show the
    # ledger's balance of the day for the rows they print.
    balance_seen: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), server_default="0")
    # Number of state changes so far: the n of the step key "n:dest" (see module docstring).
    step_count: Mapped[int] = mapped_column(Integer, default=0)
    # Denormalised tail of the hash chain: the next event's seq and prev_hash without a query,
    # and verify() detects a deleted last event by comparing them.
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str | None] = mapped_column(String(64))
    next_check_at: Mapped[date | None] = mapped_column(Date, index=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # The state a due step would enter but that needs a person's approval first (`approval: required`):
    # the case waits, unmoved, in `relance approvals` until `relance approve` or `reject`.
    awaiting_approval: Mapped[str | None] = mapped_column(String(64))
    # Why the last run could not advance the case (its change rolled back), and since when; cleared by
    # the next run that advances it. The history of failures is in the timeline ("error" events).
    error: Mapped[str | None] = mapped_column(Text)
    error_on: Mapped[date | None] = mapped_column(Date)

    debtor: Mapped[Debtor] = relationship()
    creditor: Mapped[Creditor] = relationship()
    invoices: Mapped[list[Invoice]] = relationship(back_populates="case", order_by="Invoice.due_date")


# Opening cases looks up a debtor's open case for a workflow.
Index("ix_case_open_debtor", Case.debtor_id, Case.workflow_name, Case.closed)
# The web app's case list: each (open or closed, sort column, id) is one index range scan per page,
# read by keyset (WHERE (column, id) > last seen), so a page costs the same on page 1 and page 10,000.
Index("ix_cases_list_id", Case.closed, Case.id)
Index("ix_cases_list_balance", Case.closed, Case.balance_seen, Case.id)
Index("ix_cases_list_due", Case.closed, Case.due_date, Case.id)
Index("ix_cases_list_state", Case.closed, Case.state, Case.id)
# The few cases waiting for an approval (the web app's "needs me" filter, `relance approvals`).
_WAITING = Case.awaiting_approval.is_not(None)
Index("ix_cases_awaiting_approval", Case.id, postgresql_where=_WAITING, sqlite_where=_WAITING)


class Invoice(Base):
    """An invoice, amount including VAT; ``case_id`` is set once it falls overdue and joins a case."""

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("creditor_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    # Paid in full before it ever needed a case: set by the run the first time it sees it so, so the
    # next runs' search for newly overdue invoices skips it (allocations are never removed).
    settled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Its own escalation facts (engine.cases.invoices): the formal notice that covered it (day and
    # printed reference), the day that notice was received (or first presented), and the day the run
    # found it time-barred (recorded once, with a time_barred event in its case's timeline).
    noticed_on: Mapped[date | None] = mapped_column(Date)
    notice_ref: Mapped[str | None] = mapped_column(String(160))
    notice_received_on: Mapped[date | None] = mapped_column(Date)
    time_barred_on: Mapped[date | None] = mapped_column(Date)

    debtor: Mapped[Debtor] = relationship()
    case: Mapped[Case | None] = relationship(back_populates="invoices")


# The run's search for invoices still waiting for a case reads only these few rows, however many
# invoices the database holds (cost follows what is due, not what is stored).
_AWAITING = Invoice.case_id.is_(None) & (Invoice.settled == false())
Index("ix_invoice_awaiting_case", Invoice.id, postgresql_where=_AWAITING, sqlite_where=_AWAITING)


class Payment(Base):
    """Money received from a debtor; ``natural_key`` makes re-imports no-ops (see importer)."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("creditor_id", "natural_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True)
    payment_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    reference: Mapped[str | None] = mapped_column(String(100))
    invoice_number: Mapped[str | None] = mapped_column(String(64))
    natural_key: Mapped[str] = mapped_column(String(300))
    # It pays only invoices in this currency (engine.store.ledger): what they do not take stays as credit in it.
    currency: Mapped[str] = mapped_column(String(3), default="EUR", server_default="EUR")


class CreditNote(Base):
    """An avoir: reduces what the debtor owes, allocated like a payment."""

    __tablename__ = "credit_note"
    __table_args__ = (UniqueConstraint("creditor_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditor.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtor.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    issue_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    invoice_number: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="EUR", server_default="EUR")  # as a payment's


class PaymentAllocation(Base):
    """The part of a payment (or credit note) applied to one invoice."""

    __tablename__ = "payment_allocation"
    __table_args__ = (
        CheckConstraint(
            "(payment_id IS NULL) <> (credit_note_id IS NULL)", name="one_source"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("credit_note.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)


class Event(Base):
    """One line of a case's timeline; append-only and hash-chained (see engine.store.timeline)."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        UniqueConstraint("case_id", "step_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(100))
    # Set on state_change events only: the step key that makes a step happen at most once.
    step_key: Mapped[str | None] = mapped_column(String(100))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Document(Base):
    """A file produced by a step (a letter); its SHA-256 is also in the letter event's payload."""

    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("case_id", "step_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    step_key: Mapped[str] = mapped_column(String(100))
    # Set with the letter event itself, so the document and its event go in one flush.
    event: Mapped[Event | None] = relationship()
    state: Mapped[str] = mapped_column(String(64))
    template: Mapped[str | None] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WorkflowVersion(Base):
    """The text of each workflow version cases were started on, so they keep its rules after the file moves on."""

    __tablename__ = "workflow_version"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    first_used: Mapped[datetime] = mapped_column(DateTime)




class User(Base):
    """A person of the team who signs in to the web app; ``name`` is what the timeline records as ``by``."""

    # "user" is reserved in PostgreSQL.
    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint("role IN ('viewer', 'collector', 'legal', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, with its own salt and parameters
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)


class TemplateVersion(Base):
    """Each letter template as uploaded: its bytes, who and when. The newest is the file the letters use."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # the file name in the letters folder, e.g. relance_1.docx
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str | None] = mapped_column(String(100))  # None: the file as it was before any upload
    uploaded_at: Mapped[datetime] = mapped_column(DateTime)


class Outbox(Base):
    """An e-mail a step calls for, committed with the step and delivered after the commit (engine.cases.outbox).

    One row per (case, step): ``message_id`` is derived from both, so a crash between the SMTP answer and
    the record re-sends the same message, never a second one. ``status`` is ``pending`` (to send, at or
    after ``next_attempt_at``), ``sent``, ``failed`` (permanently: the case is on the task list) or
    ``superseded`` (never sent: the case had left the step by the time it could go).
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("case_id", "step_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    step_key: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(64))
    occurred_on: Mapped[date] = mapped_column(Date)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    to_address: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # The letter (DOCX, relative to the output folder) and the formats it is attached in ("pdf", "docx").
    document_path: Mapped[str | None] = mapped_column(Text)
    attach: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


Index("ix_outbox_status", Outbox.status, Outbox.next_attempt_at)


class Task(Base):
    """Something a person must do on a case: a phone call a step asked for, an e-mail that could not go.

    Open while ``done_on`` is empty; ``relance tasks`` lists the open ones, ``relance case call`` closes
    a call with its outcome.
    """

    __tablename__ = "task"
    __table_args__ = (UniqueConstraint("case_id", "kind", "step_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "call" | "email_failed"
    step_key: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    created_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)
    done_by: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


Index("ix_task_open", Task.done_on, Task.due_on)
