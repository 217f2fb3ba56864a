"""The example data set keeps its promises: the importer's headers, realistic French values, dates
that let the demo reach every step by 2026-11-22, and the events the README describes."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import tomllib
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support import EXAMPLES

from engine.core.identifiers import siren_of

DEMO_AS_OF = date(2026, 11, 22)
HEADERS = {
    "debtors.csv": "debtor_ref;kind;name;siren;address_line1;address_line2;postal_code;city;country;email;phone;civility",
    "invoices.csv": "invoice_number;debtor_ref;issue_date;due_date;amount;currency",
    "payments.csv": "debtor_ref;payment_date;amount;invoice_number;reference",
    "events.csv": "event_date;debtor_ref;action;until;reason",
}


def rows(name: str) -> list[dict[str, str]]:
    with (EXAMPLES / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def any_date(text: str) -> date:
    if re.fullmatch(r"\d{2}/\d{2}/\d{4}", text):
        day, month, year = text.split("/")
        return date(int(year), int(month), int(day))
    return date.fromisoformat(text)


def any_amount(text: str) -> Decimal:
    return Decimal(text.replace(" ", "").replace(",", "."))


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_headers_are_the_importer_contract(name: str) -> None:
    first_line = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == HEADERS[name]


def test_debtors_are_plausible_french_parties() -> None:
    debtors = rows("debtors.csv")
    assert len(debtors) >= 40
    assert len({d["debtor_ref"] for d in debtors}) == len(debtors)
    kinds = Counter(d["kind"] for d in debtors)
    assert set(kinds) == {"b2b", "b2c"} and min(kinds.values()) >= 10
    for debtor in debtors:
        assert re.fullmatch(r"\d{5}", debtor["postal_code"]), debtor
        if debtor["kind"] == "b2b":
            assert re.fullmatch(r"\d{9}", debtor["siren"]) and siren_of(debtor["siren"]) == debtor["siren"], debtor
            assert re.search(r"\b(SARL|SAS|SASU|EURL|SA|SELARL)$", debtor["name"]), debtor
        else:
            assert debtor["siren"] == ""
    names = [d["name"] for d in debtors]
    assert any("&" in n for n in names) and any("'" in n for n in names)


def test_invoices_reach_every_step_and_some_are_not_yet_due() -> None:
    invoices = rows("invoices.csv")
    known = {d["debtor_ref"] for d in rows("debtors.csv")}
    assert len(invoices) >= 150
    assert len({i["invoice_number"] for i in invoices}) == len(invoices)
    for invoice in invoices:
        assert invoice["debtor_ref"] in known
        issued, due = date.fromisoformat(invoice["issue_date"]), date.fromisoformat(invoice["due_date"])
        assert 30 <= (due - issued).days <= 60 and issued <= DEMO_AS_OF, invoice
        assert Decimal("80") <= Decimal(invoice["amount"]) <= Decimal("25000"), invoice
        assert re.fullmatch(r"\d+\.\d{2}", invoice["amount"]), invoice
    dues = sorted(date.fromisoformat(i["due_date"]) for i in invoices)
    assert dues[0] <= date(2026, 5, 15)  # the oldest have had time to reach litigation
    assert (DEMO_AS_OF - dues[0]).days > 150
    assert sum(d > DEMO_AS_OF for d in dues) >= 5
    per_debtor = Counter(i["debtor_ref"] for i in invoices)
    assert max(per_debtor.values()) >= 5


def test_payments_mix_spellings_only_in_payments_and_never_exceed_invoices() -> None:
    payments = rows("payments.csv")
    invoices = {i["invoice_number"]: i for i in rows("invoices.csv")}
    french = [p for p in payments if "/" in p["payment_date"] or "," in p["amount"]]
    assert 1 <= len(french) < len(payments) / 2
    assert any(" " in p["amount"] for p in french)  # a thousands separator too
    paid: Counter[str] = Counter()
    for payment in payments:
        on, amount = any_date(payment["payment_date"]), any_amount(payment["amount"])
        assert on <= DEMO_AS_OF and amount > 0
        if payment["invoice_number"]:
            assert invoices[payment["invoice_number"]]["debtor_ref"] == payment["debtor_ref"]
            paid[payment["invoice_number"]] += amount
    assert all(paid[n] <= Decimal(invoices[n]["amount"]) for n in paid)
    assert any(p["invoice_number"] == "" for p in payments)  # allocated oldest first
    partial = [n for n in paid if paid[n] < Decimal(invoices[n]["amount"])]
    early = [
        p for p in payments
        if p["invoice_number"]
        and any_date(p["payment_date"]) < date.fromisoformat(invoices[p["invoice_number"]]["due_date"])
    ]
    assert partial and early
    assert len({(p["debtor_ref"], p["reference"]) for p in payments}) == len(payments)
    for name in ("debtors.csv", "invoices.csv", "events.csv"):
        assert not re.search(r"\d{2}/\d{2}/\d{4}", (EXAMPLES / name).read_text(encoding="utf-8"))


def test_events_show_a_resolved_dispute_a_kept_and_a_broken_promise_and_a_hold() -> None:
    events = rows("events.csv")
    payments = rows("payments.csv")
    invoices = rows("invoices.csv")
    assert {e["action"] for e in events} <= {"dispute", "resolve", "promise", "hold", "resume"}
    assert all(e["reason"] for e in events)
    disputes = {e["debtor_ref"]: e["event_date"] for e in events if e["action"] == "dispute"}
    resolved = [e for e in events if e["action"] == "resolve"]
    assert any(e["debtor_ref"] in disputes and e["event_date"] > disputes[e["debtor_ref"]] for e in resolved)
    assert any(e["action"] == "hold" for e in events)
    outcomes = []
    for promise in (e for e in events if e["action"] == "promise"):
        ref, since, until = promise["debtor_ref"], promise["event_date"], date.fromisoformat(promise["until"])
        owed = sum(Decimal(i["amount"]) for i in invoices if i["debtor_ref"] == ref and i["due_date"] <= since)
        paid_in_time = sum(
            any_amount(p["amount"]) for p in payments
            if p["debtor_ref"] == ref and any_date(p["payment_date"]) <= until
        )
        outcomes.append("kept" if owed and paid_in_time >= owed else "broken")
    assert sorted(outcomes) == ["broken", "kept"]


def test_creditor_has_a_valid_iban_and_siren() -> None:
    creditor = tomllib.loads((EXAMPLES / "creditor.toml").read_text(encoding="utf-8"))["creditor"]
    assert creditor["city"] == creditor["place"] == "Paris" and creditor["postal_code"].startswith("75")
    iban = creditor["iban"].replace(" ", "")
    assert re.fullmatch(r"FR\d{25}", iban)
    assert int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1
    assert siren_of(creditor["siren"]) == creditor["siren"]
    assert creditor["vat_number"] == f"FR{(12 + 3 * (int(creditor['siren']) % 97)) % 97:02d}{creditor['siren']}"
    assert re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", creditor["bic"])
    assert creditor["signatory"] and creditor["signatory_title"]


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(EXAMPLES / "generate.py"), str(tmp_path)], check=True)
    for name in HEADERS:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name
