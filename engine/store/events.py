"""The kinds of event a case's timeline holds: for each, its typed payload, its French label, its one line.

Adding a kind of event is one class here: a frozen dataclass that names its ``kind``, its ``label`` (the
word a lawyer reads in the printable timeline) and how it reads in one French sentence (``describe``).
Writers build these objects (``append_event`` stores ``to_json()``); readers get them back with
``read_event``, never by string key. The JSON keys are the field names (``from_`` is stored as
``from``), so the payloads already stored, and their hash chains, read unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date, tzinfo
from decimal import Decimal
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

from engine.core.case import CALL_OUTCOMES
from engine.core.instants import format_instant_fr, parse_stored
from engine.core.money import format_amount, format_date
from engine.store.reasons import step_reason

P = TypeVar("P", bound="EventPayload")
# The actor of what a run (or a worker) recorded with no person behind it: stored on the event, and what the
# printed timeline names.
RUN_ACTOR = "relance (traitement automatique)"


class EventPayload:
    """Base of every payload: its kind, its label, and the conversion to and from the stored JSON."""

    kind: ClassVar[str]
    label: ClassVar[str]

    def describe(self) -> str:
        """One sentence in French saying what happened."""
        raise NotImplementedError

    def describe_in(self, zone: tzinfo | None) -> str:
        """``describe`` with any instant the payload holds in the team's ``zone`` (None: Europe/Paris);
        most payloads hold dates only."""
        return self.describe()

    def to_json(self) -> dict[str, Any]:
        """The stored form: field names as keys (``from_`` → ``from``), Decimals and dates as text."""
        return {key: _plain(getattr(self, name)) for name, key in _field_keys(type(self))}

    @classmethod
    def from_json(cls: type[P], payload: Mapping[str, Any]) -> P:
        """Read a stored payload back; keys an older version did not write take their defaults."""
        hints = _hints(cls)
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            key = _key(f.name)
            if key in payload:
                values[f.name] = _typed(hints[f.name], payload[key])
            elif f.default is MISSING and f.default_factory is MISSING:
                values[f.name] = None
        return cls(**values)


@dataclass(frozen=True)
class InvoiceFacts:
    """An invoice as an event records it."""

    number: str
    amount: Decimal
    issue_date: date | None = None
    due_date: date | None = None
    currency: str | None = None


@dataclass(frozen=True)
class InvoiceShare:
    """The part of a payment or credit note applied to one invoice."""

    number: str
    amount: Decimal


@dataclass(frozen=True)
class ActionFacts:
    """An action a step called for (a letter, an e-mail, a call), as planned by the workflow."""

    kind: str
    state: str
    template: str | None = None
    pay_within_days: int | None = None


@dataclass(frozen=True)
class CaseOpened(EventPayload):
    kind = "case_opened"
    label = "ouverture"

    workflow: str
    version: int
    debtor: str
    state: str
    invoices: tuple[InvoiceFacts, ...] = ()
    currency: str | None = None
    reason: str | None = None  # why a new case rather than the debtor's open one (e.g. after its formal notice)

    def describe(self) -> str:
        numbers = ", ".join(f"{i.number} ({format_amount(i.amount, i.currency or self.currency or 'EUR')}"
                            + (f", échue le {format_date(i.due_date)}" if i.due_date else "") + ")"
                            for i in self.invoices)
        why = f" — {self.reason}" if self.reason else ""
        return f"dossier ouvert (procédure {self.workflow} v{self.version}) pour la facture {numbers}{why}"


@dataclass(frozen=True)
class InvoiceAdded(EventPayload):
    kind = "invoice_added"
    label = "facture ajoutée"

    invoice: InvoiceFacts

    def describe(self) -> str:
        due = f", échue le {format_date(self.invoice.due_date)}" if self.invoice.due_date else ""
        amount = format_amount(self.invoice.amount, self.invoice.currency or "EUR")
        return f"facture {self.invoice.number} de {amount}{due} ajoutée au dossier"


@dataclass(frozen=True)
class InvoiceAmended(EventPayload):
    """An import changed an invoice already in the case: the letters sent before stated the old figures, and
    the timeline says when the books stopped agreeing with them, and how. Only what changed is recorded."""

    kind = "invoice_amended"
    label = "facture modifiée"

    number: str
    currency: str | None = None
    old_amount: Decimal | None = None
    new_amount: Decimal | None = None
    old_due_date: date | None = None
    new_due_date: date | None = None
    old_issue_date: date | None = None
    new_issue_date: date | None = None
    source: str | None = None  # the imported file's name

    def describe(self) -> str:
        currency = self.currency or "EUR"
        changes = []
        if self.new_amount is not None and self.old_amount is not None:
            changes.append(f"montant {format_amount(self.old_amount, currency)} → "
                           f"{format_amount(self.new_amount, currency)}")
        if self.new_due_date is not None and self.old_due_date is not None:
            changes.append(f"échéance {format_date(self.old_due_date)} → {format_date(self.new_due_date)}")
        if self.new_issue_date is not None and self.old_issue_date is not None:
            changes.append(f"date d'émission {format_date(self.old_issue_date)} → {format_date(self.new_issue_date)}")
        source = f" par l'import {self.source}" if self.source else ""
        return f"facture {self.number} modifiée{source} : {', '.join(changes) or 'sans changement de montant ni de date'}"


@dataclass(frozen=True)
class FieldChange:
    """One field of a record as it was and as it became, as text."""

    field: str
    old: str | None
    new: str | None


# The debtor's fields a timeline names when an import changes them, in French.
DEBTOR_FIELD_LABELS = {
    "kind": "qualité", "name": "nom", "siren": "SIREN", "address_line1": "adresse", "address_line2": "complément d'adresse",
    "postal_code": "code postal", "city": "ville", "country": "pays", "email": "courriel", "phone": "téléphone",
    "civility": "civilité", "is_merchant": "commerçant",
}


_KIND_WORDS = {"b2b": "professionnel", "b2c": "particulier"}


def _value(field: str, value: str | None) -> str:
    return _KIND_WORDS.get(value or "", value or "") if field == "kind" else value or ""


@dataclass(frozen=True)
class DebtorAmended(EventPayload):
    """An import changed the debtor's record while the case is open: the letters before went to, and spoke
    of, the debtor as it was (its address, its quality of professional or consumer, which sets what is
    claimed); the timeline says when that changed and how."""

    kind = "debtor_amended"
    label = "débiteur modifié"

    changes: tuple[FieldChange, ...]
    source: str | None = None  # the imported file's name

    def describe(self) -> str:
        said = ", ".join(f"{DEBTOR_FIELD_LABELS.get(c.field, c.field)} « {_value(c.field, c.old)} » → "
                         f"« {_value(c.field, c.new)} »" for c in self.changes)
        source = f" par l'import {self.source}" if self.source else ""
        return f"fiche du débiteur modifiée{source} : {said}"


@dataclass(frozen=True)
class StateChange(EventPayload):
    kind = "state_change"
    label = "étape"

    trigger: str
    source: str
    dest: str
    facts: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    actions: tuple[ActionFacts, ...] = ()
    # The states' French labels and the case's currency when the step was taken: the timeline reads
    # as the letters do, whatever the workflow file says later.
    source_label: str | None = None
    dest_label: str | None = None
    currency: str | None = None

    def describe(self) -> str:
        move = f"« {self.source_label or self.source} » → « {self.dest_label or self.dest} »"
        why = step_reason(self.trigger, self.facts, self.currency or "EUR")
        said = f" — {self.reason}" if self.reason else ""
        return f"{move} : {why}{said}"


@dataclass(frozen=True)
class LetterSent(EventPayload):
    kind = "letter"
    label = "courrier"

    template: str | None
    path: str
    sha256: str
    channel: str = "letter"
    state: str | None = None
    step_key: str | None = None
    reference: str | None = None  # the reference printed on the letter ("Notre courrier : ...")
    invoices: tuple[str, ...] = ()  # the invoice numbers the letter lists

    def describe(self) -> str:
        ref = f" n° {self.reference}" if self.reference else ""
        listed = f", factures {', '.join(self.invoices)}" if self.invoices else ""
        if self.channel == "email":
            sent = "préparé pour un envoi par courriel (envoi non enregistré)"
        else:
            sent = f"produit pour envoi par {CHANNEL_LABELS.get(self.channel, self.channel)}"
        return f"courrier{ref} ({self.template}{listed}) {sent} ; fichier {self.path}, SHA-256 {self.sha256}"


@dataclass(frozen=True)
class PaymentReceived(EventPayload):
    kind = "payment"
    label = "paiement"

    amount: Decimal
    reference: str | None = None
    invoices: tuple[InvoiceShare, ...] = ()
    unallocated: Decimal | None = None
    # The payment's currency (that of the case's invoices it paid). None: stored before it was recorded;
    # ``read_event`` then gives the case's.
    currency: str | None = None

    def describe(self) -> str:
        ref = f" (réf. {self.reference})" if self.reference else ""
        currency = self.currency or "EUR"
        return f"paiement de {format_amount(self.amount, currency)}{ref}{_shares(self.invoices, currency)}"


@dataclass(frozen=True)
class CreditNoteApplied(EventPayload):
    kind = "credit_note"
    label = "avoir"

    amount: Decimal
    credit_note: str | None = None
    invoices: tuple[InvoiceShare, ...] = ()
    currency: str | None = None  # as a payment's

    def describe(self) -> str:
        currency = self.currency or "EUR"
        return (f"avoir {self.credit_note or ''} de {format_amount(self.amount, currency)}"
                f"{_shares(self.invoices, currency)}").replace("  ", " ")


@dataclass(frozen=True)
class _Reasoned(EventPayload):
    reason: str | None = None

    def describe(self) -> str:
        return f"{self.label} — {self.reason}" if self.reason else self.label


@dataclass(frozen=True)
class Dispute(_Reasoned):
    kind = "dispute"
    label = "contestation"


@dataclass(frozen=True)
class Resolve(_Reasoned):
    kind = "resolve"
    label = "fin de contestation"


@dataclass(frozen=True)
class Hold(_Reasoned):
    kind = "hold"
    label = "suspension"


@dataclass(frozen=True)
class Resume(_Reasoned):
    kind = "resume"
    label = "reprise"


@dataclass(frozen=True)
class Note(_Reasoned):
    kind = "note"
    label = "note"


@dataclass(frozen=True)
class Promise(_Reasoned):
    kind = "promise"
    label = "promesse de paiement"

    until: date | None = None

    def describe(self) -> str:
        until = f" au plus tard le {format_date(self.until)}" if self.until else ""
        why = f" — {self.reason}" if self.reason else ""
        return f"promesse de paiement{until}{why}"


@dataclass(frozen=True)
class Jump(_Reasoned):
    kind = "jump"
    label = "changement manuel"

    from_: str | None = None
    to: str | None = None

    def describe(self) -> str:
        why = f" — {self.reason}" if self.reason else ""
        return f"passage manuel de « {self.from_} » à « {self.to} »{why}"


# --- channels (engine.cases.outbox, tasks, approvals, debtors): what was really sent, called, approved ---


@dataclass(frozen=True)
class SentFile:
    """A file an e-mail carried: its name and the SHA-256 of the very bytes handed to the server."""

    name: str
    sha256: str


@dataclass(frozen=True)
class EmailSent(EventPayload):
    """An e-mail the server accepted: its Message-ID (stable per step), the server's own answer, and each
    attachment's name and SHA-256 (``files``), so an auditor can prove which file left. ``attachments``
    (names only) is what events recorded before ``files`` existed hold; new events leave it empty."""

    kind = "email_sent"
    label = "courriel envoyé"

    step_key: str
    message_id: str
    to: str
    subject: str
    smtp_response: str | None = None
    attachments: tuple[str, ...] = ()
    attempt: int = 1
    files: tuple[SentFile, ...] = ()

    def describe(self) -> str:
        names = [f"{f.name} (SHA-256 {f.sha256})" for f in self.files] or list(self.attachments)
        joined = f", pièces jointes {', '.join(names)}" if names else ""
        return f"courriel « {self.subject} » envoyé à {self.to}{joined} (Message-ID {self.message_id}, " \
               f"réponse du serveur : {self.smtp_response or 'aucune'})"


@dataclass(frozen=True)
class EmailRetried(EventPayload):
    """A temporary failure (4xx, server unreachable): the e-mail is tried again later."""

    kind = "email_retried"
    label = "courriel différé"

    step_key: str
    message_id: str
    attempt: int
    error: str
    next_attempt_at: str | None = None  # ISO date and time, UTC

    def describe(self) -> str:
        return self.describe_in(None)

    def describe_in(self, zone: tzinfo | None) -> str:
        then = (f", nouvel essai à partir du {format_instant_fr(parse_stored(self.next_attempt_at), zone)}"
                if self.next_attempt_at else "")
        return f"courriel non remis (essai n° {self.attempt} : {self.error}){then}"


@dataclass(frozen=True)
class EmailFailed(EventPayload):
    """A permanent failure (5xx, no address): the step is ``email_failed``, the case on the task list."""

    kind = "email_failed"
    label = "échec du courriel"

    step_key: str
    message_id: str
    error: str
    to: str | None = None
    attempt: int = 1

    def describe(self) -> str:
        to = f" à {self.to}" if self.to else ""
        return f"courriel{to} impossible à remettre ({self.error}) : le courrier reste à envoyer par un autre moyen"


OUTCOME_LABELS = {"reached": "débiteur joint", "no_answer": "pas de réponse", "promise": "promesse de paiement",
                  "dispute": "contestation", "wrong_number": "faux numéro"}


@dataclass(frozen=True)
class CallRecorded(EventPayload):
    """A phone call someone made and recorded, with its outcome: the only calls letters may cite."""

    kind = "call_recorded"
    label = "appel téléphonique"

    outcome: str
    note: str | None = None
    phone: str | None = None
    until: date | None = None  # the promised date, for a promise

    def describe(self) -> str:
        phone = f" au {self.phone}" if self.phone else ""
        until = f" (paiement promis au plus tard le {format_date(self.until)})" if self.until else ""
        note = f" — {self.note}" if self.note else ""
        return f"appel{phone} : {OUTCOME_LABELS.get(self.outcome, self.outcome)}{until}{note}"


@dataclass(frozen=True)
class ApprovalRequested(EventPayload):
    """A due step into a state that needs approval: the case waits, unmoved, for `relance approve`."""

    kind = "approval_requested"
    label = "validation demandée"

    state: str
    source: str
    manual: bool = False  # asked by a jump rather than by the workflow's delay
    # The states' French labels when asked, as StateChange keeps them (None on events recorded before).
    state_label: str | None = None
    source_label: str | None = None

    def describe(self) -> str:
        return (f"passage de « {self.source_label or self.source} » à « {self.state_label or self.state} » "
                "en attente de validation")


@dataclass(frozen=True)
class Approved(EventPayload):
    kind = "approved"
    label = "validation"

    state: str
    note: str | None = None
    state_label: str | None = None

    def describe(self) -> str:
        note = f" — {self.note}" if self.note else ""
        return f"passage à « {self.state_label or self.state} » validé{note}"


@dataclass(frozen=True)
class Rejected(EventPayload):
    kind = "rejected"
    label = "refus de validation"

    state: str
    reason: str | None = None
    state_label: str | None = None

    def describe(self) -> str:
        why = f" — {self.reason}" if self.reason else ""
        return f"passage à « {self.state_label or self.state} » refusé, dossier suspendu{why}"


@dataclass(frozen=True)
class DebtorHeld(_Reasoned):
    """The debtor is not to be chased (`do_not_chase`): none of its cases escalates until resumed."""

    kind = "debtor_hold"
    label = "client suspendu"

    def describe(self) -> str:
        why = f" — {self.reason}" if self.reason else ""
        return f"relances suspendues pour tous les dossiers du client{why}"


@dataclass(frozen=True)
class DebtorResumed(_Reasoned):
    kind = "debtor_resume"
    label = "client repris"

    def describe(self) -> str:
        why = f" — {self.reason}" if self.reason else ""
        return f"relances reprises pour les dossiers du client{why}"


@dataclass(frozen=True)
class RunFailed(EventPayload):
    """The run could not advance the case (a guard, a letter, a missing rate...): that case was rolled back
    and left as it was, and the run went on with the others. Recorded once per failure and reason, not
    at every pass that meets it again, so the timeline stays readable."""

    kind = "error"
    label = "échec du traitement"

    reason: str
    state: str | None = None

    def describe(self) -> str:
        where = f" (étape « {self.state} »)" if self.state else ""
        return f"le traitement automatique a échoué{where}, dossier laissé inchangé — {self.reason}"


@dataclass(frozen=True)
class FailureCleared(EventPayload):
    """The run advanced the case again after a recorded failure: it no longer shows in `case list --errors`."""

    kind = "error_cleared"
    label = "reprise du traitement"

    reason: str | None = None  # the failure that no longer happens
    since: date | None = None  # the day it was first recorded

    def describe(self) -> str:
        since = f" (en échec depuis le {format_date(self.since)})" if self.since else ""
        return f"le traitement automatique a repris{since}"


# --- the claim's own facts: a registered letter's delivery, an invoice found time-barred ---


@dataclass(frozen=True)
class NoticeReceived(EventPayload):
    """A registered letter's delivery, from La Poste's tracking: first presented, then received (signed)."""

    kind = "notice_received"
    label = "accusé de réception"

    letter: str | None  # the printed reference of the letter delivered
    tracking: str | None = None
    presented_on: date | None = None
    received_on: date | None = None
    invoices: tuple[str, ...] = ()  # the invoices that letter covered

    @property
    def effective_on(self) -> date | None:
        """The day the notice takes effect: its receipt, else its first presentation."""
        return self.received_on or self.presented_on

    def describe(self) -> str:
        parts = [f"lettre recommandée n° {self.letter}" if self.letter else "lettre recommandée"]
        if self.tracking:
            parts.append(f"suivi {self.tracking}")
        if self.presented_on:
            parts.append(f"première présentation le {format_date(self.presented_on)}")
        if self.received_on:
            parts.append(f"distribuée le {format_date(self.received_on)}")
        else:
            parts.append("non réclamée à ce jour")
        return "accusé de réception : " + ", ".join(parts)


@dataclass(frozen=True)
class TimeBarred(EventPayload):
    """An invoice still owed passed its prescription date: it is never put on notice nor taken to court."""

    kind = "time_barred"
    label = "prescription"

    invoice: str
    outstanding: Decimal
    prescribed_on: date  # the last day it could have been claimed
    since: date  # the due date, or the acknowledgement (payment) the period restarted from
    acknowledged: bool = False
    article: str | None = None
    currency: str | None = None

    def describe(self) -> str:
        start = (f"dernier acte interruptif : paiement du {format_date(self.since)}" if self.acknowledged
                 else f"à compter de l'échéance du {format_date(self.since)}")
        rule = f", {self.article}" if self.article else ""
        return (f"facture {self.invoice} ({format_amount(self.outstanding, self.currency or 'EUR')} restant dus) "
                f"prescrite depuis le {format_date(self.prescribed_on)} ({start}{rule}) : elle ne sera ni mise "
                "en demeure ni transmise au contentieux")


CLAIM_EVENTS: tuple[type[EventPayload], ...] = (NoticeReceived, TimeBarred)
CHANNEL_EVENTS: tuple[type[EventPayload], ...] = (
    EmailSent, EmailRetried, EmailFailed, CallRecorded, ApprovalRequested, Approved, Rejected, DebtorHeld,
    DebtorResumed,
)

_CASE_EVENTS: tuple[type[EventPayload], ...] = (
    CaseOpened, InvoiceAdded, InvoiceAmended, DebtorAmended, StateChange, LetterSent, PaymentReceived, CreditNoteApplied, Dispute, Resolve, Promise,
    Hold, Resume, Jump, Note, RunFailed, FailureCleared,
)
EVENT_TYPES: dict[str, type[EventPayload]] = {cls.kind: cls for cls in (*_CASE_EVENTS, *CLAIM_EVENTS, *CHANNEL_EVENTS)}
EVENT_KINDS = frozenset(EVENT_TYPES)
KIND_LABELS = {kind: cls.label for kind, cls in EVENT_TYPES.items()}
CHANNEL_LABELS = {"letter": "lettre simple", "registered_letter": "lettre recommandée avec accusé de réception",
                  "email": "courriel", "phone": "appel téléphonique"}


def read_event(kind: str, payload: Mapping[str, Any] | None, *, currency: str | None = None) -> EventPayload:
    """The typed payload of a stored event (``Event.kind``, ``Event.payload``).

    ``currency`` is the currency of the event's case: a payload with a ``currency`` field stored empty
    (written before that field existed: stored payloads are never rewritten, the hash chain covers them)
    reads in it, since a case holds one currency. Without it such a payload reads in EUR."""
    try:
        cls = EVENT_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {sorted(EVENT_KINDS)}") from None
    event = cls.from_json(payload or {})
    if currency is not None and getattr(event, "currency", currency) is None:
        event = replace(event, currency=currency)  # type: ignore[type-var]  # every payload is a dataclass
    return event


def _shares(shares: tuple[InvoiceShare, ...], currency: str) -> str:
    if not shares:
        return ""
    return " imputé sur " + ", ".join(f"{s.number} ({format_amount(s.amount, currency)})" for s in shares)


def _key(name: str) -> str:
    return name.rstrip("_")


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, EventPayload) or hasattr(value, "__dataclass_fields__"):
        return {key: _plain(getattr(value, name)) for name, key in _field_keys(kind)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


_HINTS: dict[type, dict[str, Any]] = {}
_FIELD_KEYS: dict[type, tuple[tuple[str, str], ...]] = {}


def _field_keys(cls: type) -> tuple[tuple[str, str], ...]:
    """A dataclass's (field name, stored key) pairs, once per class (`fields()` builds them on each call)."""
    keys = _FIELD_KEYS.get(cls)
    if keys is None:
        keys = _FIELD_KEYS[cls] = tuple((f.name, _key(f.name)) for f in fields(cls))
    return keys


