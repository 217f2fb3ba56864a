"""The statutory rates file: half-years, lookups, carry-forward, located errors, and the shipped table.

Rates used (engine/core/data/rates.csv, percent a year): B2B default 2025 S1 13.15, 2025 S2 12.15,
2026 S1 12.15; legal rate "other cases" 2026 S1 2.62. The shipped file ends with 2026 S1.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.core.claim import InvoiceDebt, claim
from engine.core.rates import (
    DEFAULT_RATES_FILE,
    AmountError,
    HalfYear,
    HalfYearRates,
    MissingRate,
    RateKind,
    RatesFileError,
    RateTable,
    load_rates,
)
from engine.errors import RelanceError

RATES = load_rates()
HEADER = "half_year_start,ecb_rate,b2b_default_rate,legal_rate_individual,legal_rate_other,verified\n"

# LAW.md's "Rates" table (/work/shared/domain/LAW.md): half-year → ECB, B2B default, legal individual,
# legal other cases; the ECB figure of the half-years marked (unverified) there is unverified here too.
# 2021 is not in LAW.md's table: its rows (ECB 0.00 until July 2022, legal rates of the 2021 arrêtés) are
# shipped unverified so that the five years of L110-4 are covered.
YEAR_2021 = {
    "2021 S1": ("0.00", "10.00", "3.14", "0.79"),
    "2021 S2": ("0.00", "10.00", "3.12", "0.76"),
}
LAW_MD = {
    "2022 S1": ("0.00", "10.00", "3.13", "0.76"),
    "2022 S2": ("0.00", "10.00", "3.15", "0.77"),
    "2023 S1": ("2.50", "12.50", "4.47", "2.06"),
    "2023 S2": ("4.00", "14.00", "6.82", "4.22"),
    "2024 S1": ("4.50", "14.50", "8.01", "5.07"),
    "2024 S2": ("4.25", "14.25", "8.16", "4.92"),
    "2025 S1": ("3.15", "13.15", "7.21", "3.71"),
    "2025 S2": ("2.15", "12.15", "6.65", "2.76"),
    "2026 S1": ("2.15", "12.15", "6.67", "2.62"),
}


def b2b(*invoices: InvoiceDebt, as_of: date, **options: object):
    return claim(invoices, debtor_kind="b2b", as_of=as_of, rates=RATES, **options)  # type: ignore[arg-type]


def test_missing_half_year_is_an_error_naming_the_row_and_file() -> None:
    """No 2026 S2 row: 1 000.00 due 15/06/2026 cannot be computed as of 15/07/2026."""
    invoice = InvoiceDebt("F1", D("1000.00"), date(2026, 6, 15))
    with pytest.raises(MissingRate) as caught:
        b2b(invoice, as_of=date(2026, 7, 15))
    assert "2026 S2" in str(caught.value) and "2026-07-01" in str(caught.value)
    assert str(DEFAULT_RATES_FILE) in str(caught.value)
    with pytest.raises(MissingRate, match="2020 S2"):
        RATES.rate("b2b_default", date(2020, 12, 31), carry_forward=True)  # never carried backwards


def test_carry_forward_reuses_last_half_year_and_says_so() -> None:
    """Same invoice with carry_forward: 16–30 June at 12.15 %: 1000 × 0.1215 × 15 / 365 = 4.9932 → 4.99;
    1–15 July at 2026 S1's 12.15 % again (assumed) → 4.99; penalties 9.98, 2026 S2 flagged as assumed
    and 2026 S1 as unverified (its ECB figure is marked so in LAW.md)."""
    result = b2b(InvoiceDebt("F1", D("1000.00"), date(2026, 6, 15)), as_of=date(2026, 7, 15), carry_forward=True)
    assert result.penalties == D("9.98")
    assert result.assumed_rates == ("2026 S2",)
    assert result.unverified_rates == ("2026 S1",)
    assert [a.assumed for a in result.lines[0].accruals] == [False, True]
    assert RATES.rate("legal_other", date(2026, 11, 22), carry_forward=True) == D("2.62")


def test_user_rates_file_and_located_errors(tmp_path: Path) -> None:
    header = "half_year_start,ecb_rate,b2b_default_rate,legal_rate_individual,legal_rate_other,verified\n"
    good = tmp_path / "rates.csv"
    good.write_text(header + "2030-01-01,1.00,11.00,5.00,2.00,yes\n2030-07-01,1,11,5,2,no\n")
    table = load_rates(good)
    assert table.rate("b2b_default", date(2030, 8, 1)) == D("11")

    def error_for(body: str) -> RatesFileError:
        bad = tmp_path / "bad.csv"
        bad.write_text(header + body)
        with pytest.raises(RatesFileError) as caught:
            load_rates(bad)
        return caught.value

    err = error_for("2030-01-01,1.00,11.00,5.00,2.00,yes\n2030-07-01,1.x,11.00,5.00,2.00,yes\n")
    assert (err.line, err.column) == (3, "ecb_rate") and "bad.csv:3" in str(err)
    err = error_for("2030-01-01,1.00,12.00,5.00,2.00,yes\n")
    assert (err.line, err.column) == (2, "b2b_default_rate") and "ecb_rate + 10" in str(err)
    err = error_for("2030-01-01,1.00,11.00,5.00,2.00,yes\n2031-01-01,1.00,11.00,5.00,2.00,yes\n")
    assert (err.line, err.column) == (3, "half_year_start") and "2030 S2" in str(err)
    err = error_for("2030-03-01,1.00,11.00,5.00,2.00,yes\n")
    assert err.column == "half_year_start" and "half-year start" in str(err)
    err = error_for("2030-01-01,1.00,11.00,5.00,2.00,maybe\n")
    assert (err.line, err.column) == (2, "verified")
    with pytest.raises(RatesFileError, match="missing column"):
        (tmp_path / "short.csv").write_text("half_year_start,ecb_rate\n")
        load_rates(tmp_path / "short.csv")
    with pytest.raises(RatesFileError, match="cannot read"):
        load_rates(tmp_path / "absent.csv")


def test_shipped_file_covers_the_limitation_period_with_its_unverified_marks() -> None:
    """LAW.md's table, 2022 S1 to 2026 S1, plus 2021 (five years of L110-4 back from 2026), 2021 unverified."""
    rows = list(RATES)
    assert [str(r.half_year) for r in rows][0] == "2021 S1" and str(rows[-1].half_year) == "2026 S1"
    assert len(rows) == 11
    assert [str(r.half_year) for r in rows if not r.verified] == ["2021 S1", "2021 S2", "2022 S1", "2022 S2",
                                                                  "2026 S1"]
    assert RATES.rate("legal_individual", date(2024, 9, 1)) == D("8.16")


