"""The itemised statement (décompte) a formal notice and a hand-off print: per invoice, each period of
penalties or interest with its days, rate, base and amount, the payments and credit notes deducted (each
named for what it is: a credit note is the creditor's act, never printed as the debtor's payment), the
indemnity.

Built from the claim's own lines (engine.core.claim.ClaimLine and its Accrual segments), so each
printed figure is one the claim summed: the letter's totals are the sums of these lines. Two shapes
for the templates: `statement` (one entry per invoice, with `segments` and `payments` lists, for
nested loops) and `statement_rows` (one flat list of table rows, for a single `{%tr for %}` loop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from engine.core.claim import INDEMNITY_CURRENCY, Applied, ClaimLine
from engine.core.money import format_amount, format_date, format_rate

ZERO = Decimal("0.00")


def itemised(line: ClaimLine) -> bool:
    """An invoice the statement shows: still owed, or bearing penalties, an indemnity or interest."""
    return line.outstanding > 0 or line.penalties > 0 or line.indemnity > 0 or line.interest > 0


def statement_context(lines: Sequence[ClaimLine], debtor_kind: str, currency: str, locale: str,
                      text: Callable[[str], str]) -> dict[str, Any]:
    """`statement`, `statement_rows` and `has_statement` for the template context."""

    def money(amount: Decimal, in_currency: str = currency) -> str:
        return format_amount(amount, in_currency, locale)

    what = "Pénalités de retard" if debtor_kind == "b2b" else "Intérêts au taux légal"
    entries, rows = [], []
    for line in (line for line in lines if itemised(line)):
        segments = [
            {
                "start": format_date(a.start, locale), "end": format_date(a.end, locale),
                "period": f"du {format_date(a.start, locale)} au {format_date(a.end, locale)}",
                "days": a.days, "rate": format_rate(a.rate, locale), "base": money(a.base),
                "amount": money(a.amount), "half_year": a.half_year,
                "start_value": a.start, "end_value": a.end, "rate_value": a.rate, "base_value": a.base,
                "amount_value": a.amount,
            }
            for a in line.accruals
        ]
        payments = [{"date": format_date(p.received or p.on, locale), "amount": money(p.amount), "kind": p.kind,
                     "label": _deduction_label(p, locale, text), "reference": text(p.reference),
                     "date_value": p.received or p.on, "amount_value": p.amount}
                    for p in line.payments]
        settled = format_date(line.settled_on, locale) if line.settled_on else None
        # "réglée" says the debtor paid: only when nothing but payments brought the invoice to zero.
        credited = any(p.kind == "credit_note" for p in line.payments)
        entries.append({
            "number": text(line.number), "amount": money(line.amount), "due_date": format_date(line.due_date, locale),
            "paid": money(line.paid), "outstanding": money(line.outstanding), "settled_on": settled,
            "days_late": line.days_late, "segments": segments, "payments": payments,
            "penalties": money(line.penalties), "indemnity": money(line.indemnity, INDEMNITY_CURRENCY),
            "interest": money(line.interest), "charge_label": what,
            "amount_value": line.amount, "paid_value": line.paid, "outstanding_value": line.outstanding,
            "penalties_value": line.penalties, "indemnity_value": line.indemnity, "interest_value": line.interest,
        })
        state = f", {'soldée' if credited else 'réglée'} le {settled}" if settled else ""
        rows.append(_row(f"Facture {text(line.number)} échue le {format_date(line.due_date, locale)}{state}",
                         amount=money(line.amount), value=line.amount, kind="invoice"))
        rows += [_row(_deduction_label(p, locale, text), amount=f"−\u00a0{money(p.amount)}", value=-p.amount,
                      kind=p.kind) for p in line.payments]
        rows += [_row(what, f"du {format_date(a.start, locale)} au {format_date(a.end, locale)}", str(a.days),
                      format_rate(a.rate, locale), money(a.base), money(a.amount), a.amount, kind="charge")
                 for a in line.accruals]
        if line.indemnity > 0:
            rows.append(_row("Indemnité forfaitaire pour frais de recouvrement (D441-5)",
                             amount=money(line.indemnity, INDEMNITY_CURRENCY), value=line.indemnity, kind="indemnity"))
        rows.append(_row(f"Reste dû en principal sur {text(line.number)}", amount=money(line.outstanding),
                         value=line.outstanding, kind="outstanding"))
    return {"statement": entries, "statement_rows": rows, "has_statement": bool(entries)}


def _deduction_label(applied: Applied, locale: str, text: Callable[[str], str] = str) -> str:
    """What a statement calls an amount taken off an invoice: the debtor's payment (« Règlement du … »), or
    the creditor's credit note (« Avoir n° … du … », « Avoir du … » when no number was recorded). A payment
    received before the invoice was issued says so: it was not made for this invoice, only spent on it."""
    on = format_date(applied.on, locale)
    if applied.kind == "credit_note":
        number = text(applied.reference).strip()
        return f"Avoir n°\u00a0{number} du {on}" if number else f"Avoir du {on}"
    if applied.received is not None:
        return f"Règlement du {format_date(applied.received, locale)}, antérieur à la facture, imputé sur celle-ci"
    return f"Règlement du {on}"


def _row(label: str, period: str = "", days: str = "", rate: str = "", base: str = "", amount: str = "",
         value: Decimal = ZERO, *, kind: str) -> dict[str, Any]:
    return {"label": label, "period": period, "days": days, "rate": rate, "base": base, "amount": amount,
            "amount_value": value, "kind": kind}


__all__ = ["itemised", "statement_context"]
