"""What a debtor owes on a given day: principal, late-payment penalties, the 40 EUR indemnity, interest.

Pure and Decimal-only. Rules: Code de commerce L441-10 and D441-5 (B2B), Code civil 1231-6 and 1344-1
and CMF L313-3 (consumers). The rates live in an editable file (engine/data/rates.csv, read by
engine.core.rates) so that a new half-year is a one-line edit, not a release.

Conventions (each one is a choice a court could see, so they are written down):
- Interest of every kind accrues day by day on days d with start < d <= as_of. Penalties start the day
  after the due date; B2C interest the day after the formal notice (or after the due date if later).
- A payment made on day p reduces the base from day p + 1: the day of payment still accrues on the
  old balance. Payments dated after `as_of` are ignored (time is an argument). Accrual stops when the
  balance reaches zero.
- A day takes the rate of the half-year it falls in (`amount × rate × days / 365`, 365 even in leap
  years, as L441-10 is read in practice). A period is cut at every half-year start and every payment.
- Each accrual segment is rounded (ROUND_HALF_UP) to the minor unit of the claim's currency: the cent for
  EUR, the yen for JPY (engine.core.money.round_to_unit), since no one can pay 0.10 yen; a line's penalties
  are the sum of its rounded segments and the claim's totals the sum of its lines, so every printed figure
  adds up. The D441-5 indemnity is in euros whatever the currency, to the cent.
- A contractual rate below 3 × the legal rate "other cases" of any half-year it is applied in is
  refused (ContractualRateTooLow), never clamped: silently claiming another rate than the contract's
  would be worse than stopping.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

from engine.core.money import round_to_unit
from engine.core.rates import (
    AmountError,
    HalfYear,
    MissingRate,
    RateKind,
    RateLookup,
    RatesFileError,
    RateTable,
    load_rates,
)

__all__ = [
    "AmountError",
    "Accrual",
    "Applied",
    "Claim",
    "ClaimLine",
    "ContractualRateTooLow",
    "INDEMNITY_CURRENCY",
    "HalfYear",
    "InvoiceDebt",
    "MissingRate",
    "RECOVERY_INDEMNITY",
    "RateKind",
    "RateTable",
    "RatesFileError",
    "claim",
    "load_rates",
]

DebtorKind = Literal["b2b", "b2c"]
# What took an amount off an invoice: the debtor paid it, or the creditor issued a credit note (avoir).
AppliedKind = Literal["payment", "credit_note"]

CENT = Decimal("0.01")
# D441-5: fixed recovery indemnity per invoice paid late, B2B only, outside the scope of VAT.
RECOVERY_INDEMNITY = Decimal("40.00")
INDEMNITY_CURRENCY = "EUR"  # D441-5 fixes it in euros, whatever the invoice's currency
# L313-3 CMF: the legal rate rises by 5 points two months after an enforceable judgment.
JUDGMENT_SURCHARGE = Decimal("5")
# L441-10: a contractual penalty rate may not be below 3 × the legal rate ("other cases").
CONTRACTUAL_FLOOR_FACTOR = Decimal("3")
_ZERO = Decimal("0.00")


class ContractualRateTooLow(AmountError):
    """A contractual penalty rate under the statutory floor for a half-year it would apply to."""


class Applied(NamedTuple):
    """An amount taken off an invoice on a day, and what took it off. Interest and penalties run on the day
    and the amount alone; the kind and the reference only say what a statement may call the line: a credit
    note is the creditor's act, not a payment the debtor made."""

    on: date
    amount: Decimal
    kind: AppliedKind = "payment"
    reference: str = ""  # a credit note's number, as recorded (empty: none recorded, or a payment)
    # A payment dated before the invoice was issued (credit the ledger spent on it later): the day the debtor
    # paid, while ``on`` is the issue date, the first day that money could pay this invoice. A statement
    # never prints it as a settlement of this invoice on that earlier day.
    received: date | None = None


