"""What a letter says, as plain typed data, and the template variables built from it.

The runner fills a `LetterData` from the database; `build_context` turns it into the variables
a template may use: French strings ready to print (`1 234,56 €`, `22 novembre 2026`) and, under
`*_value` names, the raw Decimals and dates for conditions. letters/README.md lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from babel import Locale, UnknownLocaleError

from engine.core.claim import INDEMNITY_CURRENCY, ClaimLine
from engine.core.jurisdiction import Court
from engine.core.money import format_amount, format_date, format_long_date
from engine.letters.statement import statement_context

DebtorKind = Literal["b2b", "b2c"]

CHANNEL_LABELS = {
    "letter": "courrier",
    "registered_letter": "lettre recommandée avec accusé de réception",
    "email": "courriel",
    "phone": "appel téléphonique",
    "sms": "SMS",
    "visit": "visite",
    "receipt": "accusé de réception",
}
# The debtor's civility (debtors.csv `civility`, stored as "M." or "Mme") → how a letter greets them.
SALUTATIONS = {"M.": "Monsieur", "Mme": "Madame"}
# What B2C legal interest runs from, as the letter says it.
INTEREST_BASIS = {
    "receipt": "de la réception de la mise en demeure",
    "presentation": "de la première présentation de la mise en demeure",
    "sending": "de l'envoi de la mise en demeure (sa réception n'est pas enregistrée)",
}

# Characters XML 1.0 forbids; a stray one in a name would corrupt the document.
# Tab and newline stay: docxtpl turns them into Word tabs and line breaks.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Party:
    """A person or a company a letter is from or to."""

    name: str
    address_lines: tuple[str, ...]
    postal_code: str
    city: str
    country: str = "FR"
    siren: str | None = None
    email: str | None = None
    phone: str | None = None
    civility: str | None = None  # "M." | "Mme" for a person; none: "Madame, Monsieur"


@dataclass(frozen=True)
class Creditor(Party):
    """The sender: a party plus how to pay it, who signs, and its legal mentions (R123-237 C. com.)."""

    iban: str = ""
    bic: str = ""
    signatory: str = ""
    signatory_title: str = ""
    place: str = ""  # the town in "Paris, le 22 novembre 2026"
    legal_form: str = ""  # "SAS"
    share_capital: str = ""  # "50 000 €"
    rcs: str = ""  # "RCS Paris 812 649 176" (the registry's city and number)
    vat_number: str = ""  # "FR77812649176"


@dataclass(frozen=True)
class InvoiceLine:
    """One unpaid invoice as the letter's table shows it."""

    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    paid: Decimal  # everything taken off the invoice: payments and credit notes
    outstanding: Decimal
    credited: Decimal = Decimal("0")  # the part of `paid` that credit notes took off, not the debtor
    # An earlier contact of the case named this invoice (engine.cases.recall.reminded): only then may a letter
    # say it stays unpaid « malgré nos relances ».
    reminded: bool = False


@dataclass(frozen=True)
class PastStep:
    """An earlier contact of the case, as recorded in its timeline: a letter sent, a receipt, a call..."""

    on: date
    label: str
    channel: str  # letter | registered_letter | email | phone | receipt | ...
    reference: str = ""  # the printed reference of the letter, when it was one


@dataclass(frozen=True)
class NoticeFacts:
    """The formal notice as recorded: when it went out, its reference and channel, its delivery."""

    on: date
    reference: str = ""
    channel: str = "registered_letter"
    tracking: str | None = None
    presented_on: date | None = None
    received_on: date | None = None


@dataclass(frozen=True)
class LetterData:
    """Everything one letter needs; amounts arrive computed (engine.core.claim)."""

    creditor: Creditor
    debtor: Party
    debtor_kind: DebtorKind
    debtor_ref: str
    case_ref: str
    letter_ref: str
    as_of: date
    state: str
    state_label: str
    invoices: list[InvoiceLine]
    history: list[PastStep]
    pay_within_days: int | None
    penalties: Decimal
    indemnity: Decimal
    interest: Decimal
    formal_notice_on: date | None
    locale: str = "fr_FR"
    currency: str = "EUR"
    # Who receives the hand-off letter (lawyer, commissaire de justice); None in other letters.
    counsel: Party | None = None
    # The claim's lines with their accrual segments: the itemised statement (engine.letters.statement).
    statement: tuple[ClaimLine, ...] = field(default=())
    notice: NoticeFacts | None = None
    # B2C: the day legal interest runs from, and on what it rests: "receipt" | "presentation" | "sending".
    interest_from: date | None = None
    interest_basis: str | None = None
    court: Court | None = None
    # The state the policy's delays lead to next, kind and label, when the letter may announce it (see
    # Workflow.next_state); None when it may not: the policy does not say which, or nothing will follow.
    next_step: tuple[str | None, str] | None = None
    # What the letter says is enclosed; empty: no "P.J." line (nothing is attached).
    enclosures: tuple[str, ...] = field(default=())
    # A collection agency writing for the creditor (CPCE R124-4 mentions); None: the creditor writes.
    agency: Creditor | None = None


