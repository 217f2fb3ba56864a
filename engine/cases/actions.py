"""What a person does to a case: record a payment, a dispute and its end, a promise, a hold, a jump, a note.

Each function is one unit of work on the desk: find the case, record the action in its timeline with
who did it, let the escalator move the case if the workflow says so, write the letter of any state it
enters, commit. The command line and the web app call these and nothing below them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases.desk import Desk
from engine.cases.lookup import require_case
from engine.cases.steps import act, apply_steps, case_state, reconcile, record_payment, record_receipt
from engine.core.case import Step
from engine.core.money import format_amount, parse_amount
from engine.errors import CaseError
from engine.store import ledger
from engine.store.events import KIND_LABELS, CreditNoteApplied, NoticeReceived, PaymentReceived
from engine.store.ledger import ZERO
from engine.store.models import Case, Event

# The actions whose "why" the timeline must hold: a dispute, its end, a hold, a jump and a note say why.
REASON_REQUIRED = frozenset({"dispute", "resolve", "hold", "jump", "note"})
MAX_REASON = 2000  # characters: a sentence or a paragraph, not a file pasted by mistake


@dataclass(frozen=True)
class Outcome:
    """What an action did: the case, its state afterwards and the steps it caused."""

    case_ref: str
    action: str
    on: date
    by: str
    state: str
    steps: tuple[Step, ...]
    amount: Decimal | None = None
    currency: str = "EUR"
    # A payment above what the case owed: the excess (the debtor's credit), and what of it is still unapplied
    # once the debtor's other open invoices took their share.
    beyond: Decimal = Decimal("0")
    credit_left: Decimal = Decimal("0")
    awaiting: str | None = None  # the step the case now waits to have approved (a jump to a state that needs it)

    @property
    def applied_elsewhere(self) -> Decimal:
        """The part of the excess the debtor's other open invoices took."""
        return self.beyond - self.credit_left

    def excess(self, *, french: bool = False) -> str | None:
        """What became of a payment's excess, in a sentence (the command line's English, or the web app's
        French); None when the payment did not exceed what the case owed."""
        if self.beyond <= 0:
            return None
        words = _EXCESS_FR if french else _EXCESS_EN
        parts = [f"{format_amount(amount, self.currency)} {words[key]}"
                 for key, amount in (("elsewhere", self.applied_elsewhere), ("credit", self.credit_left)) if amount > 0]
        return f"{format_amount(self.beyond, self.currency)} {words['beyond']}{words[':']}" + \
            f" {words['and']} ".join(parts)


_EXCESS_EN = {"beyond": "more than the case owed", "elsewhere": "applied to the debtor's other open invoices",
              "credit": "kept as the debtor's credit for the next invoices", "and": "and", ":": ": "}
_EXCESS_FR = {"beyond": "au-delà du dû du dossier", "elsewhere": "imputés sur les autres factures ouvertes du débiteur",
              "credit": "gardés en crédit du débiteur pour ses prochaines factures", "and": "et",
              ":": "\u00a0: "}


def pay(desk: Desk, case_ref: str, amount: str | Decimal, on: date, *, by: str,
        reference: str | None = None) -> Outcome:
    """Record a payment received on ``on``: allocated to the case's invoices; a full payment closes it.

    ``amount`` may be text as a person typed it (``1 234,56``): it is read in the case's currency.
    """
    with desk.session() as session:
        case = require_case(session, case_ref)
        currency = case.currency or "EUR"
        value = parse_amount(amount, currency) if isinstance(amount, str) else amount
        if value != value.quantize(Decimal("0.01")):
            raise CaseError(f"{str(amount)!r}: an amount has at most two decimals",
                            french=f"« {amount} » : un montant a au plus deux décimales")
        if value <= 0:
            raise CaseError(f"{str(amount)!r}: a payment is a positive amount",
                            french=f"« {amount} » : un paiement est un montant positif")
        escalator = desk.escalator_for(case)
        beyond = record_payment(session, case, value, on, reference=reference, by=by)
        credit_left = ledger.credit_total(session, [case.debtor_id], currency=currency)[0] if beyond > 0 else ZERO
        state = case_state(session, case, on)
        steps = reconcile(session, case, state, escalator, on)
        apply_steps(session, case, state, steps, escalator, desk.letter_writer(), actor=by)
        return Outcome(case.ref, "pay", on, by, case.state, tuple(steps), value, currency, beyond,
                       min(credit_left, beyond))


def dispute(desk: Desk, case_ref: str, on: date, *, by: str, reason: str) -> Outcome:
    """The debtor disputes the claim: escalation pauses until ``resolve``."""
    return _act(desk, case_ref, "dispute", on, by=by, reason=reason)


def resolve(desk: Desk, case_ref: str, on: date, *, by: str, reason: str) -> Outcome:
    """The dispute is settled: escalation resumes where it stopped."""
    return _act(desk, case_ref, "resolve", on, by=by, reason=reason)


def promise(desk: Desk, case_ref: str, on: date, *, by: str, until: date, reason: str | None = None) -> Outcome:
    """The debtor promised to pay by ``until``: escalation waits, and resumes if the date passes unpaid."""
    return _act(desk, case_ref, "promise", on, by=by, reason=reason, until=until)


def hold(desk: Desk, case_ref: str, on: date, *, by: str, reason: str) -> Outcome:
    """No step fires until ``resume``."""
    return _act(desk, case_ref, "hold", on, by=by, reason=reason)


