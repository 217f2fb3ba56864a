"""The template variables built from a LetterData."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from engine.letters import InvoiceLine, Party, build_context, sample_letter_data

NBSP = "\u00a0"


def test_totals_deadline_and_place() -> None:
    letter = sample_letter_data()
    ctx = build_context(letter)
    assert ctx["total_outstanding_value"] == Decimal("3649.76")
    assert ctx["total_outstanding"] == f"3{NBSP}649,76{NBSP}€"
    assert ctx["total_claim_value"] == Decimal("3649.76") + letter.penalties + letter.indemnity
    assert ctx["deadline_value"] == date(2026, 11, 30)
    assert ctx["deadline"] == "30 novembre 2026"
    assert ctx["place_and_date"] == "Paris, le 22 novembre 2026"
    assert [i["number"] for i in ctx["invoices"]] == [i.number for i in letter.invoices]
    assert ctx["invoices"][0]["due_date"] == "02/09/2026"
    assert ctx["history"][0]["date_long"] == "1er octobre 2026"
    assert ctx["history"][1]["channel_label"] == "appel téléphonique"
    assert ctx["is_b2b"] and not ctx["is_b2c"]


def test_no_deadline_without_delay() -> None:
    ctx = build_context(replace(sample_letter_data(), pay_within_days=None))
    assert ctx["deadline"] is None and ctx["deadline_value"] is None


def test_b2c_sample_has_interest_not_indemnity() -> None:
    ctx = build_context(sample_letter_data("b2c"))
    assert ctx["has_interest"] and not ctx["has_indemnity"] and not ctx["has_penalties"]
    assert ctx["formal_notice_on"] == "22 novembre 2026"


def test_text_loses_xml_invalid_characters_but_keeps_markup_characters() -> None:
    debtor = Party("A\x00B\x0c & <C>", ("l1\x1f",), "75001", "Paris")
    ctx = build_context(replace(sample_letter_data(), debtor=debtor))
    assert ctx["debtor"]["name"] == "AB & <C>"  # escaping is the environment's job
    assert ctx["debtor"]["address_lines"] == ["l1"]


def test_empty_case() -> None:
    ctx = build_context(replace(sample_letter_data(), invoices=[], history=[]))
    assert ctx["invoice_count"] == 0 and ctx["total_outstanding"] == f"0,00{NBSP}€"
    assert not ctx["has_history"]


def test_invoice_line_amounts_stay_decimal() -> None:
    line = InvoiceLine("F1", date(2026, 1, 1), date(2026, 1, 31), Decimal("10.10"), Decimal("0.1"),
                       Decimal("10.00"))
    ctx = build_context(replace(sample_letter_data(), invoices=[line]))
    assert ctx["invoices"][0]["paid"] == f"0,10{NBSP}€"
    assert isinstance(ctx["invoices"][0]["amount_value"], Decimal)