def build_context(letter: LetterData) -> dict[str, Any]:
    """The template variables for one letter (names documented in letters/README.md)."""
    locale, currency = letter.locale, letter.currency

    def money(amount: Decimal) -> str:
        return format_amount(amount, currency, locale)

    def long_date(on: date | None) -> str | None:
        return format_long_date(on, locale) if on is not None else None

    total_amount = sum((i.amount for i in letter.invoices), Decimal("0"))
    total_paid = sum((i.paid for i in letter.invoices), Decimal("0"))
    total_credited = sum((i.credited for i in letter.invoices), Decimal("0"))
    total_outstanding = sum((i.outstanding for i in letter.invoices), Decimal("0"))
    # The 40 EUR indemnity is in euros: added to the total only when the claim is in euros, else shown apart.
    indemnity_apart = currency != INDEMNITY_CURRENCY and letter.indemnity > 0
    total_claim = total_outstanding + letter.penalties + letter.interest + (
        Decimal("0") if indemnity_apart else letter.indemnity)
    deadline = (
        letter.as_of + timedelta(days=letter.pay_within_days)
        if letter.pay_within_days is not None
        else None
    )
    creditor = _sender(letter.creditor)
    agency = _sender(letter.agency) if letter.agency is not None else None
    payee = agency if agency is not None and agency["iban"] else creditor
    date_long = format_long_date(letter.as_of, locale)
    place = _text((letter.agency or letter.creditor).place)
    history = [
        {
            "date": format_date(s.on, locale),
            "date_long": format_long_date(s.on, locale),
            "label": _text(s.label),
            "channel": s.channel,
            "channel_label": CHANNEL_LABELS.get(s.channel, _text(s.channel)),
            "reference": _text(s.reference),
            "date_value": s.on,
        }
        for s in letter.history
    ]
    first = next((s for s in history if s["reference"]), None)
    notice = letter.notice
    salutation = SALUTATIONS.get(letter.debtor.civility or "", "Madame, Monsieur")
    return {
        "creditor": creditor,
        "agency": agency,
        "is_agency": agency is not None,
        "sender": agency or creditor,
        "payee": payee,
        "debtor": _party(letter.debtor, letter.creditor.country, locale),
        "counsel": _party(letter.counsel, letter.creditor.country, locale) if letter.counsel else None,
        "salutation": salutation,
        "debtor_kind": letter.debtor_kind,
        "is_b2b": letter.debtor_kind == "b2b",
        "is_b2c": letter.debtor_kind == "b2c",
        "debtor_ref": _text(letter.debtor_ref),
        "case_ref": _text(letter.case_ref),
        "letter_ref": _text(letter.letter_ref),
        "first_letter": ({"reference": first["reference"], "date_long": first["date_long"]} if first else None),
        "payment_reference": _text(letter.case_ref),
        "state": letter.state,
        "state_label": _text(letter.state_label),
        "as_of": letter.as_of,
        "date_long": date_long,
        "place_and_date": f"{place}, le {date_long}" if place else f"Le {date_long}",
        "invoices": [
            {
                "number": _text(i.number),
                "issue_date": format_date(i.issue_date, locale),
                "due_date": format_date(i.due_date, locale),
                "due_date_long": format_long_date(i.due_date, locale),
                "amount": money(i.amount),
                "paid": money(i.paid),
                "credited": money(i.credited),
                "outstanding": money(i.outstanding),
                "issue_date_value": i.issue_date,
                "due_date_value": i.due_date,
                "amount_value": i.amount,
                "paid_value": i.paid,
                "credited_value": i.credited,
                "outstanding_value": i.outstanding,
                "reminded": i.reminded,
            }
            for i in letter.invoices
        ],
        # « malgré nos relances » for the listed invoices: all of them, or only those an earlier contact named.
        "all_reminded": bool(letter.invoices) and all(i.reminded for i in letter.invoices),
        "reminded_numbers": [_text(i.number) for i in letter.invoices if i.reminded],
        "invoice_count": len(letter.invoices),
        "plural": len(letter.invoices) > 1,
        "total_amount": money(total_amount),
        "total_paid": money(total_paid),
        "total_credited": money(total_credited),
        # A "Réglé" column would say the debtor paid what a credit note took off: the pack's heading
        # reads « Réglé / avoirs » when one did.
        "has_credit_notes": total_credited > 0,
        "total_outstanding": money(total_outstanding),
        "total_amount_value": total_amount,
        "total_paid_value": total_paid,
        "total_credited_value": total_credited,
        "total_outstanding_value": total_outstanding,
        "history": history,
        "has_history": bool(letter.history),
        "pay_within_days": letter.pay_within_days,
        "deadline": format_long_date(deadline, locale) if deadline else None,
        "deadline_value": deadline,
        "penalties": money(letter.penalties),
        "indemnity": format_amount(letter.indemnity, INDEMNITY_CURRENCY, locale),
        "interest": money(letter.interest),
        "penalties_value": letter.penalties,
        "indemnity_value": letter.indemnity,
        "interest_value": letter.interest,
        "has_penalties": letter.penalties > 0,
        "has_indemnity": letter.indemnity > 0,
        "has_interest": letter.interest > 0,
        "indemnity_apart": indemnity_apart,
        "total_claim": money(total_claim),
        "total_claim_value": total_claim,
        "formal_notice_on": long_date(letter.formal_notice_on),
        "formal_notice_on_value": letter.formal_notice_on,
        "notice": None if notice is None else {
            "date_long": long_date(notice.on), "reference": _text(notice.reference),
            "channel_label": CHANNEL_LABELS.get(notice.channel, _text(notice.channel)),
            "registered": notice.channel == "registered_letter", "tracking": _text(notice.tracking or ""),
            "presented_on": long_date(notice.presented_on), "received_on": long_date(notice.received_on),
        },
        "interest_from": long_date(letter.interest_from),
        "interest_from_value": letter.interest_from,
        "interest_basis": INTEREST_BASIS.get(letter.interest_basis or "", ""),
        "court": None if letter.court is None else {"name": letter.court.name, "reason": letter.court.reason},
        "next_step": None if letter.next_step is None else {"kind": letter.next_step[0],
                                                             "label": _text(letter.next_step[1])},
        "enclosures": [_text(e) for e in letter.enclosures],
        "has_enclosures": bool(letter.enclosures),
        **statement_context(letter.statement, letter.debtor_kind, currency, locale, _text),
        "currency": currency,
        "locale": locale,
    }