@dataclass(frozen=True)
class InvoiceDebt:
    """One invoice as the amounts see it: amount including VAT, due date, the dated amounts applied to it
    (a plain ``(day, amount)`` pair is a payment)."""

    number: str
    amount: Decimal
    due_date: date
    payments: tuple[Applied | tuple[date, Decimal], ...] = ()
    # B2C: the day legal interest runs from for this invoice (its own formal notice, received or
    # presented); None leaves it to the claim's `formal_notice_on`.
    interest_from: date | None = None


@dataclass(frozen=True)
class Accrual:
    """A run of days with one base and one rate: `base × rate% × days / 365`, rounded to the currency's unit."""

    start: date  # first day counted
    end: date  # last day counted (inclusive)
    days: int
    base: Decimal
    rate: Decimal  # percent a year
    half_year: str  # "2025 S2"
    assumed: bool  # the half-year's rates were carried forward, not read from the file
    amount: Decimal


@dataclass(frozen=True)
class ClaimLine:
    """What one invoice adds to the claim, with the accruals that justify its penalties or interest."""

    number: str
    amount: Decimal
    due_date: date
    paid: Decimal
    outstanding: Decimal
    days_late: int  # days from the due date to payment in full, or to as_of if still open
    penalties: Decimal
    indemnity: Decimal
    interest: Decimal
    accruals: tuple[Accrual, ...]
    # The amounts deducted (payments and credit notes, dated, up to as_of) and the day the last one settled
    # the invoice, if it did: what an itemised statement (décompte) prints under the invoice.
    payments: tuple[Applied, ...] = ()
    settled_on: date | None = None
    currency: str = INDEMNITY_CURRENCY  # the invoice's: principal, penalties and interest are in it

    @property
    def total(self) -> Decimal:
        """What the invoice adds in its own currency: the indemnity, in euros, only when that is the euro."""
        indemnity = self.indemnity if self.currency == INDEMNITY_CURRENCY else _ZERO
        return self.outstanding + self.penalties + indemnity + self.interest


@dataclass(frozen=True)
class Claim:
    """Everything owed on `as_of`, per invoice and in total, and which rates were assumed."""

    as_of: date
    debtor_kind: DebtorKind
    lines: tuple[ClaimLine, ...]
    principal: Decimal  # outstanding principal, VAT included
    penalties: Decimal
    indemnity: Decimal
    interest: Decimal
    total: Decimal  # in the claim's currency: the indemnity (euros) is left out of it in any other
    assumed_rates: tuple[str, ...]  # half-years computed with carried-forward rates, e.g. ("2026 S2",)
    unverified_rates: tuple[str, ...]  # half-years used whose row is marked unverified in the file