def test_shipped_file_has_every_figure_of_law_md() -> None:
    assert {str(r.half_year): (str(r.ecb), str(r.b2b_default), str(r.legal_individual), str(r.legal_other))
            for r in RATES} == YEAR_2021 | LAW_MD


@pytest.mark.parametrize(("day", "half", "start", "end"), [
    (date(2025, 1, 1), "2025 S1", date(2025, 1, 1), date(2025, 6, 30)),
    (date(2025, 6, 30), "2025 S1", date(2025, 1, 1), date(2025, 6, 30)),
    (date(2025, 7, 1), "2025 S2", date(2025, 7, 1), date(2025, 12, 31)),
    (date(2025, 12, 31), "2025 S2", date(2025, 7, 1), date(2025, 12, 31)),
])
def test_half_year_boundaries(day: date, half: str, start: date, end: date) -> None:
    found = HalfYear.containing(day)
    assert (str(found), found.start, found.end) == (half, start, end)


def test_half_years_follow_each_other_and_sort_by_date() -> None:
    assert HalfYear(2025, 1).next() == HalfYear(2025, 2)
    assert HalfYear(2025, 2).next() == HalfYear(2026, 1)  # 31 December → 1 January of the next year
    for half in (HalfYear(2025, 1), HalfYear(2025, 2)):
        assert (half.next().start - half.end).days == 1  # no day falls between two half-years
    assert sorted([HalfYear(2026, 1), HalfYear(2025, 2), HalfYear(2025, 1)]) == [
        HalfYear(2025, 1), HalfYear(2025, 2), HalfYear(2026, 1)]


