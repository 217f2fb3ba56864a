"""Approvals: a state marked `approval: required` is entered only once a named person says so.

When a case's next step leads into such a state, the escalator leaves the case where it is and sets
`awaiting_approval` (engine.core.machine); the step's shell records `approval_requested` once
(engine.cases.steps.note_awaiting) and the case waits in `relance approvals`, looked at by no run.
`approve` records who approved and takes the step that day — its letter is written then, dated then;
if the step is no longer due (its guard now fails), the approval is recorded and the case moves as the
workflow says today. A case that money settled while it waited (paid in full), or that was disputed or put
on hold, leaves the queue; approving it is refused, and the settlement is recorded with the payment's day
and author, never the approver's. `reject` records the refusal and holds the case with the reason;
`relance case resume` lifts the hold, and the step asks for approval again when it is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from engine.cases.actions import Outcome
from engine.cases.desk import Desk
from engine.cases.lookup import require_case
from engine.cases.steps import act, apply_steps, case_state, reconcile, state_label
from engine.errors import CaseError
from engine.store import ledger
from engine.store.events import ApprovalRequested, Approved, Rejected, read_event
from engine.store.models import Case, Debtor, Event
from engine.store.timeline import append_event


@dataclass(frozen=True)
class Waiting:
    """A case waiting for approval, as `relance approvals` prints it."""

    case_ref: str
    debtor_ref: str
    debtor_name: str
    state: str  # where it is
    to: str  # where it waits to go
    since: date
    balance: Decimal
    currency: str
    manual: bool
    case_id: int = 0  # the web app links to the case by id
    workflow: str = ""  # the workflow and version the case runs on: its states are named as that version does
    version: int = 0


def awaits_approval(as_of: date) -> ColumnElement[bool]:
    """The cases a person must approve or refuse as of ``as_of``, for a query joining Case and its Debtor: the
    approvals queue and the case list's « pour moi » read this one rule. A case held, disputed, closed, of a
    held debtor, or paid in full waits for nothing a person approves."""
    principal, paid = ledger.case_money_columns(Case.id, as_of)
    return and_(Case.awaiting_approval.is_not(None), Case.closed.is_(False), Case.on_hold.is_(False),
                Case.disputed.is_(False), Debtor.do_not_chase.is_(False), principal > paid)


def waiting_approvals(session: Session, as_of: date, *, limit: int | None = None) -> list[Waiting]:
    """Open cases waiting for an approval, oldest case first (``limit`` of them at most); balances as of
    ``as_of`` in the same query, the requests in one more."""
    principal, paid = ledger.case_money_columns(Case.id, as_of)
    query = (select(Case, Debtor, principal, paid).join(Debtor, Debtor.id == Case.debtor_id)
             .where(awaits_approval(as_of)).order_by(Case.id).limit(limit))
    found = session.execute(query).all()
    requests = _requests(session, [case.id for case, *_ in found])
    waiting = []
    for case, debtor, principal_cents, paid_cents in found:
        since, request = requests.get(case.id, (None, None))
        waiting.append(Waiting(case.ref, debtor.ref, debtor.name, case.state, str(case.awaiting_approval),
                               since or case.state_entered, ledger.money(principal_cents) - ledger.money(paid_cents),
                               case.currency, bool(request and request.manual), case.id,
                               case.workflow_name, case.workflow_version))
    return waiting


def approve(desk: Desk, case_ref: str, on: date, *, by: str, note: str | None = None) -> Outcome:
    """Approve the step CASE waits for: recorded with who and when, then taken that day (its letter too)."""
    with desk.session() as session:
        case = _waiting(session, case_ref)
        dest = str(case.awaiting_approval)
        if case.on_hold or case.disputed:
            raise CaseError(f"case {case.ref} is {'on hold' if case.on_hold else 'disputed'}: "
                            "resume or resolve it before approving its next step",
                            french=f"le dossier {case.ref} est {'suspendu' if case.on_hold else 'contesté'} : "
                                   "reprenez-le ou levez la contestation avant de valider son étape")
        if case.debtor.do_not_chase:  # the run would take no step for it: « validé » would announce nothing
            raise CaseError(f"debtor {case.debtor.ref} is on hold (do_not_chase): resume the debtor before "
                            f"approving the next step of case {case.ref}",
                            french=f"le débiteur {case.debtor.ref} est suspendu (ne pas relancer) : reprenez-le "
                                   f"avant de valider l'étape du dossier {case.ref}")
        _since, request = _request(session, case)
        if request is not None and _since is not None and on < _since:
            raise CaseError(f"case {case.ref} asked for approval on {_since}: it cannot be approved on {on}",
                            french=f"le dossier {case.ref} attend une validation depuis le {_since:%d/%m/%Y} : "
                                   f"elle ne peut pas être datée du {on:%d/%m/%Y}")
        escalator = desk.escalator_for(case)
        states = escalator.workflow.states
        state = case_state(session, case, on)
        steps = reconcile(session, case, state, escalator, on)
        moved = bool(steps) and (state.state != case.state or states[state.state].final)
        if not moved:
            append_event(session, case, Approved(dest, note, state_label=state_label(states, dest)), on, actor=by)
        if not moved and not states[state.state].final:
            if request is not None and request.manual:
                steps += escalator.jump(state, dest, on, note or "validé", by=by, approved=True)
            else:
                steps += escalator.advance(state, on, approved=dest)
        # Money that came in while the case waited moved it (paid in full): its step is recorded with the
        # money's day and author (engine.cases.steps.reconcile), and no approval of a step that is moot.
        apply_steps(session, case, state, steps, escalator, desk.letter_writer(), actor=by, as_of=on)
        outcome = Outcome(case.ref, "approve", on, by, case.state, tuple(steps))
    if moved:  # after the commit: the settlement is kept, the approval refused
        step = steps[-1]
        label = state_label(states, step.dest) or step.dest
        raise CaseError(f"case {outcome.case_ref} moved to {step.dest} on {step.on} ({step.trigger}) while it waited "
                        "for approval: that is recorded, and nothing is left to approve",
                        french=f"le dossier {outcome.case_ref} est passé à « {label} » le {step.on:%d/%m/%Y} pendant "
                               "qu'il attendait sa validation : c'est enregistré, il n'y a plus rien à valider")
    return outcome


def reject(desk: Desk, case_ref: str, on: date, *, by: str, reason: str) -> Outcome:
    """Refuse the step CASE waits for: recorded, and the case is held with the reason."""
    with desk.session() as session:
        case = _waiting(session, case_ref)
        escalator = desk.escalator_for(case)
        dest = str(case.awaiting_approval)
        label = state_label(escalator.workflow.states, dest)
        append_event(session, case, Rejected(dest, reason, state_label=label), on, actor=by)
        case.awaiting_approval = None
        steps = act(session, case, escalator, "hold", on, by=by,
                    reason=f"validation refusée : {reason}", perform=desk.letter_writer())
        return Outcome(case.ref, "reject", on, by, case.state, tuple(steps))


def _waiting(session: Session, case_ref: str) -> Case:
    case = require_case(session, case_ref)
    if case.awaiting_approval is None:
        raise CaseError(f"case {case.ref} waits for no approval (state {case.state}); see `relance approvals`",
                        french=f"le dossier {case.ref} n'attend aucune validation (état « {case.state} »)")
    return case


def _requests(session: Session, case_ids: list[int]) -> dict[int, tuple[date, ApprovalRequested | None]]:
    """Each case's latest approval request (its day and payload), in one query."""
    latest: dict[int, tuple[date, ApprovalRequested | None]] = {}
    if not case_ids:
        return latest
    for event in session.scalars(select(Event).where(Event.case_id.in_(case_ids), Event.kind == ApprovalRequested.kind)
                                 .order_by(Event.case_id, Event.seq)):
        payload = read_event(event.kind, event.payload)
        latest[event.case_id] = (event.occurred_on, payload if isinstance(payload, ApprovalRequested) else None)
    return latest


def _request(session: Session, case: Case) -> tuple[date | None, ApprovalRequested | None]:
    event = session.scalar(select(Event).where(Event.case_id == case.id, Event.kind == ApprovalRequested.kind)
                           .order_by(Event.seq.desc()).limit(1))
    if event is None:
        return None, None
    payload = read_event(event.kind, event.payload)
    return event.occurred_on, payload if isinstance(payload, ApprovalRequested) else None


__all__ = ["Waiting", "approve", "awaits_approval", "reject", "waiting_approvals"]
