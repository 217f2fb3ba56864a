"""Statutory amounts, checked against hand-worked arithmetic (each test shows its sums).

Rates used (engine/data/rates.csv, percent a year): B2B default 2023 S2 14.00, 2024 S1 14.50,
2025 S1 13.15, 2025 S2 12.15, 2026 S1 12.15; legal rate "other cases" 2025 S1 3.71, 2025 S2 2.76.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.claim import (
    AmountError,
    ContractualRateTooLow,
    InvoiceDebt,
    MissingRate,
    claim,
    load_rates,
)
from engine.core.rates import HalfYear
from engine.errors import RelanceError

RATES = load_rates()


def b2b(*invoices: InvoiceDebt, as_of: date, **options: object):
    return claim(invoices, debtor_kind="b2b", as_of=as_of, rates=RATES, **options)  # type: ignore[arg-type]


def test_single_half_year_penalties_and_indemnity() -> None:
    """1 000.00 due 31/01/2025, as of 02/03/2025: 1–28 Feb + 1–2 Mar = 30 days at 13.15 %.
    1000 × 0.1315 × 30 / 365 = 3945 / 365 = 10.8082 → 10.81; + 40.00 indemnity; total 1 050.81."""
    result = b2b(InvoiceDebt("F1", D("1000.00"), date(2025, 1, 31)), as_of=date(2025, 3, 2))
    assert result.penalties == D("10.81")
    assert result.indemnity == D("40.00")
    assert result.principal == D("1000.00")
    assert result.total == D("1050.81")
    (line,) = result.lines
    assert line.days_late == 30
    assert [(a.days, a.rate) for a in line.accruals] == [(30, D("13.15"))]


def test_nothing_accrues_on_the_due_date_itself() -> None:
    """Penalties run from the day after the due date: as of the due date, nothing is owed beyond principal."""
    result = b2b(InvoiceDebt("F1", D("1000.00"), date(2025, 1, 31)), as_of=date(2025, 1, 31))
    assert (result.penalties, result.indemnity, result.total) == (D("0.00"), D("0.00"), D("1000.00"))
    one_day = b2b(InvoiceDebt("F1", D("1000.00"), date(2025, 1, 31)), as_of=date(2025, 2, 1))
    # 1000 × 0.1315 × 1 / 365 = 0.3603 → 0.36
    assert one_day.penalties == D("0.36")


def test_period_across_30_june_and_1_july_takes_each_half_years_rate() -> None:
    """10 000.00 due 20/06/2025, as of 10/07/2025.
    21–30 June: 10 days at 13.15 %: 10000 × 0.1315 × 10 / 365 = 13150 / 365 = 36.0274 → 36.03
    1–10 July: 10 days at 12.15 %: 10000 × 0.1215 × 10 / 365 = 12150 / 365 = 33.2877 → 33.29
    total 69.32 (20 days at the first rate alone would be 72.05)."""
    result = b2b(InvoiceDebt("F1", D("10000.00"), date(2025, 6, 20)), as_of=date(2025, 7, 10))
    assert [(a.start, a.end, a.rate, a.amount) for a in result.lines[0].accruals] == [
        (date(2025, 6, 21), date(2025, 6, 30), D("13.15"), D("36.03")),
        (date(2025, 7, 1), date(2025, 7, 10), D("12.15"), D("33.29")),
    ]
    assert result.penalties == D("69.32")


def test_period_across_31_december_and_1_january() -> None:
    """5 000.00 due 15/12/2023, as of 15/01/2024.
    16–31 Dec 2023: 16 days at 14.00 %: 5000 × 0.14 × 16 / 365 = 11200 / 365 = 30.6849 → 30.68
    1–15 Jan 2024: 15 days at 14.50 %: 5000 × 0.145 × 15 / 365 = 10875 / 365 = 29.7945 → 29.79
    total 60.47."""
    result = b2b(InvoiceDebt("F1", D("5000.00"), date(2023, 12, 15)), as_of=date(2024, 1, 15))
    assert [(a.half_year, a.days, a.amount) for a in result.lines[0].accruals] == [
        ("2023 S2", 16, D("30.68")),
        ("2024 S1", 15, D("29.79")),
    ]
    assert result.penalties == D("60.47")


def test_partial_payment_reduces_the_base_from_the_next_day() -> None:
    """2 000.00 due 31/03/2025; 800.00 paid on 15/04/2025; as of 30/04/2025, 13.15 %.
    1–15 Apr (payment day included): 2000 × 0.1315 × 15 / 365 = 3945 / 365 = 10.8082 → 10.81
    16–30 Apr: 1200 × 0.1315 × 15 / 365 = 2367 / 365 = 6.4849 → 6.48
    penalties 17.29; indemnity 40.00 whole, not split; total 1200 + 17.29 + 40 = 1 257.29."""
    invoice = InvoiceDebt("F1", D("2000.00"), date(2025, 3, 31), ((date(2025, 4, 15), D("800.00")),))
    result = b2b(invoice, as_of=date(2025, 4, 30))
    assert [(a.base, a.days, a.amount) for a in result.lines[0].accruals] == [
        (D("2000.00"), 15, D("10.81")),
        (D("1200.00"), 15, D("6.48")),
    ]
    assert (result.principal, result.penalties, result.indemnity) == (D("1200.00"), D("17.29"), D("40.00"))
    assert result.total == D("1257.29")


def test_payment_before_due_date_and_payments_after_as_of() -> None:
    """1 000.00 due 31/03/2025, 400.00 paid 20/03 (before due), 600.00 paid 10/05 (after as_of 30/04).
    Base 600 for 1–30 Apr: 600 × 0.1315 × 30 / 365 = 2367 / 365 = 6.4849 → 6.48; the May payment is
    unknown on 30/04, so 600.00 is still outstanding."""
    invoice = InvoiceDebt(
        "F1", D("1000.00"), date(2025, 3, 31), ((date(2025, 3, 20), D("400.00")), (date(2025, 5, 10), D("600.00")))
    )
    result = b2b(invoice, as_of=date(2025, 4, 30))
    assert (result.principal, result.penalties) == (D("600.00"), D("6.48"))
    assert result.lines[0].paid == D("400.00")


def test_paid_late_in_full_stops_penalties_but_keeps_the_indemnity() -> None:
    """1 000.00 due 31/01/2025, paid in full 10/02/2025; as of 30/06/2025.
    10 days (1–10 Feb) at 13.15 %: 1000 × 0.1315 × 10 / 365 = 1315 / 365 = 3.6027 → 3.60; + 40.00."""
    invoice = InvoiceDebt("F1", D("1000.00"), date(2025, 1, 31), ((date(2025, 2, 10), D("1000.00")),))
    result = b2b(invoice, as_of=date(2025, 6, 30))
    assert (result.principal, result.penalties, result.indemnity) == (D("0.00"), D("3.60"), D("40.00"))
    assert result.lines[0].days_late == 10


def test_indemnity_is_40_per_late_invoice_and_none_for_consumers() -> None:
    """Three invoices overdue on 30/04/2025 → 3 × 40.00 = 120.00. One paid on its due date and one
    not yet due add nothing. The same invoices owed by a consumer: no indemnity, no penalties."""
    late = [InvoiceDebt(f"L{i}", D("100.00"), date(2025, 3, 10 + i)) for i in range(3)]
    on_time = InvoiceDebt("T", D("500.00"), date(2025, 3, 31), ((date(2025, 3, 31), D("500.00")),))
    not_due = InvoiceDebt("N", D("700.00"), date(2025, 5, 15))
    business = b2b(*late, on_time, not_due, as_of=date(2025, 4, 30))
    assert business.indemnity == D("120.00")
    assert [line.indemnity for line in business.lines] == [D("40.00")] * 3 + [D("0.00")] * 2
    assert business.principal == D("1000.00")  # 3 × 100 + 700 not yet due; the paid one is 0
    consumer = claim([*late, on_time, not_due], debtor_kind="b2c", as_of=date(2025, 4, 30), rates=RATES)
    assert (consumer.indemnity, consumer.penalties, consumer.interest) == (D("0.00"), D("0.00"), D("0.00"))
    assert consumer.total == D("1000.00")


def test_consumer_interest_runs_only_from_the_formal_notice() -> None:
    """B2C, 3 000.00 due 31/01/2025, formal notice 16/06/2025, as of 16/07/2025.
    Nothing before the notice. 17–30 June: 14 days at 3.71 %: 3000 × 0.0371 × 14 / 365 = 1558.2 / 365
    = 4.2690 → 4.27; 1–16 July: 16 days at 2.76 %: 3000 × 0.0276 × 16 / 365 = 1324.8 / 365 = 3.6296
    → 3.63; interest 7.90."""
    invoice = InvoiceDebt("F1", D("3000.00"), date(2025, 1, 31))

    def consumer(**options: object):
        as_of = date(2025, 7, 16)
        return claim([invoice], debtor_kind="b2c", as_of=as_of, rates=RATES, **options)  # type: ignore[arg-type]

    assert consumer().interest == D("0.00")
    with_notice = consumer(formal_notice_on=date(2025, 6, 16))
    assert [(a.start, a.days, a.rate, a.amount) for a in with_notice.lines[0].accruals] == [
        (date(2025, 6, 17), 14, D("3.71"), D("4.27")),
        (date(2025, 7, 1), 16, D("2.76"), D("3.63")),
    ]
    assert (with_notice.interest, with_notice.penalties, with_notice.total) == (D("7.90"), D("0.00"), D("3007.90"))
    # A notice dated after as_of has not happened yet.
    assert consumer(formal_notice_on=date(2025, 7, 20)).interest == D("0.00")


def test_consumer_interest_gains_5_points_two_months_after_judgment() -> None:
    """B2C 1 000.00 due 31/01/2025, notice 10/02/2025, judgment 10/03/2025 → +5 points from 11/05/2025.
    11 Feb–10 May: 18 + 31 + 30 + 10 = 89 days at 3.71 %: 1000 × 0.0371 × 89 / 365 = 9.0463 → 9.05
    11–20 May: 10 days at 8.71 %: 1000 × 0.0871 × 10 / 365 = 2.3863 → 2.39; interest 11.44."""
    result = claim(
        [InvoiceDebt("F1", D("1000.00"), date(2025, 1, 31))],
        debtor_kind="b2c",
        as_of=date(2025, 5, 20),
        rates=RATES,
        formal_notice_on=date(2025, 2, 10),
        judgment_on=date(2025, 3, 10),
    )
    assert [(a.days, a.rate, a.amount) for a in result.lines[0].accruals] == [
        (89, D("3.71"), D("9.05")),
        (10, D("8.71"), D("2.39")),
    ]
    assert result.interest == D("11.44")


def test_rounding_is_half_up_per_accrual() -> None:
    """3 650.00 at a contractual 12.25 % for 1 day: 3650 × 0.1225 / 365 = 1.225 exactly → 1.23 half-up
    (banker's rounding would give 1.22). 100.10 for 1 day at 13.15 %: 0.036063 → 0.04."""
    exact_half = b2b(
        InvoiceDebt("F1", D("3650.00"), date(2025, 2, 1)), as_of=date(2025, 2, 2), contractual_rate=D("12.25")
    )
    assert exact_half.penalties == D("1.23")
    small = b2b(InvoiceDebt("F2", D("100.10"), date(2025, 2, 1)), as_of=date(2025, 2, 2))
    assert small.penalties == D("0.04")
    assert small.penalties.as_tuple().exponent == -2


def test_contractual_rate_replaces_default_but_not_below_three_times_legal_rate() -> None:
    """Floor = 3 × legal rate "other cases": 2025 S1 3 × 3.71 = 11.13; 2025 S2 3 × 2.76 = 8.28.
    10 % is fine for a period inside 2025 S2 (1000 × 0.10 × 31 / 365 = 8.4932 → 8.49 for 1–31 Aug),
    refused as soon as the period touches 2025 S1; 11.13 % exactly is allowed in S1."""
    july_invoice = InvoiceDebt("F1", D("1000.00"), date(2025, 7, 31))
    august = b2b(july_invoice, as_of=date(2025, 8, 31), contractual_rate=D("10"))
    assert august.penalties == D("8.49")
    with pytest.raises(ContractualRateTooLow, match=r"2025 S1.*11\.13"):
        b2b(InvoiceDebt("F1", D("1000.00"), date(2025, 6, 20)), as_of=date(2025, 8, 31), contractual_rate=D("10"))
    january_invoice = InvoiceDebt("F1", D("1000.00"), date(2025, 1, 31))
    at_floor = b2b(january_invoice, as_of=date(2025, 3, 2), contractual_rate=D("11.13"))
    # 1000 × 0.1113 × 30 / 365 = 3339 / 365 = 9.1479 → 9.15
    assert at_floor.penalties == D("9.15")


def test_a_2021_invoice_is_claimed_with_2021_rates_and_says_they_are_unverified() -> None:
    """Due 1 March 2021, 1,000.00: 10 % from 2 March to 30 June 2021 = 121 days → 33.15."""
    result = b2b(InvoiceDebt("F21", D("1000.00"), date(2021, 3, 1)), as_of=date(2021, 6, 30))
    (segment,) = result.lines[0].accruals
    assert (segment.start, segment.end, segment.days, segment.rate) == (date(2021, 3, 2), date(2021, 6, 30), 121,
                                                                         D("10.00"))
    assert segment.amount == D("33.15")  # 1000 × 10 % × 121 / 365 = 33.1507
    assert result.unverified_rates == ("2021 S1",)


def test_a_half_year_before_the_file_names_the_half_year_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("half_year_start,ecb_rate,b2b_default_rate,legal_rate_individual,legal_rate_other,verified\n"
                    "2022-01-01,0.00,10.00,3.13,0.76,no\n")
    with pytest.raises(MissingRate) as caught:
        claim([InvoiceDebt("F20", D("100.00"), date(2021, 3, 1))], debtor_kind="b2b", as_of=date(2022, 2, 1),
              rates=load_rates(path))
    message = str(caught.value)
    assert "2021 S1" in message and str(path) in message and "2021-01-01" in message
    assert isinstance(caught.value, RelanceError) and "\n" not in message


def test_bad_inputs_are_refused_with_the_invoice_named() -> None:
    with pytest.raises(AmountError, match="F9.*Decimal"):
        b2b(InvoiceDebt("F9", 100.0, date(2025, 1, 1)), as_of=date(2025, 2, 1))  # type: ignore[arg-type]
    with pytest.raises(AmountError, match="b2b"):
        claim([], debtor_kind="pro", as_of=date(2025, 1, 1), rates=RATES)  # type: ignore[arg-type]
    with pytest.raises(AmountError, match="B2B"):
        claim([], debtor_kind="b2c", as_of=date(2025, 1, 1), rates=RATES, contractual_rate=D("15"))


@settings(max_examples=60, deadline=None)
@given(
    amount=st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2),
    due=st.dates(min_value=date(2022, 1, 1), max_value=date(2025, 12, 1)),
    late_days=st.integers(min_value=0, max_value=400),
    paid_share=st.decimals(min_value=D("0"), max_value=D("1"), places=2),
    pay_after=st.integers(min_value=-20, max_value=400),
)
def test_accruals_cover_each_late_day_once_and_add_up(
    amount: D, due: date, late_days: int, paid_share: D, pay_after: int
) -> None:
    """Whatever the dates: accruals are contiguous from the day after due, never overlap, count
    days_late days, and the claim's totals are the sums of its printed figures."""
    from datetime import timedelta

    as_of = min(due + timedelta(days=late_days), date(2026, 6, 30))
    payment = (amount * paid_share).quantize(D("0.01"))
    payments = ((due + timedelta(days=pay_after), payment),) if payment > 0 else ()
    result = b2b(InvoiceDebt("P", amount, due, payments), as_of=as_of)
    line = result.lines[0]
    accruals = line.accruals
    if accruals:
        assert accruals[0].start == due + timedelta(days=1)
        for before, after in zip(accruals, accruals[1:]):
            assert after.start == before.end + timedelta(days=1)
            assert after.base <= before.base
        assert sum(a.days for a in accruals) == line.days_late
        assert all(HalfYear.containing(a.start) == HalfYear.containing(a.end) for a in accruals)
    assert line.penalties == sum((a.amount for a in accruals), D("0.00"))
    assert result.total == result.principal + result.penalties + result.indemnity + result.interest