def test_the_rate_changes_overnight_on_1_july_and_1_january() -> None:
    assert RATES.rate(RateKind.B2B_DEFAULT, date(2025, 6, 30)) == D("13.15")
    assert RATES.rate(RateKind.B2B_DEFAULT, date(2025, 7, 1)) == D("12.15")
    assert RATES.rate("legal_other", date(2025, 12, 31)) == D("2.76")
    assert RATES.rate("legal_other", date(2026, 1, 1)) == D("2.62")


def test_lookup_says_whether_the_rates_were_carried_forward() -> None:
    found = RATES.lookup(date(2026, 3, 1))
    assert (str(found.half_year), found.assumed, str(found.rates.half_year)) == ("2026 S1", False, "2026 S1")
    carried = RATES.lookup(date(2027, 3, 1), carry_forward=True)
    assert (str(carried.half_year), carried.assumed, str(carried.rates.half_year)) == ("2027 S1", True, "2026 S1")
    with pytest.raises(MissingRate, match="2027 S1"):
        RATES.lookup(date(2027, 3, 1))


def test_missing_rate_without_a_file_names_the_table_and_hints_only_forward() -> None:
    row = HalfYearRates(HalfYear(2030, 1), D("1"), D("11"), D("5"), D("2"), verified=True)
    table = RateTable([row])
    with pytest.raises(MissingRate) as later:
        table.rate("ecb", date(2030, 7, 1))
    assert "the rates table" in str(later.value) and "carry_forward=True" in str(later.value)
    with pytest.raises(MissingRate) as earlier:
        table.rate("ecb", date(2029, 12, 31))
    assert "carry_forward" not in str(earlier.value)  # carrying backwards is never offered
    assert isinstance(earlier.value, RelanceError) and isinstance(earlier.value, LookupError)


def test_a_table_with_one_half_year_twice_is_refused() -> None:
    row = HalfYearRates(HalfYear(2030, 1), D("1"), D("11"), D("5"), D("2"), verified=True)
    with pytest.raises(AmountError, match="duplicate half-years"):
        RateTable([row, row])


def test_semicolons_decimal_commas_percent_signs_comments_and_a_bom_are_read(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("# our own copy\n" + HEADER.replace(",", ";") + "\n"
                    "2030-01-01;1,25 %;11,25;5;2;oui\n# July\n2030-07-01;1.5;11.5;5;2;non\n",
                    encoding="utf-8-sig")
    first, second = load_rates(path)
    assert (first.ecb, first.b2b_default, first.verified, first.line) == (D("1.25"), D("11.25"), True, 4)
    assert (second.ecb, second.verified, second.line) == (D("1.5"), False, 6)


@pytest.mark.parametrize(("body", "line", "column", "reason"), [
    ("2030-01-01,1.00,11.00,5.00,2.00,yes\n2030-01-01,1.00,11.00,5.00,2.00,yes\n",
     3, "half_year_start", "already given on line 2"),
    ("2030-01-01,1.00,11.00,5.00,yes\n", 2, None, "expected 6 cells, found 5"),
    ("2030-01-01,1.00,11.00,150,2.00,yes\n", 2, "legal_rate_individual", "between 0 and 100"),
    ("2030-13-01,1.00,11.00,5.00,2.00,yes\n", 2, "half_year_start", "is not a date"),
    ("", None, None, "has a header but no rows"),
])
def test_more_located_file_errors(tmp_path: Path, body: str, line: int | None, column: str | None,
                                  reason: str) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(RatesFileError) as caught:
        load_rates(path)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert reason in str(caught.value) and str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_unknown_column_empty_file_and_non_utf8_are_located(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text(HEADER.rstrip("\n") + ",source\n", encoding="utf-8")
    with pytest.raises(RatesFileError) as caught:
        load_rates(odd)
    assert (caught.value.line, caught.value.column) == (1, "source") and "unknown column" in str(caught.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(RatesFileError, match="is empty"):
        load_rates(empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(("# taux légaux\n" + HEADER).encode("latin-1"))
    with pytest.raises(RatesFileError, match="not UTF-8"):
        load_rates(latin)
