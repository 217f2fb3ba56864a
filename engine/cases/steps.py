"""Between a case row and the core's CaseState: rebuild, reconcile payments, record steps and actions.

The run (engine.cases.run) and the actions a person takes (engine.cases.actions) share these, so a
step taken by hand lands in the timeline exactly like a step taken by the run. They work inside the
caller's transaction; the use cases around them own the unit of work.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases.desk import Perform
from engine.cases.invoices import (
    claimed,
    fill_state,
    invoice_statuses,
    letter_reference,
    listed,
    mark_noticed,
    record_time_barred,
)
from engine.core.case import CaseState, Step
from engine.core.machine import EscalationError, Escalator, require_not_before_state
from engine.errors import CaseError
from engine.store import ledger
from engine.store.events import (
    RUN_ACTOR,
    ActionFacts,
    ApprovalRequested,
    CreditNoteApplied,
    Dispute,
    EventPayload,
    Hold,
    InvoiceShare,
    Jump,
    LetterSent,
    Note,
    NoticeReceived,
    PaymentReceived,
    Promise,
    Resolve,
    Resume,
    StateChange,
    read_event,
)
from engine.store.models import Case, Document, Event, Payment
from engine.store.timeline import append_event, events_of

ZERO = Decimal("0")


def case_state(session: Session, case_row: Case, as_of: date | None = None) -> CaseState:
    """The core's view of a case, rebuilt from rows; its money is the ledger's as of ``as_of``, so money
    dated later (a payment imported ahead of its value date, a run replayed for a past day) does not count yet.
    The per-invoice facts (noticed, time-barred, prescription, notice receipt) are summed in (engine.cases.invoices)."""
    debtor = case_row.debtor
    state = CaseState(
        state=case_row.state,
        state_entered=case_row.state_entered,
        due_date=case_row.due_date,
        principal=ZERO,
        letters_sent=case_row.letters_sent,
        debtor_kind=debtor.kind,
        debtor_country=debtor.country or "FR",
        currency=case_row.currency,
        disputed=case_row.disputed,
        promise_until=case_row.promise_until,
        on_hold=case_row.on_hold,
        resume_state=case_row.resume_state,
        steps_taken=list(case_row.steps_taken or []),
        key=case_row.id,
        awaiting_approval=case_row.awaiting_approval,
        debtor_hold=bool(debtor.do_not_chase),
    )
    fill_state(state, invoice_statuses(session, case_row, as_of))
    return state


def reconcile(session: Session, case_row: Case, state: CaseState, escalator: Escalator, on: date) -> list[Step]:
    """Tell the escalator about money applied since it last heard (``escalator.pay`` with the difference)."""
    seen = _cents(case_row.paid_seen)
    unseen = state.paid - seen
    if unseen <= 0:
        return []  # nothing new (a reversal simply lowers `paid`; there is no negative payment)
    state.paid = seen
    day, by = _money_arrived(session, case_row, state, on)
    return escalator.pay(state, unseen, day, by=by)


def _money_arrived(session: Session, case_row: Case, state: CaseState, on: date) -> tuple[date, str | None]:
    """When and by whom the money not yet seen arrived: the latest payment or credit note counted as of ``on``
    (its own day, and who recorded it; the automatic allocation of an imported file is the engine's). A step
    it causes (« Soldée ») is then dated and signed by that money, not by whoever looks at the case next (an
    approval, a note, a run days later). Never before the case entered its state: the timeline's steps follow
    one another."""
    latest: Event | None = None
    for event in events_of(session, case_row):
        if event.kind in _MONEY_KINDS and event.occurred_on <= on and (
                latest is None or event.occurred_on >= latest.occurred_on):
            latest = event
    if latest is None:  # money the timeline does not tell of: the day of the look, as before
        return on, None
    return max(latest.occurred_on, state.state_entered), latest.actor or RUN_ACTOR


_MONEY_KINDS = frozenset({PaymentReceived.kind, CreditNoteApplied.kind})


def apply_steps(
    session: Session,
    case_row: Case,
    state: CaseState,
    steps: list[Step],
    escalator: Escalator,
    perform: Perform | None = None,
    actor: str | None = None,
    *,
    as_of: date | None = None,
    flush: bool = True,
) -> list[Document]:
    """Record ``steps`` (already applied to ``state``) on ``case_row``, in the caller's transaction.

    Per step: a state_change event keyed ``"{n}:{dest}"`` (unique per case, so a duplicate fails),
    then ``perform(session, case_row, step, action)`` per action; each Document it returns is
    stored with a letter event carrying its SHA-256. Then the row takes the state's fields and
    its next_check_at (after ``as_of`` when given, so a second run that day finds nothing).
    ``flush=False`` leaves the rows pending: a run flushes a whole batch at once (engine.cases.batch).
    """
    documents = []
    states = escalator.workflow.states
    if as_of is not None and state.barred > 0:  # tell the timeline once why these invoices go no further
        record_time_barred(session, case_row, invoice_statuses(session, case_row, as_of), as_of, actor or RUN_ACTOR)
    for step in steps:
        case_row.step_count = (case_row.step_count or 0) + 1
        key = f"{case_row.step_count}:{step.dest}"
        change = append_event(session, case_row, StateChange(
            trigger=step.trigger, source=step.source, dest=step.dest, facts=step.facts, reason=step.reason,
            actions=tuple(ActionFacts(a.kind, a.state, a.template, a.pay_within_days) for a in step.actions),
            source_label=state_label(states, step.source), dest_label=state_label(states, step.dest),
            currency=case_row.currency,
        ), step.on, actor=step.by or actor or RUN_ACTOR, step_key=key)
        kind = states[step.dest].kind if step.dest in states else None
        listed_numbers: tuple[str, ...] = ()
        if any(a.template for a in step.actions):
            statuses = invoice_statuses(session, case_row, step.on)
            if kind == "formal_notice":
                mark_noticed(statuses, step.on, letter_reference(case_row))
            listed_numbers = tuple(s.invoice.number for s in listed(claimed(statuses, kind)))
        for index, action in enumerate(step.actions):
            document = perform(session, case_row, step, action) if perform is not None else None
            if document is None:
                continue
            document.case_id = case_row.id
            document.step_key = f"{key}/{index}"
            document.state = step.dest
            document.template = document.template or action.template
            document.created_at = document.created_at or change.recorded_at
            letter = append_event(session, case_row, LetterSent(
                template=document.template, path=document.path, sha256=document.sha256,
                channel=action.kind, state=step.dest, step_key=key, reference=letter_reference(case_row),
                invoices=listed_numbers,
            ), step.on, actor=step.by or actor or RUN_ACTOR)
            document.event = letter  # inserted after its event, in the same flush
            session.add(document)
            documents.append(document)
    note_awaiting(session, case_row, state, escalator, as_of or (steps[-1].on if steps else None), actor=actor)
    _store_state(case_row, state, escalator, as_of or (steps[-1].on if steps else None), strict=as_of is not None)
    if flush:
        session.flush()
    return documents


def note_awaiting(session: Session, case_row: Case, state: CaseState, escalator: Escalator, on: date | None, *,
                  actor: str | None = None, manual: bool = False) -> None:
    """A due step that waits for approval (``state.awaiting_approval``, new): an approval_requested event,
    once per request (engine.cases.approvals lists, approves and rejects them)."""
    waiting = state.awaiting_approval
    if waiting is not None and waiting != case_row.awaiting_approval:
        states = escalator.workflow.states
        append_event(session, case_row, ApprovalRequested(
            state=waiting, source=state.state, manual=manual,
            state_label=state_label(states, waiting), source_label=state_label(states, state.state),
        ), on or state.state_entered, actor=actor)
    case_row.awaiting_approval = waiting


def act(
    session: Session,
    case_row: Case,
    escalator: Escalator,
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
    the steps it caused. Raises EscalationError (nothing recorded; roll back) when it does not apply.
    """
    state = case_state(session, case_row, on)
    if action not in ("note", "jump"):  # a note may recall the past; a jump says it itself (Escalator.jump)
        require_not_before_state(state, on, action)
    steps = reconcile(session, case_row, state, escalator, on)
    event: EventPayload
    if action == "dispute":
        event, steps = Dispute(reason), steps + escalator.dispute(state, on, reason or "", by=by)
    elif action == "resolve":
        event, steps = Resolve(reason), steps + escalator.resolve_dispute(state, on, reason or "", by=by)
    elif action == "promise":
        if until is None:
            raise EscalationError("a promise needs a date (until)", french="une promesse a une date (jusqu'au)")
        event, steps = Promise(reason, until), steps + escalator.promise(state, until, on, by=by)
    elif action == "hold":
        event, steps = Hold(reason), steps + escalator.hold(state, on, reason or "", by=by)
    elif action == "resume":
        event, steps = Resume(reason), steps + escalator.resume(state, on, by=by)
    elif action == "jump":
        if dest is None:
            raise EscalationError("a jump needs a destination state", french="une étape à la main a un état où aller")
        event = Jump(reason, from_=state.state, to=dest)
        steps += escalator.jump(state, dest, on, reason or "", by=by)
        if state.awaiting_approval == dest:  # the jump waits for approval: recorded as asked by hand
            append_event(session, case_row, event, on, actor=by)
            note_awaiting(session, case_row, state, escalator, on, actor=by, manual=True)
            apply_steps(session, case_row, state, steps, escalator, perform, actor=by)
            return steps
    elif action == "note":
        event = Note(reason)
    else:
        raise EscalationError(f"unknown case action {action!r}")
    append_event(session, case_row, event, on, actor=by)
    apply_steps(session, case_row, state, steps, escalator, perform, actor=by)
    return steps


def record_payment(
    session: Session,
    case_row: Case,
    amount: Decimal,
    on: date,
    *,
    reference: str | None = None,
    by: str | None = None,
) -> Decimal:
    """A payment entered by hand for a case: stored, allocated to the case's invoices in the ledger's
    order, and a ``payment`` event; the next ``reconcile`` tells the escalator. What is left once the
    case is paid is the debtor's credit: the ledger applies it to the debtor's other open invoices
    (their cases get a ``payment`` event), and keeps the rest for the next ones. Returns that part: what
    the case's invoices did not take."""
    amount = _cents(amount)
    if amount <= 0:
        raise EscalationError(f"a payment must be positive, not {amount}",
                              french=f"un paiement est un montant positif, pas {amount}")
    currency = case_row.currency or "EUR"  # typed against the case, so in its currency
    owed = ledger.open_invoices(session, case_id=case_row.id).get(case_row.debtor_id, [])
    shares, left = ledger.allocate(amount, owed, currency=currency)
    _refuse_before_issue(case_row, on, {share.invoice.id for share in shares})
    key = f"manual|{case_row.ref}|{on}|{amount}|{reference or ''}|{(case_row.event_count or 0) + 1}"
    payment = Payment(creditor_id=case_row.creditor_id, debtor_id=case_row.debtor_id, payment_date=on,
                      amount=amount, reference=reference, natural_key=key, currency=currency)
    session.add(payment)
    session.flush()
    ledger.record_allocations(session, [(payment.id, share) for share in shares])
    append_event(session, case_row, PaymentReceived(
        amount=amount, reference=reference,
        invoices=tuple(InvoiceShare(share.invoice.number, share.amount) for share in shares), unallocated=left,
        currency=currency,
    ), on, actor=by)
    if case_row.next_check_at is None or case_row.next_check_at > on:
        case_row.next_check_at = on  # the next run (or reconcile) tells the escalator
    if left > 0:
        ledger.apply_credit(session, [case_row.debtor_id], entered_by={payment.id: by} if by else None)
    session.flush()
    return left


def record_receipt(
    session: Session,
    case_row: Case,
    escalator: Escalator,
    *,
    tracking: str | None,
    presented_on: date | None,
    received_on: date | None,
    on: date,
    by: str | None = None,
) -> NoticeReceived:
    """A registered letter's delivery (La Poste tracking): a notice_received event on the case's latest
    registered letter; the invoices that letter put on notice take its receipt (or first presentation)
    date, from which B2C interest and `since: notice_received` delays run. ``on`` is the day it is recorded
    (the case's money is read as of then); the event is dated the day of delivery."""
    if presented_on is None and received_on is None:
        raise EscalationError("a receipt needs the day the letter was received or first presented",
                              french="un accusé de réception a le jour où la lettre a été reçue ou présentée")
    if presented_on is not None and received_on is not None and received_on < presented_on:
        raise EscalationError(f"received on {received_on}, before its first presentation on {presented_on}",
                              french=f"reçue le {received_on:%d/%m/%Y}, avant sa première présentation le "
                                     f"{presented_on:%d/%m/%Y}")
    letter = _last_registered_letter(session, case_row)
    if letter is None:
        raise EscalationError(f"case {case_row.ref} has no registered letter recorded: nothing to receive",
                              french=f"le dossier {case_row.ref} n'a aucune lettre recommandée enregistrée : rien à "
                                     "recevoir")
    sent_on, sent = letter
    effective = received_on or presented_on
    assert effective is not None
    if effective > on:
        raise EscalationError(f"a delivery on {effective} is in the future on {on}",
                              french=f"une distribution le {effective:%d/%m/%Y} est postérieure au {on:%d/%m/%Y}")
    if (presented_on or effective) < sent_on:
        raise EscalationError(f"letter {sent.reference or sent.path} went out on {sent_on}: "
                              f"it cannot have been delivered on {presented_on or effective}",
                              french=f"la lettre {sent.reference or sent.path} est partie le {sent_on:%d/%m/%Y} : "
                                     f"elle n'a pas pu être distribuée le {presented_on or effective:%d/%m/%Y}")
    covered = []
    for status in invoice_statuses(session, case_row):
        if sent.reference is not None and status.invoice.notice_ref == sent.reference:
            status.invoice.notice_received_on = effective
            covered.append(status.invoice.number)
    event = NoticeReceived(letter=sent.reference, tracking=tracking, presented_on=presented_on,
                           received_on=received_on, invoices=tuple(covered))
    state = case_state(session, case_row, on)
    steps = reconcile(session, case_row, state, escalator, on)
    append_event(session, case_row, event, effective, actor=by)
    apply_steps(session, case_row, state, steps, escalator, actor=by)  # next_check_at from the receipt
    return event


def _last_registered_letter(session: Session, case_row: Case) -> tuple[date, LetterSent] | None:
    found = None
    for event in session.scalars(select(Event).where(Event.case_id == case_row.id, Event.kind == LetterSent.kind)
                                 .order_by(Event.seq)):
        letter = read_event(event.kind, event.payload)
        if isinstance(letter, LetterSent) and letter.channel == "registered_letter":
            found = (event.occurred_on, letter)
    return found


def state_label(states: Any, name: str) -> str | None:
    """A state's French label as the timeline records it; None for a state the workflow no longer has."""
    return states[name].label if name in states else None


def _refuse_before_issue(case_row: Case, on: date, paying: set[int]) -> None:
    """A payment cannot be dated before an invoice it pays was issued (a mistyped --as-of, most often):
    CaseError naming the invoice. With nothing left to pay, the case's earliest invoice is the bound."""
    invoices = [inv for inv in case_row.invoices if inv.id in paying] if paying else \
        sorted(case_row.invoices, key=lambda inv: inv.issue_date)[:1]
    early = sorted((inv for inv in invoices if inv.issue_date > on), key=lambda inv: inv.issue_date)
    if early:
        raise CaseError(f"a payment dated {on.isoformat()} cannot pay invoice {early[-1].number}, issued on "
                        f"{early[-1].issue_date.isoformat()}: check the payment's date (--as-of)",
                        french=f"un paiement du {on:%d/%m/%Y} ne peut pas régler la facture {early[-1].number}, "
                               f"émise le {early[-1].issue_date:%d/%m/%Y} : vérifiez la date du paiement")


def _store_state(case_row: Case, state: CaseState, escalator: Escalator, as_of: date | None, *, strict: bool) -> None:
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
    case_row.balance_seen = state.principal - state.paid  # the ledger's, as the case list filters on it
    if escalator.workflow.states[state.state].final:
        case_row.closed = True
        # The day its closing step happened (a payment's, an approval's), as the timeline dates it: not the day a
        # run or an approval happened to look, which may be later.
        case_row.closed_on = state.state_entered
        case_row.next_check_at = None
        return
    # A case moved out of a final state (a jump back into escalation) is open again.
    case_row.closed = False
    case_row.closed_on = None
    following = escalator.next_check(state)
    if following is not None and strict and as_of is not None and following <= as_of:
        following = as_of + timedelta(days=1)  # at most one timed step per case per run day
    case_row.next_check_at = following


def _cents(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


__all__ = ["RUN_ACTOR", "act", "apply_steps", "case_state", "note_awaiting", "reconcile", "record_payment",
           "record_receipt", "state_label"]