def _hints(cls: type) -> dict[str, Any]:
    """A payload class's field types, resolved once per class (a timeline read resolves thousands)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _typed(hint: Any, value: Any) -> Any:
    """A stored JSON value back to the field's type (Decimal, date, nested dataclasses, tuples)."""
    if value is None:
        return None
    args = [a for a in get_args(hint) if a is not type(None)]
    origin = get_origin(hint)
    if origin is tuple and args:
        return tuple(_typed(args[0], item) for item in value)
    if args and origin is not dict and origin is not tuple:  # X | None
        return _typed(args[0], value)
    if hint is Decimal:
        return Decimal(str(value))
    if hint is date:
        return date.fromisoformat(str(value)[:10])
    if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
        inner = _hints(hint)
        return hint(**{f.name: _typed(inner[f.name], value.get(_key(f.name))) for f in fields(hint)
                       if _key(f.name) in value})
    return value


__all__ = [
    "CALL_OUTCOMES", "CHANNEL_EVENTS", "CHANNEL_LABELS", "OUTCOME_LABELS", "ApprovalRequested", "Approved",
    "CallRecorded", "DebtorHeld", "DebtorResumed", "EmailFailed", "EmailRetried", "EmailSent", "Rejected",
    "EVENT_KINDS", "EVENT_TYPES", "KIND_LABELS", "ActionFacts", "CaseOpened", "CreditNoteApplied", "DebtorAmended", "FieldChange", "InvoiceAmended",
    "Dispute", "EventPayload", "FailureCleared", "Hold", "InvoiceAdded", "InvoiceFacts", "InvoiceShare", "Jump", "LetterSent", "Note",
    "NoticeReceived", "PaymentReceived", "Promise", "Resolve", "Resume", "RunFailed", "StateChange", "TimeBarred",
    "RUN_ACTOR", "SentFile", "read_event", "step_reason",
]