def test_penalties_on_a_yen_invoice_are_whole_yen_and_euro_ones_stay_to_the_cent() -> None:
    """123 457 JPY due 01/02/2025, as of 31/03/2025: 2 Feb–31 Mar, 58 days at 13.15 %:
    123457 × 0.1315 × 58 / 365 = 2 579.744 → 2 580 yen (JPY has no minor unit: 2 579,74 cannot be paid).
    The same figures in euros: 2 579.74 €, as before. The 40 € indemnity stays in euros, to the cent."""
    debt = InvoiceDebt("F-JP", D("123457.00"), date(2025, 2, 1))
    yen = b2b(debt, as_of=date(2025, 3, 31), currency="JPY")
    assert [(a.days, a.amount) for a in yen.lines[0].accruals] == [(58, D("2580.00"))]
    assert yen.penalties == yen.lines[0].penalties == D("2580") and yen.indemnity == D("40.00")
    euro = b2b(debt, as_of=date(2025, 3, 31))
    assert euro.penalties == D("2579.74") == b2b(debt, as_of=date(2025, 3, 31), currency="EUR").penalties


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(min_value=1, max_value=10**9), days=st.integers(min_value=1, max_value=400),
       kind=st.sampled_from(["b2b", "b2c"]))
def test_every_yen_accrual_is_whole(amount: int, days: int, kind: str) -> None:
    due = date(2025, 1, 15)
    result = claim([InvoiceDebt("F", D(amount), due)], debtor_kind=kind, as_of=due + timedelta(days=days),  # type: ignore[arg-type]
                   rates=RATES, formal_notice_on=due, currency="JPY")
    for line in result.lines:
        assert all(a.amount == a.amount.to_integral_value() for a in line.accruals)
    assert result.penalties == result.penalties.to_integral_value()
    assert result.interest == result.interest.to_integral_value()


def test_the_euro_indemnity_is_never_added_to_a_total_in_another_currency() -> None:
    """D441-5's 40 € stays in euros: a USD claim's total is its dollars alone (principal and penalties), the
    indemnity beside it; a euro claim's total includes it, as before."""
    debt = InvoiceDebt("F-US", D("1000.00"), date(2025, 2, 1))
    dollars = b2b(debt, as_of=date(2025, 3, 31), currency="USD")
    assert dollars.indemnity == D("40.00") and dollars.penalties > 0
    assert dollars.total == dollars.principal + dollars.penalties + dollars.interest
    assert dollars.lines[0].total == dollars.lines[0].outstanding + dollars.lines[0].penalties
    euros = b2b(debt, as_of=date(2025, 3, 31))
    assert euros.total == euros.principal + euros.penalties + euros.indemnity
    assert euros.lines[0].total == euros.lines[0].outstanding + euros.lines[0].penalties + D("40.00")
