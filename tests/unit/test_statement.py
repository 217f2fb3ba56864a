"""The itemised statement (décompte) of a formal notice and a hand-off, recomputed by hand: every invoice
bearing a penalty, an indemnity or interest (paid late or not), each half-year period with its days, rate,
base and amount, the payments deducted; the letter's totals are the sums of its lines.

Rates (engine/core/data/rates.csv, percent a year): B2B default 2025 S1 13.15, 2025 S2 12.15; legal rate
"other cases" 2025 S1 3.71, 2025 S2 2.76.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from engine.core.claim import Applied, InvoiceDebt, claim, load_rates
from engine.letters import CompiledTemplate, InvoiceLine, build_context, sample_letter_data
from engine.letters.wording import rendered_text
from tests.support import PACK

RATES = load_rates()
NBSP = "\u00a0"
AS_OF = date(2025, 8, 31)


def letter_for(kind: str, debts: list[InvoiceDebt]):
    figures = claim(debts, debtor_kind=kind, as_of=AS_OF, rates=RATES)  # type: ignore[arg-type]
    table = [InvoiceLine(line.number, line.due_date, line.due_date, line.amount, line.paid, line.outstanding)
             for line in figures.lines if line.outstanding > 0]
    base = sample_letter_data(kind)  # type: ignore[arg-type]
    return figures, replace(base, as_of=AS_OF, invoices=table, penalties=figures.penalties,
                            indemnity=figures.indemnity, interest=figures.interest, statement=figures.lines)


def charges(ctx) -> D:
    return sum((s["amount_value"] for line in ctx["statement"] for s in line["segments"]), D("0"))


def test_b2b_statement_by_hand_across_30_june_with_a_late_paid_invoice() -> None:
    """F-LATE 1 000.00 due 10/06/2025, paid in full 20/07/2025:
         11–30 June, 20 days at 13.15 %: 1000 × 0.1315 × 20 / 365 = 7.2055 → 7.21
         1–20 July, 20 days at 12.15 %:  1000 × 0.1215 × 20 / 365 = 6.6575 → 6.66; indemnity 40.00
       F-OPEN 2 500.00 due 15/07/2025, 500.00 paid 31/07/2025, as of 31/08/2025:
         16–31 July, 16 days at 12.15 % on 2 500: 2500 × 0.1215 × 16 / 365 = 13.3151 → 13.32
         1–31 August, 31 days at 12.15 % on 2 000: 2000 × 0.1215 × 31 / 365 = 20.6384 → 20.64; indemnity 40.00
       Principal 2 000.00; penalties 7.21 + 6.66 + 13.32 + 20.64 = 47.83; indemnity 80.00; total 2 127.83."""
    figures, letter = letter_for("b2b", [
        InvoiceDebt("F-LATE", D("1000.00"), date(2025, 6, 10), ((date(2025, 7, 20), D("1000.00")),)),
        InvoiceDebt("F-OPEN", D("2500.00"), date(2025, 7, 15), ((date(2025, 7, 31), D("500.00")),)),
    ])
    ctx = build_context(letter)
    late, open_ = ctx["statement"]
    assert [(s["period"], s["days"], s["rate_value"], s["base_value"], s["amount_value"]) for s in late["segments"]] == [
        ("du 11/06/2025 au 30/06/2025", 20, D("13.15"), D("1000.00"), D("7.21")),
        ("du 01/07/2025 au 20/07/2025", 20, D("12.15"), D("1000.00"), D("6.66")),
    ]
    assert (late["settled_on"], late["outstanding_value"], late["indemnity_value"]) == ("20/07/2025", D("0.00"),
                                                                                         D("40.00"))
    assert [(s["days"], s["base_value"], s["amount_value"]) for s in open_["segments"]] == [
        (16, D("2500.00"), D("13.32")), (31, D("2000.00"), D("20.64"))]
    assert [p["amount_value"] for p in open_["payments"]] == [D("500.00")]
    assert charges(ctx) == ctx["penalties_value"] == D("47.83")
    assert ctx["indemnity_value"] == D("80.00") == sum(line["indemnity_value"] for line in ctx["statement"])
    assert ctx["total_outstanding_value"] == D("2000.00") == sum(line["outstanding_value"] for line in ctx["statement"])
    assert ctx["total_claim_value"] == D("2127.83") == figures.total
    rows = ctx["statement_rows"]
    assert sum(r["amount_value"] for r in rows if r["kind"] in ("charge", "indemnity", "outstanding")) == D("2127.83")


def test_b2c_statement_by_hand_interest_from_the_notice_with_a_paid_invoice() -> None:
    """Notice received 16/06/2025. C-PAID 300.00 due 01/05/2025, paid 05/07/2025:
         17–30 June, 14 days at 3.71 %: 300 × 0.0371 × 14 / 365 = 0.4269 → 0.43
         1–5 July, 5 days at 2.76 %:    300 × 0.0276 × 5 / 365 = 0.1134 → 0.11
       C-OPEN 2 000.00 due 15/05/2025, 500.00 paid 10/07/2025, as of 31/08/2025:
         17–30 June, 14 days at 3.71 %: 2000 × 0.0371 × 14 / 365 = 2.8460 → 2.85
         1–10 July, 10 days at 2.76 %:  2000 × 0.0276 × 10 / 365 = 1.5123 → 1.51
         11 July–31 August, 52 days at 2.76 % on 1 500: 1500 × 0.0276 × 52 / 365 = 5.8981 → 5.90
       Interest 0.43 + 0.11 + 2.85 + 1.51 + 5.90 = 10.80; no indemnity; total 1 500.00 + 10.80 = 1 510.80."""
    notice = date(2025, 6, 16)
    figures, letter = letter_for("b2c", [
        InvoiceDebt("C-PAID", D("300.00"), date(2025, 5, 1), ((date(2025, 7, 5), D("300.00")),), interest_from=notice),
        InvoiceDebt("C-OPEN", D("2000.00"), date(2025, 5, 15), ((date(2025, 7, 10), D("500.00")),),
                    interest_from=notice),
    ])
    ctx = build_context(letter)
    paid, open_ = ctx["statement"]
    assert [(s["days"], s["rate_value"], s["amount_value"]) for s in paid["segments"]] == [
        (14, D("3.71"), D("0.43")), (5, D("2.76"), D("0.11"))]
    assert [(s["days"], s["rate_value"], s["base_value"], s["amount_value"]) for s in open_["segments"]] == [
        (14, D("3.71"), D("2000.00"), D("2.85")), (10, D("2.76"), D("2000.00"), D("1.51")),
        (52, D("2.76"), D("1500.00"), D("5.90"))]
    assert charges(ctx) == ctx["interest_value"] == D("10.80")
    assert (ctx["indemnity_value"], ctx["penalties_value"]) == (D("0.00"), D("0.00"))
    assert ctx["total_claim_value"] == D("1510.80") == figures.total


@pytest.mark.parametrize("template", ["mise_en_demeure.docx", "transmission_contentieux.docx"])
def test_the_letters_print_every_line_and_totals(template: str) -> None:
    _figures, letter = letter_for("b2b", [
        InvoiceDebt("F-LATE", D("1000.00"), date(2025, 6, 10), ((date(2025, 7, 20), D("1000.00")),)),
        InvoiceDebt("F-OPEN", D("2500.00"), date(2025, 7, 15), ((date(2025, 7, 31), D("500.00")),)),
    ])
    text = rendered_text(CompiledTemplate(PACK / template).render(build_context(letter)))
    for amount in ("7,21", "6,66", "13,32", "20,64", "47,83", "80,00", "2\u00a0127,83"):
        assert f"{amount}{NBSP}€" in text, amount
    assert "du 11/06/2025 au 30/06/2025" in text and "13,15 %" in text.replace(NBSP, " ")
    assert "Facture F-LATE échue le 10/06/2025, réglée le 20/07/2025" in text
    assert "somme à parfaire" in text


def test_a_credit_note_is_deducted_as_an_avoir_and_counts_as_a_payment_would() -> None:
    """F-AV 1 000.00 due 10/06/2025: credit note AV-12 of 300.00 on 30/06/2025, a payment of 200.00 on
    31/07/2025, a credit note without a recorded number of 500.00 on 10/08/2025 (it settles the invoice).
    The credit notes are the creditor's acts: « Avoir », never « Règlement », and the invoice is « soldée »,
    not « réglée »; the penalties run on the same days and amounts as if all three were payments."""
    applied = (Applied(date(2025, 6, 30), D("300.00"), "credit_note", "AV-12"),
               Applied(date(2025, 7, 31), D("200.00")),
               Applied(date(2025, 8, 10), D("500.00"), "credit_note"))
    figures, letter = letter_for("b2b", [InvoiceDebt("F-AV", D("1000.00"), date(2025, 6, 10), applied)])
    as_payments, _ = letter_for("b2b", [InvoiceDebt("F-AV", D("1000.00"), date(2025, 6, 10),
                                                    tuple((a.on, a.amount) for a in applied))])
    assert figures.lines[0].accruals == as_payments.lines[0].accruals and figures.total == as_payments.total
    ctx = build_context(letter)
    rows = [(r["kind"], r["label"], r["amount_value"]) for r in ctx["statement_rows"]
            if r["kind"] not in ("charge", "indemnity", "outstanding")]
    assert rows == [
        ("invoice", "Facture F-AV échue le 10/06/2025, soldée le 10/08/2025", D("1000.00")),
        ("credit_note", f"Avoir n°{NBSP}AV-12 du 30/06/2025", D("-300.00")),
        ("payment", "Règlement du 31/07/2025", D("-200.00")),
        ("credit_note", "Avoir du 10/08/2025", D("-500.00")),
    ]
    [line] = ctx["statement"]
    assert [(p["kind"], p["label"], p["reference"]) for p in line["payments"]] == [
        ("credit_note", f"Avoir n°{NBSP}AV-12 du 30/06/2025", "AV-12"), ("payment", "Règlement du 31/07/2025", ""),
        ("credit_note", "Avoir du 10/08/2025", "")]
    text = rendered_text(CompiledTemplate(PACK / "mise_en_demeure.docx").render(ctx))
    assert "Règlement du 30/06/2025" not in text and "Règlement du 10/08/2025" not in text
    assert f"Avoir n°{NBSP}AV-12 du 30/06/2025" in text and "réglée le" not in text
