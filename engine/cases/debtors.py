"""Debtor-level control: `do_not_chase` stops every case of a debtor from escalating, and says so in each.

`relance debtor hold|resume` and the debtors import's `do_not_chase` column both come here. The flag
is read into each case's CaseState (`debtor_hold`): no timed step fires and the run stops looking at
the case, while payments still close it. Each open case gets a `debtor_hold` / `debtor_resume` event;
a case opened while its debtor is held gets one too (engine.cases.run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases.desk import Desk
from engine.errors import CaseError
from engine.store.events import DebtorHeld, DebtorResumed
from engine.store.models import Case, Debtor
from engine.store.timeline import append_event


@dataclass(frozen=True)
class DebtorOutcome:
    debtor_ref: str
    held: bool
    cases: tuple[str, ...]  # the open cases the change was recorded on
    changed: bool  # False when the debtor already was so


def hold_debtor(desk: Desk, debtor_ref: str, on: date, *, by: str, reason: str | None = None) -> DebtorOutcome:
    return _set(desk, debtor_ref, True, on, by=by, reason=reason)


def resume_debtor(desk: Desk, debtor_ref: str, on: date, *, by: str, reason: str | None = None) -> DebtorOutcome:
    return _set(desk, debtor_ref, False, on, by=by, reason=reason)


def set_do_not_chase(session: Session, debtor: Debtor, held: bool, on: date, *, by: str | None,
                     reason: str | None = None) -> list[str]:
    """Set the flag and record it on each open case of the debtor (in the caller's transaction); the refs
    of those cases. Each case is due for a look on ``on``: the next run stops it (held) or takes up its
    escalation where the delays put it (resumed); a payment meanwhile still closes it."""
    debtor.do_not_chase = held
    refs = []
    for case in session.scalars(select(Case).where(Case.debtor_id == debtor.id, Case.closed.is_(False))
                                .order_by(Case.id)):
        append_event(session, case, DebtorHeld(reason) if held else DebtorResumed(reason), on, actor=by)
        # Due at once (not after ``on``: an import records the change as of today, the run may be replaying
        # an earlier day): the next run stops the case, or takes up its escalation where the delays put it.
        case.next_check_at = min(case.next_check_at or on, on, case.state_entered)
        refs.append(case.ref)
    return refs


def _set(desk: Desk, debtor_ref: str, held: bool, on: date, *, by: str, reason: str | None) -> DebtorOutcome:
    with desk.session() as session:
        debtor = session.scalar(select(Debtor).where(Debtor.ref == debtor_ref))
        if debtor is None:
            raise CaseError(f"no debtor {debtor_ref!r}")
        if bool(debtor.do_not_chase) == held:
            return DebtorOutcome(debtor.ref, held, (), False)
        refs = set_do_not_chase(session, debtor, held, on, by=by, reason=reason)
        return DebtorOutcome(debtor.ref, held, tuple(refs), True)


__all__ = ["DebtorOutcome", "hold_debtor", "resume_debtor", "set_do_not_chase"]
