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

from engine.core.money import format_amount, format_date, format_long_date

DebtorKind = Literal["b2b", "b2c"]

CHANNEL_LABELS = {
    "letter": "courrier",
    "registered_letter": "lettre recommandée avec accusé de réception",
    "email": "courriel",
    "phone": "appel téléphonique",
    "sms": "SMS",
    "visit": "visite",
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


@dataclass(frozen=True)
class Creditor(Party):
    """The sender: a party plus how to pay it and who signs."""

    iban: str = ""
    bic: str = ""
    signatory: str = ""
    signatory_title: str = ""
    place: str = ""  # the town in "Paris, le 22 novembre 2026"


@dataclass(frozen=True)
class InvoiceLine:
    """One unpaid invoice as the letter's table shows it."""

    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    paid: Decimal
    outstanding: Decimal


@dataclass(frozen=True)
class PastStep:
    """An earlier contact of the case: a letter, a call, an e-mail."""

    on: date
    label: str
    channel: str  # letter | registered_letter | email | phone | ...


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
    assumed_rates: tuple[str, ...] = field(default=())
    # Who receives the hand-off letter (lawyer, commissaire de justice); None in other letters.
    counsel: Party | None = None


def build_context(letter: LetterData) -> dict[str, Any]:
    """The template variables for one letter (names documented in letters/README.md)."""
    locale, currency = letter.locale, letter.currency

    def money(amount: Decimal) -> str:
        return format_amount(amount, currency, locale)

    total_amount = sum((i.amount for i in letter.invoices), Decimal("0"))
    total_paid = sum((i.paid for i in letter.invoices), Decimal("0"))
    total_outstanding = sum((i.outstanding for i in letter.invoices), Decimal("0"))
    total_claim = total_outstanding + letter.penalties + letter.indemnity + letter.interest
    deadline = (
        letter.as_of + timedelta(days=letter.pay_within_days)
        if letter.pay_within_days is not None
        else None
    )
    creditor = _party(letter.creditor)
    creditor.update(
        iban=_text(letter.creditor.iban),
        bic=_text(letter.creditor.bic),
        signatory=_text(letter.creditor.signatory),
        signatory_title=_text(letter.creditor.signatory_title),
        place=_text(letter.creditor.place),
    )
    date_long = format_long_date(letter.as_of, locale)
    place = _text(letter.creditor.place)
    return {
        "creditor": creditor,
        "debtor": _party(letter.debtor),
        "counsel": _party(letter.counsel) if letter.counsel else None,
        "debtor_kind": letter.debtor_kind,
        "is_b2b": letter.debtor_kind == "b2b",
        "is_b2c": letter.debtor_kind == "b2c",
        "debtor_ref": _text(letter.debtor_ref),
        "case_ref": _text(letter.case_ref),
        "letter_ref": _text(letter.letter_ref),
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
                "outstanding": money(i.outstanding),
                "issue_date_value": i.issue_date,
                "due_date_value": i.due_date,
                "amount_value": i.amount,
                "paid_value": i.paid,
                "outstanding_value": i.outstanding,
            }
            for i in letter.invoices
        ],
        "invoice_count": len(letter.invoices),
        "total_amount": money(total_amount),
        "total_paid": money(total_paid),
        "total_outstanding": money(total_outstanding),
        "total_amount_value": total_amount,
        "total_paid_value": total_paid,
        "total_outstanding_value": total_outstanding,
        "history": [
            {
                "date": format_date(s.on, locale),
                "date_long": format_long_date(s.on, locale),
                "label": _text(s.label),
                "channel": s.channel,
                "channel_label": CHANNEL_LABELS.get(s.channel, _text(s.channel)),
                "date_value": s.on,
            }
            for s in letter.history
        ],
        "has_history": bool(letter.history),
        "pay_within_days": letter.pay_within_days,
        "deadline": format_long_date(deadline, locale) if deadline else None,
        "deadline_value": deadline,
        "penalties": money(letter.penalties),
        "indemnity": money(letter.indemnity),
        "interest": money(letter.interest),
        "penalties_value": letter.penalties,
        "indemnity_value": letter.indemnity,
        "interest_value": letter.interest,
        "has_penalties": letter.penalties > 0,
        "has_indemnity": letter.indemnity > 0,
        "has_interest": letter.interest > 0,
        "total_claim": money(total_claim),
        "total_claim_value": total_claim,
        "formal_notice_on": (
            format_long_date(letter.formal_notice_on, locale) if letter.formal_notice_on else None
        ),
        "formal_notice_on_value": letter.formal_notice_on,
        "assumed_rates": [_text(r) for r in letter.assumed_rates],
        "has_assumed_rates": bool(letter.assumed_rates),
        "currency": currency,
        "locale": locale,
    }


