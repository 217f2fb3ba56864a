"""Between a case row and the core's CaseState: rebuild, reconcile payments, record steps and actions.

The run and the CLI's case commands (pay, dispute, promise, hold, resume, jump, note) share these,
so a step taken by hand lands in the timeline exactly like a step taken by the run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.case import Action, CaseState, Step
from engine.machine import Engine, EngineError
from engine.models import Case, CreditNote, Debtor, Document, Invoice, Payment, PaymentAllocation
from engine.timeline import append_event

ZERO = Decimal("0")
Perform = Callable[[Session, Case, Step, Action], Any]


def find_case(session: Session, ref: str) -> Case | None:
    """The case with this ref, else the case holding an invoice with this number (newest first)."""
    case = session.scalar(select(Case).where(Case.ref == ref))
    if case is not None:
        return case
    return session.scalar(
        select(Case).join(Invoice, Invoice.case_id == Case.id).where(Invoice.number == ref).order_by(Case.id.desc()).limit(1)
    )


def case_state(session: Session, case_row: Case, as_of: date | None = None) -> CaseState:
    """The core's view of a case, rebuilt from rows: principal = its invoices, paid = what was applied
    to them (payment allocations and credit notes) — as of ``as_of`` when given, so money dated later
    (a payment imported ahead of its value date, a run replayed for a past day) does not count yet."""
    # One round trip (the run does this for every case): invoice totals, what was applied to
    # them, and the debtor's kind and country.
    invoices = (
        select(func.coalesce(func.sum(Invoice.amount), 0), func.count(Invoice.id))
        .where(Invoice.case_id == case_row.id)
        .subquery()
    )
    applied_query = (
        select(func.coalesce(func.sum(PaymentAllocation.amount), 0))
        .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .where(Invoice.case_id == case_row.id)
    )
    if as_of is not None:
        dated = func.coalesce(Payment.payment_date, CreditNote.issue_date)
        applied_query = (
            applied_query.outerjoin(Payment, Payment.id == PaymentAllocation.payment_id)
            .outerjoin(CreditNote, CreditNote.id == PaymentAllocation.credit_note_id)
            .where(dated <= as_of)
        )
    applied = applied_query.scalar_subquery()
    found = session.execute(
        select(invoices, applied, Debtor.kind, Debtor.country)
        .outerjoin(Debtor, Debtor.id == case_row.debtor_id)
    ).one()
    principal, count, paid, kind, country = found
    return CaseState(
        state=case_row.state,
        state_entered=case_row.state_entered,
        due_date=case_row.due_date,
        principal=_cents(principal),
        paid=_cents(paid),
        invoice_count=int(count),
        letters_sent=case_row.letters_sent,
        debtor_kind=kind or "b2b",
        debtor_country=country or "FR",
        disputed=case_row.disputed,
        promise_until=case_row.promise_until,
        on_hold=case_row.on_hold,
        resume_state=case_row.resume_state,
        steps_taken=list(case_row.steps_taken or []),
        key=case_row.id,
    )


def reconcile(session: Session, case_row: Case, state: CaseState, engine: Engine, on: date) -> list[Step]:
    """Tell the engine about money applied since it last heard (``engine.pay`` with the difference)."""
    seen = _cents(case_row.paid_seen)
    unseen = state.paid - seen
    if unseen <= 0:
        return []  # nothing new (a reversal simply lowers `paid`; there is no negative payment)
    state.paid = seen
    return engine.pay(state, unseen, on)


def apply_steps(
    session: Session,
    case_row: Case,
    state: CaseState,
    steps: list[Step],
    engine: Engine,
    perform: Perform | None = None,
    actor: str | None = None,
    *,
    as_of: date | None = None,
) -> list[Document]:
    """Record ``steps`` (already applied to ``state``) on ``case_row``, in the caller's transaction.

    Per step: a state_change event keyed ``"{n}:{dest}"`` (unique per case, so a duplicate fails),
    then ``perform(session, case_row, step, action)`` per action; each Document it returns is
    stored with a letter event carrying its SHA-256. Then the row takes the state's fields and
    its next_check_at (after ``as_of`` when given, so a second run that day finds nothing).
    """
    documents = []
    for step in steps:
        case_row.step_count = (case_row.step_count or 0) + 1
        key = f"{case_row.step_count}:{step.dest}"
        change = append_event(session, case_row, "state_change", step.on, {
            "trigger": step.trigger, "source": step.source, "dest": step.dest, "facts": step.facts,
            "reason": step.reason, "actions": [_action_facts(a) for a in step.actions],
        }, actor=step.by or actor, step_key=key)
        for index, action in enumerate(step.actions):
            document = perform(session, case_row, step, action) if perform is not None else None
            if document is None:
                continue
            document.case_id = case_row.id
            document.step_key = f"{key}/{index}"
            document.state = step.dest
            document.template = document.template or action.template
            document.created_at = document.created_at or change.recorded_at
            letter = append_event(session, case_row, "letter", step.on, {
                "template": document.template, "path": document.path, "sha256": document.sha256,
                "channel": action.kind, "state": step.dest, "step_key": key,
            }, actor=step.by or actor)
            session.flush()  # the letter event's id, so the document row is inserted complete
            document.event_id = letter.id
            session.add(document)
            documents.append(document)
    _store_state(case_row, state, engine, as_of or (steps[-1].on if steps else None), strict=as_of is not None)
    session.flush()
    return documents


def act(
    session: Session,
    case_row: Case,
    engine: Engine,
    action: str,
    on: date,
    *,
    by: str | None = None,
    reason: str | None = None,
    until: date | None = None,
    dest: str | None = None,
    perform: Perform | None = None,
) -> list[Step]:
    """A manual action on a case (dispute, resolve, promise, hold, resume, jump, note), recorded.

    The action's own event goes in first (it happened even if the workflow moves nothing), then
    the steps it caused. Raises EngineError (nothing recorded; roll back) when it does not apply.
    """
    state = case_state(session, case_row, on)
    steps = reconcile(session, case_row, state, engine, on)
    payload: dict[str, Any] = {"reason": reason}
    if action == "dispute":
        steps += engine.dispute(state, on, reason or "", by=by)
    elif action == "resolve":
        steps += engine.resolve_dispute(state, on, reason or "", by=by)
    elif action == "promise":
        if until is None:
            raise EngineError("a promise needs a date (until)")
        payload["until"] = until
        steps += engine.promise(state, until, on, by=by)
    elif action == "hold":
        steps += engine.hold(state, on, reason or "", by=by)
    elif action == "resume":
        steps += engine.resume(state, on, by=by)
    elif action == "jump":
        if dest is None:
            raise EngineError("a jump needs a destination state")
        payload.update({"from": state.state, "to": dest})
        steps += engine.jump(state, dest, on, reason or "", by=by)
    elif action != "note":
        raise EngineError(f"unknown case action {action!r}")
    append_event(session, case_row, action, on, payload, actor=by)
    apply_steps(session, case_row, state, steps, engine, perform, actor=by)
    return steps


def record_payment(
    session: Session,
    case_row: Case,
    amount: Decimal,
    on: date,
    *,
    reference: str | None = None,
    by: str | None = None,
) -> Payment:
    """A payment entered by hand for a case: stored, allocated to the case's invoices oldest due
    first, and a ``payment`` event; the next ``reconcile`` tells the engine."""
    amount = _cents(amount)
    if amount <= 0:
        raise EngineError(f"a payment must be positive, not {amount}")
    key = f"manual|{case_row.ref}|{on}|{amount}|{reference or ''}|{(case_row.event_count or 0) + 1}"
    payment = Payment(creditor_id=case_row.creditor_id, debtor_id=case_row.debtor_id, payment_date=on,
                      amount=amount, reference=reference, natural_key=key)
    session.add(payment)
    session.flush()
    left, shares = amount, []
    for invoice, done in session.execute(
        select(Invoice, func.coalesce(func.sum(PaymentAllocation.amount), 0))
        .outerjoin(PaymentAllocation, PaymentAllocation.invoice_id == Invoice.id)
        .where(Invoice.case_id == case_row.id)
        .group_by(Invoice.id)
        .order_by(Invoice.due_date, Invoice.id)
    ).all():
        share = min(left, invoice.amount - _cents(done))
        if share > 0:
            session.add(PaymentAllocation(invoice_id=invoice.id, payment_id=payment.id, amount=share))
            shares.append({"number": invoice.number, "amount": share})
            left -= share
    append_event(session, case_row, "payment", on, {"amount": amount, "reference": reference, "invoices": shares,
                                                    "unallocated": left}, actor=by)
    if case_row.next_check_at is None or case_row.next_check_at > on:
        case_row.next_check_at = on  # the next run (or reconcile) tells the engine
    session.flush()
    return payment


def balance_of(session: Session, case_row: Case) -> tuple[Decimal, Decimal]:
    """(principal, paid) of a case from its rows, for reports and exports."""
    state = case_state(session, case_row)
    return state.principal, state.paid


def _store_state(case_row: Case, state: CaseState, engine: Engine, as_of: date | None, *, strict: bool) -> None:
    case_row.state = state.state
    case_row.state_entered = state.state_entered
    case_row.due_date = state.due_date
    case_row.promise_until = state.promise_until
    case_row.on_hold = state.on_hold
    case_row.resume_state = state.resume_state
    case_row.disputed = state.disputed
    case_row.letters_sent = state.letters_sent
    case_row.steps_taken = list(state.steps_taken)  # a new list, so the JSON column sees the change
    case_row.paid_seen = state.paid
    if engine.workflow.states[state.state].final:
        case_row.closed = True
        case_row.closed_on = as_of or state.state_entered
        case_row.next_check_at = None
        return
    following = engine.next_check(state)
    if following is not None and strict and as_of is not None and following <= as_of:
        following = as_of + timedelta(days=1)  # at most one timed step per case per run day
    case_row.next_check_at = following


def _action_facts(action: Action) -> dict[str, Any]:
    return {"kind": action.kind, "state": action.state, "template": action.template,
            "pay_within_days": action.pay_within_days}


def _cents(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


__all__ = ["act", "apply_steps", "balance_of", "case_state", "find_case", "reconcile", "record_payment"]