def claim(
    invoices: Iterable[InvoiceDebt],
    *,
    debtor_kind: DebtorKind,
    as_of: date,
    rates: RateTable,
    formal_notice_on: date | None = None,
    contractual_rate: Decimal | None = None,
    judgment_on: date | None = None,
    carry_forward: bool = False,
    indemnity_per_invoice: Decimal = RECOVERY_INDEMNITY,
    currency: str = "EUR",
) -> Claim:
    """The claim on `as_of`: B2B gets penalties (L441-10) and 40 EUR per late invoice (D441-5);
    B2C gets legal interest from `formal_notice_on` (+5 points two months after `judgment_on`), or
    from each invoice's own `interest_from` when given (an invoice no notice covered gets none: the
    caller passes `formal_notice_on=None` and no `interest_from`).

    `formal_notice_on` is not needed for B2B (penalties run without any reminder) and ignored there.
    `contractual_rate` (percent a year) replaces the B2B default rate. With `carry_forward`, a
    half-year missing from the rates file reuses the last known one and is listed in `assumed_rates`;
    without it, MissingRate says which row to add. `currency` is the invoices' (the case's): penalties and
    interest are rounded to its minor unit.
    """
    if debtor_kind not in ("b2b", "b2c"):
        raise AmountError(f"debtor_kind must be 'b2b' or 'b2c', not {debtor_kind!r}")
    if contractual_rate is not None:
        _check_decimal("contractual_rate", contractual_rate)
        if debtor_kind != "b2b":
            raise AmountError("contractual_rate applies to B2B late-payment penalties only")
    _check_decimal("indemnity_per_invoice", indemnity_per_invoice)
    used: dict[str, bool] = {}  # half-year label -> assumed
    unverified: set[str] = set()

    def rates_on(day: date) -> RateLookup:
        # Remember every half-year used, to report assumed and unverified rates on the claim.
        found = rates.lookup(day, carry_forward=carry_forward)
        used[str(found.half_year)] = found.assumed
        if not found.rates.verified:
            unverified.add(str(found.rates.half_year))
        return found

    def penalty_rate(day: date) -> tuple[Decimal, HalfYear, bool]:
        found = rates_on(day)
        half, assumed = found.half_year, found.assumed
        default, legal_other = found.rates.b2b_default, found.rates.legal_other
        if contractual_rate is None:
            return default, half, assumed
        floor = CONTRACTUAL_FLOOR_FACTOR * legal_other
        if contractual_rate < floor:
            raise ContractualRateTooLow(
                f"contractual rate {contractual_rate}% is below the floor for {half} "
                f"(3 × legal rate {legal_other}% = {floor}%, Code de commerce L441-10): "
                f"fix the contract rate or leave it out to use the default rate ({default}%)"
            )
        return contractual_rate, half, assumed

    surcharge_from = _add_months(judgment_on, 2) + timedelta(days=1) if judgment_on else None

    def interest_rate(day: date) -> tuple[Decimal, HalfYear, bool]:
        found = rates_on(day)
        legal_other = found.rates.legal_other
        if surcharge_from is not None and day >= surcharge_from:
            legal_other += JUDGMENT_SURCHARGE
        return legal_other, found.half_year, found.assumed

    lines = []
    for invoice in invoices:
        _check_invoice(invoice)
        # By day and amount, never by kind: what applied an amount changes no figure of the claim.
        payments = sorted((p for p in map(_applied, invoice.payments) if p.on <= as_of),
                          key=lambda p: (p.on, p.amount))
        paid = sum((p.amount for p in payments), _ZERO)
        outstanding = max(invoice.amount - paid, _ZERO)
        settled_on = _settled_on(invoice.amount, payments)
        open_after_due = invoice.amount - sum((p.amount for p in payments if p.on <= invoice.due_date), _ZERO)
        late = as_of > invoice.due_date and open_after_due > 0
        days_late = ((settled_on or as_of) - invoice.due_date).days if late else 0
        accruals: tuple[Accrual, ...] = ()
        penalties = indemnity = interest = _ZERO
        if debtor_kind == "b2b":
            if late:
                accruals = _accrue(invoice.amount, payments, invoice.due_date, as_of, penalty_rate, (), currency)
                penalties = sum((a.amount for a in accruals), _ZERO)
                indemnity = indemnity_per_invoice.quantize(CENT, ROUND_HALF_UP)
        elif (notice := invoice.interest_from or formal_notice_on) is not None and late:
            start = max(notice, invoice.due_date)
            breaks = (surcharge_from,) if surcharge_from else ()
            accruals = _accrue(invoice.amount, payments, start, as_of, interest_rate, breaks, currency)
            interest = sum((a.amount for a in accruals), _ZERO)
        lines.append(
            ClaimLine(
                number=invoice.number,
                amount=_cents(invoice.amount),
                due_date=invoice.due_date,
                paid=_cents(paid),
                outstanding=_cents(outstanding),
                days_late=days_late,
                penalties=penalties,
                indemnity=indemnity,
                interest=interest,
                accruals=accruals,
                payments=tuple(p._replace(amount=_cents(p.amount)) for p in payments),
                settled_on=settled_on,
                currency=currency,
            )
        )
    principal = sum((line.outstanding for line in lines), _ZERO)
    penalties = sum((line.penalties for line in lines), _ZERO)
    indemnity = sum((line.indemnity for line in lines), _ZERO)
    interest = sum((line.interest for line in lines), _ZERO)
    return Claim(
        as_of=as_of,
        debtor_kind=debtor_kind,
        lines=tuple(lines),
        principal=_cents(principal),
        penalties=_cents(penalties),
        indemnity=_cents(indemnity),
        interest=_cents(interest),
        # Never two currencies in one sum: the euro indemnity of a USD claim stays beside its total.
        total=_cents(principal + penalties + interest + (indemnity if currency == INDEMNITY_CURRENCY else _ZERO)),
        assumed_rates=tuple(sorted(label for label, assumed in used.items() if assumed)),
        unverified_rates=tuple(sorted(unverified)),
    )


