"""The team's task list: calls the workflow asks for, e-mails that could not go; and a call's outcome.

A `channel: phone` step opens a `call` task (engine.cases.channels); a permanently failed e-mail opens an
`email_failed` one (engine.cases.outbox). `relance tasks` lists the open ones with what a caller needs
(debtor, phone, balance, the contacts so far); `relance case call` records a call (`call_recorded`, the
only kind of call a letter may cite) and closes the task — except "no answer", which moves it to the
next day. A promise or a dispute heard on the phone opens the matching pause through the escalator,
exactly as `relance case promise|dispute` would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases.actions import Outcome
from engine.cases.desk import Desk
from engine.cases.lookup import require_case
from engine.cases.steps import act
from engine.core.money import format_date
from engine.errors import CaseError
from engine.store import ledger
from engine.store.events import (
    CALL_OUTCOMES,
    CHANNEL_LABELS,
    OUTCOME_LABELS,
    CallRecorded,
    EmailFailed,
    EmailSent,
    LetterSent,
    read_event,
)
from engine.store.models import Case, Debtor, Event, Task
from engine.store.timeline import append_event

CONTACT_KINDS = (LetterSent.kind, EmailSent.kind, EmailFailed.kind, CallRecorded.kind)
HISTORY_SHOWN = 6

Labeller = Callable[[str, int, str], str]  # (workflow, version, state) → label


@dataclass(frozen=True)
class TaskLine:
    """One open task as `relance tasks` prints it."""

    id: int
    kind: str
    case_ref: str
    state: str | None
    due_on: date
    debtor_ref: str
    debtor_name: str
    phone: str | None
    email: str | None
    balance: Decimal
    currency: str
    detail: str | None
    history: tuple[str, ...]
    case_id: int = 0  # the web app links to the case by id
    seen: int = 0  # the length of the case's timeline as listed: a call form sent twice records one call
    state_label: str | None = None  # the task's state as the workflow version its case runs on names it


def open_call_task(session: Session, case: Case, step_key: str, state: str, on: date) -> Task:
    """A call the step asks for, due the day of the step (in the caller's transaction)."""
    task = Task(case_id=case.id, kind="call", step_key=step_key, state=state, created_on=on, due_on=on)
    session.add(task)
    return task


def list_tasks(session: Session, as_of: date, *, due: date | None = None, kinds: tuple[str, ...] = (),
               limit: int | None = None, labels: Labeller | None = None) -> list[TaskLine]:
    """Open tasks (due on or before ``due`` when given), oldest due first (``limit`` of them at most);
    ``labels`` (workflow, version, state → its label, engine.cases.workflows' StateNames.label) name each task's
    state and the letters of its contact history as the version its case runs on does (cases on an older
    version than the current one are named as their letters and timelines were).

    Balances as of ``as_of`` come in the same query, and the contact histories in one more: a queue of a
    hundred calls is two round trips, not three hundred."""
    principal, paid = ledger.case_money_columns(Case.id, as_of)
    query = (select(Task, Case, Debtor, principal, paid).join(Case, Case.id == Task.case_id)
             .join(Debtor, Debtor.id == Case.debtor_id)
             # A closed case's task is moot (a call would chase a settled or handed-over debt); kept, not listed.
             .where(Task.done_on.is_(None), Case.closed.is_(False)).order_by(Task.due_on, Task.id))
    if due is not None:
        query = query.where(Task.due_on <= due)
    if kinds:
        query = query.where(Task.kind.in_(kinds))
    found = session.execute(query.limit(limit)).all()
    versions = {case.id: (case.workflow_name, case.workflow_version) for _task, case, *_ in found}

    def named(case_id: int, state: str) -> str:
        return labels(*versions[case_id], state) if labels is not None else state

    histories = contact_histories(session, list(versions), named)
    return [TaskLine(task.id, task.kind, case.ref, task.state, task.due_on, debtor.ref, debtor.name, debtor.phone,
                     debtor.email, ledger.money(principal_cents) - ledger.money(paid_cents), case.currency,
                     task.detail, histories.get(case.id, ()), case.id, case.event_count or 0,
                     named(case.id, task.state) if task.state else None)
            for task, case, debtor, principal_cents, paid_cents in found]


def open_tasks_of(session: Session, case_id: int) -> list[tuple[str, date]]:
    """(kind, due on) of the case's open tasks, for its page (none once it is closed, as the queue lists none)."""
    return [(kind, due_on) for kind, due_on in session.execute(
        select(Task.kind, Task.due_on).join(Case, Case.id == Task.case_id)
        .where(Task.case_id == case_id, Task.done_on.is_(None), Case.closed.is_(False)).order_by(Task.due_on))]


def contact_history(session: Session, case: Case) -> tuple[str, ...]:
    """The case's recorded contacts, newest last: letters, e-mails sent or failed, calls made."""
    return contact_histories(session, [case.id]).get(case.id, ())


def contact_histories(session: Session, case_ids: list[int],
                      named: Callable[[int, str], str] | None = None) -> dict[int, tuple[str, ...]]:
    """``contact_history`` of several cases in one query (the last HISTORY_SHOWN contacts of each); a letter
    is named by ``named`` (case id, state → the label its case's version gives: "Première relance", not
    "reminder1")."""
    said: dict[int, list[str]] = {}
    if not case_ids:
        return {}
    for event in session.scalars(select(Event).where(Event.case_id.in_(case_ids), Event.kind.in_(CONTACT_KINDS))
                                 .order_by(Event.case_id, Event.seq)):
        payload = read_event(event.kind, event.payload)
        day = format_date(event.occurred_on)
        lines = said.setdefault(event.case_id, [])
        if isinstance(payload, LetterSent):
            state = (named(event.case_id, payload.state) if named else payload.state) if payload.state else ""
            lines.append(f"{day} courrier {state} ({CHANNEL_LABELS.get(payload.channel, payload.channel)})")
        elif isinstance(payload, EmailSent):
            lines.append(f"{day} courriel envoyé")
        elif isinstance(payload, EmailFailed):
            lines.append(f"{day} courriel en échec ({payload.error})")
        elif isinstance(payload, CallRecorded):
            lines.append(f"{day} appel : {OUTCOME_LABELS.get(payload.outcome, payload.outcome)}"
                         + (f" — {payload.note}" if payload.note else ""))
    return {case_id: tuple(lines[-HISTORY_SHOWN:]) for case_id, lines in said.items()}


def record_call(desk: Desk, case_ref: str, outcome: str, on: date, *, by: str, note: str | None = None,
                until: date | None = None) -> Outcome:
    """A call made on ``on``, with its outcome, in one unit of work (see the module docstring)."""
    if outcome not in CALL_OUTCOMES:
        raise CaseError(f"unknown call outcome {outcome!r}; expected one of {', '.join(CALL_OUTCOMES)}",
                        french=f"issue d'appel inconnue « {outcome} » ; attendu : "
                               + ", ".join(OUTCOME_LABELS.get(known, known) for known in CALL_OUTCOMES))
    if outcome == "promise" and until is None:
        raise CaseError("a promise heard on the phone needs the date promised (--until DATE)",
                        french="une promesse faite au téléphone a la date promise (jusqu'au)")
    if outcome != "promise" and until is not None:
        raise CaseError("--until goes with --outcome promise only",
                        french="une date (jusqu'au) ne va qu'avec une promesse de paiement")
    with desk.session() as session:
        case = require_case(session, case_ref)
        append_event(session, case, CallRecorded(outcome, note, case.debtor.phone, until), on, actor=by)
        task = session.scalar(select(Task).where(Task.case_id == case.id, Task.kind == "call", Task.done_on.is_(None))
                              .order_by(Task.due_on, Task.id).limit(1))
        if task is not None:
            task.note = note
            if outcome == "no_answer":
                task.due_on = max(task.due_on, on) + timedelta(days=1)  # call again tomorrow
            else:
                task.done_on, task.done_by, task.outcome = on, by, outcome
        steps = []
        if outcome in ("promise", "dispute"):
            reason = note or f"{OUTCOME_LABELS[outcome]} lors d'un appel"
            steps = act(session, case, desk.escalator_for(case), outcome, on, by=by, reason=reason, until=until,
                        perform=desk.letter_writer())
        return Outcome(case.ref, f"call:{outcome}", on, by, case.state, tuple(steps))


__all__ = [
    "CALL_OUTCOMES", "CONTACT_KINDS", "OUTCOME_LABELS", "TaskLine", "contact_histories", "contact_history",
    "list_tasks", "open_call_task", "open_tasks_of", "record_call",
]