def sample_letter_data(debtor_kind: DebtorKind = "b2b") -> LetterData:
    """A realistic case (three invoices, two earlier contacts) for checks, the bench and tests."""
    creditor = Creditor(
        name="Atelier Lumière SAS",
        address_lines=("12 rue des Archives",),
        postal_code="75004",
        city="Paris",
        siren="812 345 678",
        email="comptabilite@atelier-lumiere.fr",
        phone="01 42 72 00 00",
        iban="FR76 3000 4000 0312 3456 7890 143",
        bic="BNPAFRPPXXX",
        signatory="Claire Dubois",
        signatory_title="Responsable du recouvrement",
        place="Paris",
    )
    if debtor_kind == "b2b":
        debtor = Party(
            name="Boulangerie Martin & Fils SARL",
            address_lines=("Service comptabilité", "8 avenue Jean Jaurès"),
            postal_code="69007",
            city="Lyon",
            siren="523 456 789",
        )
        penalties, indemnity, interest = Decimal("58.42"), Decimal("120.00"), Decimal("0")
    else:
        debtor = Party(
            name="Mme Sophie Lefèvre",
            address_lines=("3 impasse des Lilas",),
            postal_code="33000",
            city="Bordeaux",
        )
        penalties, indemnity, interest = Decimal("0"), Decimal("0"), Decimal("11.37")
    invoices = [
        InvoiceLine("FA-2026-0412", date(2026, 8, 3), date(2026, 9, 2),
                    Decimal("1234.56"), Decimal("0"), Decimal("1234.56")),
        InvoiceLine("FA-2026-0457", date(2026, 8, 21), date(2026, 9, 20),
                    Decimal("2890.00"), Decimal("890.00"), Decimal("2000.00")),
        InvoiceLine("FA-2026-0533", date(2026, 9, 14), date(2026, 10, 14),
                    Decimal("415.20"), Decimal("0"), Decimal("415.20")),
    ]
    history = [
        PastStep(date(2026, 10, 1), "Première relance", "letter"),
        PastStep(date(2026, 10, 9), "Relance téléphonique", "phone"),
        PastStep(date(2026, 10, 20), "Rappel par courriel", "email"),
    ]
    return LetterData(
        creditor=creditor,
        debtor=debtor,
        debtor_kind=debtor_kind,
        debtor_ref="CLI-00731",
        case_ref="DOS-2026-0042",
        letter_ref="LET-2026-0042-03",
        as_of=date(2026, 11, 22),
        state="formal_notice",
        state_label="Mise en demeure",
        invoices=invoices,
        history=history,
        pay_within_days=8,
        penalties=penalties,
        indemnity=indemnity,
        interest=interest,
        formal_notice_on=date(2026, 11, 22) if debtor_kind == "b2c" else None,
        assumed_rates=("Taux BCE au 1er juillet 2026 supposé égal à 2,15 %",),
        counsel=Party(
            name="SELARL Moreau Avocats",
            address_lines=("Maître Julien Moreau", "45 boulevard Haussmann"),
            postal_code="75009",
            city="Paris",
        ),
    )


def with_changes(letter: LetterData, **changes: Any) -> LetterData:
    """A copy of `letter` with some fields changed (frozen dataclass helper for callers)."""
    return replace(letter, **changes)


def _party(party: Party) -> dict[str, Any]:
    return {
        "name": _text(party.name),
        "address_lines": [_text(line) for line in party.address_lines],
        "postal_code": _text(party.postal_code),
        "city": _text(party.city),
        "country": party.country,
        "siren": _text(party.siren) if party.siren else None,
        "email": _text(party.email) if party.email else None,
        "phone": _text(party.phone) if party.phone else None,
    }


def _text(value: str) -> str:
    """User text minus characters XML cannot carry (escaping of & < > is the template env's job)."""
    return _XML_INVALID.sub("", str(value))