# --- helpers -------------------------------------------------------------------------------------


def _accrue(
    amount: Decimal,
    payments: list[Applied],
    start: date,
    end: date,
    rate_at: Callable[[date], tuple[Decimal, HalfYear, bool]],
    breaks: tuple[date, ...],
    currency: str,
) -> tuple[Accrual, ...]:
    """Accruals for the days d with start < d <= end on the balance still open on each day.

    The balance on day d is `amount` minus the payments dated before d; a run is cut wherever the
    balance or the rate may change (payment + 1 day, half-year start, `breaks`).
    """
    cuts = sorted({p.on + timedelta(days=1) for p in payments} | set(breaks))
    accruals = []
    day = start + timedelta(days=1)
    while day <= end:
        base = amount - sum((p.amount for p in payments if p.on < day), _ZERO)
        if base <= 0:
            break  # paid in full: nothing more accrues
        rate, half, assumed = rate_at(day)
        stop = min([c for c in cuts if c > day] + [half.next().start, end + timedelta(days=1)])
        days = (stop - day).days
        value = round_to_unit(base * rate * days / (Decimal(100) * 365), currency)
        accruals.append(
            Accrual(
                start=day,
                end=stop - timedelta(days=1),
                days=days,
                base=_cents(base),
                rate=rate,
                half_year=str(half),
                assumed=assumed,
                amount=value,
            )
        )
        day = stop
    return tuple(accruals)


def _settled_on(amount: Decimal, payments: list[Applied]) -> date | None:
    """The date of the payment that brought the balance to zero, if any."""
    total = _ZERO
    for applied in payments:
        total += applied.amount
        if total >= amount:
            return applied.on
    return None


def _applied(entry: Applied | tuple[date, Decimal]) -> Applied:
    """An applied amount as the claim reads it: a plain (day, amount) pair is a payment."""
    return entry if isinstance(entry, Applied) else Applied(*entry)


def _add_months(on: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Dec + 2 months = 28/29 Feb)."""
    month_index = on.month - 1 + months
    year, month = on.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(on.day, calendar.monthrange(year, month)[1]))


def _check_invoice(invoice: InvoiceDebt) -> None:
    """Money must arrive as Decimal and make sense; say which invoice is wrong."""
    _check_decimal(f"invoice {invoice.number}: amount", invoice.amount)
    if invoice.amount <= 0:
        raise AmountError(f"invoice {invoice.number}: amount must be positive, got {invoice.amount}")
    for on, value, *_ in map(_applied, invoice.payments):
        _check_decimal(f"invoice {invoice.number}: payment of {on}", value)
        if value <= 0:
            raise AmountError(f"invoice {invoice.number}: payment of {on} must be positive, got {value}")


def _check_decimal(what: str, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise AmountError(f"{what} must be a finite Decimal, got {value!r}")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)