def with_changes(letter: LetterData, **changes: Any) -> LetterData:
    """A copy of `letter` with some fields changed (frozen dataclass helper for callers)."""
    return replace(letter, **changes)


def _party(party: Party, home: str | None = None, locale: str = "fr_FR") -> dict[str, Any]:
    """A party's fields; ``country_name`` only for a letter sent from ``home`` to another country."""
    return {
        "name": _text(party.name),
        "address_lines": [_text(line) for line in party.address_lines],
        "postal_code": _text(party.postal_code),
        "city": _text(party.city),
        "country": party.country,
        "country_name": _country_name(party.country, locale) if home and not _same_country(party.country, home)
        else None,
        "siren": _text(party.siren) if party.siren else None,
        "email": _text(party.email) if party.email else None,
        "phone": _text(party.phone) if party.phone else None,
    }


def _same_country(code: str | None, home: str) -> bool:
    return (code or home).strip().upper() == home.strip().upper()


def _country_name(code: str | None, locale: str) -> str:
    """The country of an address abroad as its last line: its name in the letter's language, in capitals
    (UPU S42: "ROYAUME-UNI"); the code itself when the language has no name for it."""
    code = (code or "").strip().upper()
    try:
        name = Locale.parse(locale).territories.get(code, code)
    except (ValueError, UnknownLocaleError):
        name = code
    return _text(name.upper())


def _sender(sender: Creditor) -> dict[str, Any]:
    """A writing party (creditor or agency) with payment details and its legal mentions line."""
    fields = _party(sender)
    fields.update(
        iban=_text(sender.iban), bic=_text(sender.bic), signatory=_text(sender.signatory),
        signatory_title=_text(sender.signatory_title), place=_text(sender.place),
        legal_form=_text(sender.legal_form), share_capital=_no_break(_text(sender.share_capital)),
        rcs=_no_break(_text(sender.rcs)), vat_number=_text(sender.vat_number),
    )
    fields["legal_mentions"] = legal_mentions(sender)
    return fields


def legal_mentions(sender: Creditor) -> str:
    """The footer's identity (Code de commerce R123-237): name, legal form and capital, RCS city and number
    (or SIREN), VAT number; each part only when given."""
    form = _text(sender.legal_form)
    if form and sender.share_capital:
        form += f" au capital de {_no_break(_text(sender.share_capital))}"
    registry = _no_break(_text(sender.rcs)) or (f"SIREN {_text(sender.siren)}" if sender.siren else "")
    vat = f"TVA intracommunautaire {_text(sender.vat_number)}" if sender.vat_number else ""
    return " — ".join(part for part in (_text(sender.name), form, registry, vat) if part)


def _no_break(text: str) -> str:
    """Spaces inside an amount or a registry number never break across lines."""
    return text.replace(" ", "\u00a0")


def _text(value: str) -> str:
    """User text minus characters XML cannot carry (escaping of & < > is the template env's job)."""
    return _XML_INVALID.sub("", str(value))