def resume(desk: Desk, case_ref: str, on: date, *, by: str, reason: str | None = None) -> Outcome:
    """Take the case off hold."""
    return _act(desk, case_ref, "resume", on, by=by, reason=reason)


def jump(desk: Desk, case_ref: str, dest: str, on: date, *, by: str, reason: str) -> Outcome:
    """Move the case by hand to ``dest``; the letter of that state, if it has one, is written."""
    return _act(desk, case_ref, "jump", on, by=by, reason=reason, dest=dest)


def note(desk: Desk, case_ref: str, on: date, *, by: str, reason: str) -> Outcome:
    """A note in the timeline; nothing moves."""
    return _act(desk, case_ref, "note", on, by=by, reason=reason)


def receipt(desk: Desk, case_ref: str, on: date, *, by: str, tracking: str | None = None,
            presented: date | None = None, received: date | None = None) -> Outcome:
    """A registered letter's delivery (La Poste tracking): first presented on ``presented``, received (signed
    for) on ``received``. The invoices its formal notice covered take that date: B2C interest runs from it,
    and a delay written `since: notice_received` counts from it. ``on`` is the day it is recorded."""
    tracking = (tracking or "").strip() or None
    if tracking is not None and len(tracking) > 40:
        raise CaseError(f"{tracking!r}: a tracking number has at most 40 characters",
                        french=f"« {tracking} » : un numéro de suivi a au plus 40 caractères")
    with desk.session() as session:
        case = require_case(session, case_ref)
        record_receipt(session, case, desk.escalator_for(case), tracking=tracking, presented_on=presented,
                       received_on=received, on=on, by=by)
        return Outcome(case.ref, "receipt", on, by, case.state, ())


# What dates a case's timeline by the bank or the post, not by a person's hand: a payment or a credit note keeps
# its value date, a delivery its day, whenever they are recorded.
_DATED_ELSEWHERE = frozenset({PaymentReceived.kind, CreditNoteApplied.kind, NoticeReceived.kind})
_ACTION_WORDS = {"dispute": "une contestation", "resolve": "une levée de contestation",
                 "promise": "une promesse de paiement", "hold": "une suspension", "resume": "une reprise",
                 "jump": "une étape à la main"}


def require_not_before_last_event(session: Session, case: Case, action: str, on: date) -> None:
    """An action that changes the case's course (dispute, resolve, promise, hold, resume, jump) may not be dated
    before the case's last event: the timeline would show the escalation going on after it, and its letters
    would contradict it. (A note may tell of the past: it is accepted, and every printed timeline says on
    which day it was recorded, engine.reports.timeline. Money keeps its bank date. A date before the state's
    entry is left to `act`'s own, sharper, message.) The command line, the web app and the events import all
    come here."""
    if action == "note" or on < case.state_entered:
        return
    last = session.execute(select(Event.occurred_on, Event.seq, Event.kind)
                           .where(Event.case_id == case.id, Event.kind.not_in(_DATED_ELSEWHERE))
                           .order_by(Event.occurred_on.desc(), Event.seq.desc()).limit(1)).first()
    if last is None or on >= last.occurred_on:
        return
    label = KIND_LABELS.get(last.kind, last.kind)
    raise CaseError(f"{action} dated {on:%d/%m/%Y}: the case's last event (#{last.seq}, {last.kind}) is dated "
                    f"{last.occurred_on:%d/%m/%Y}; date it that day or later (a note may tell of the past)",
                    french=f"{_ACTION_WORDS.get(action, action)} ne peut pas être datée du {on:%d/%m/%Y} : le dernier "
                           f"événement du dossier (n° {last.seq}, {label}) est du {last.occurred_on:%d/%m/%Y} ; "
                           "datez-la de ce jour ou d'après (une note peut rappeler le passé)")


ACTIONS: dict[str, Callable[..., Outcome]] = {"dispute": dispute, "resolve": resolve, "promise": promise, "hold": hold, "resume": resume,
           "jump": jump, "note": note}


def reason_of(action: str, reason: str | None) -> str | None:
    """The reason as the timeline keeps it: trimmed, None when empty; CaseError when ``action`` needs one and
    none was given (`--reason "  "` is none), or when it is too long.

    The one owner of this rule: the command line and the web app both reach the timeline through here."""
    text = (reason or "").strip()
    if not text and action in REASON_REQUIRED:
        raise CaseError(f"{action}: a reason is required (say why in a sentence: it goes in the timeline)",
                        french="un motif est nécessaire")
    if len(text) > MAX_REASON:
        raise CaseError(f"{action}: the reason has {len(text):,} characters, {MAX_REASON:,} at most",
                        french=f"le motif a {len(text)} caractères, {MAX_REASON} au plus")
    return text or None


def _act(desk: Desk, case_ref: str, action: str, on: date, *, by: str, reason: str | None = None,
         until: date | None = None, dest: str | None = None) -> Outcome:
    reason = reason_of(action, reason)
    with desk.session() as session:
        case = require_case(session, case_ref)
        require_not_before_last_event(session, case, action, on)
        steps = act(session, case, desk.escalator_for(case), action, on, by=by, reason=reason, until=until,
                    dest=dest, perform=desk.letter_writer())
        return Outcome(case.ref, action, on, by, case.state, tuple(steps), awaiting=case.awaiting_approval)


__all__ = ["ACTIONS", "Outcome", "dispute", "hold", "jump", "note", "pay", "promise", "receipt", "resolve",
           "resume"]
