"""Prescription dates, the court chosen from the debtor, and the escalator's refusal to put a time-barred
claim on notice or before a court; delays counted from the formal notice's receipt."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from engine.core.case import CaseState
from engine.core.guards import case_facts
from engine.core.jurisdiction import court_for, legal_form
from engine.core.machine import EscalationError, Escalator
from engine.core.prescription import add_years, prescription
from engine.core.workflow import WorkflowError, load_workflow
from tests.support import SHIPPED_WORKFLOWS


def test_five_years_between_businesses_two_against_a_consumer() -> None:
    b2b = prescription("b2b", date(2021, 3, 1))
    assert (b2b.on, b2b.years, b2b.acknowledged) == (date(2026, 3, 1), 5, False) and "L110-4" in b2b.article
    assert not b2b.barred(date(2026, 3, 1)) and b2b.barred(date(2026, 3, 2))  # claimable on the last day
    assert b2b.days_left(date(2026, 1, 5)) == 55
    b2c = prescription("b2c", date(2023, 2, 1))
    assert b2c.on == date(2025, 2, 1) and "L218-2" in b2c.article and b2c.barred(date(2026, 1, 5))


def test_a_payment_restarts_the_period_a_payment_before_the_due_date_does_not() -> None:
    rule = prescription("b2c", date(2023, 2, 1), [date(2023, 1, 15), date(2024, 6, 10), date(2023, 9, 1)])
    assert (rule.start, rule.acknowledged, rule.on) == (date(2024, 6, 10), True, date(2026, 6, 10))
    assert prescription("b2c", date(2023, 2, 1), [date(2023, 1, 15)]).on == date(2025, 2, 1)


def test_29_february_plus_years_is_28_february() -> None:
    assert add_years(date(2024, 2, 29), 5) == date(2029, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    with pytest.raises(ValueError, match="b2b, b2c"):
        prescription("pro", date(2024, 1, 1))


@pytest.mark.parametrize(("kind", "merchant", "name", "court"), [
    ("b2c", None, "Paul Durand", "tribunal judiciaire"),
    ("b2b", True, "Cabinet Leroy SELARL", "tribunal de commerce"),  # the debtor file says so
    ("b2b", False, "Dupont SARL", "tribunal judiciaire"),
    ("b2b", None, "Dupont & Fils SARL", "tribunal de commerce"),  # commercial by its form (L210-1)
    ("b2b", None, "Boulangerie S.A.S.", "tribunal de commerce"),
    ("b2b", None, "Cabinet Leroy SELARL", "tribunal judiciaire"),
    ("b2b", None, "SCI des Lilas", "tribunal judiciaire"),
    ("b2b", None, "Association sa maison", "tribunal judiciaire"),  # "sa" is a word, not the form SA
])
def test_the_court_follows_the_debtor(kind: str, merchant: bool | None, name: str, court: str) -> None:
    chosen = court_for(kind, merchant, name)
    assert chosen is not None and chosen.name == court and chosen.reason


@pytest.mark.parametrize(("country", "named"), [
    ("FR", True), ("fr", True), (None, True), ("", True),  # no country recorded: the debtors file reads France
    ("GB", False), ("BE", False), ("RE", False),  # abroad, or overseas where the commercial court is a mixed one
])
def test_a_french_court_only_for_a_debtor_in_france(country: str | None, named: bool) -> None:
    """Abroad, the competent court turns on facts the debtor file does not hold: none is named."""
    for kind, merchant, name in (("b2b", True, "Acme Ltd"), ("b2b", None, "Dupont SARL"), ("b2c", None, "Jane Doe")):
        chosen = court_for(kind, merchant, name, country)
        assert (chosen is not None) is named, (kind, name, country)


@pytest.mark.parametrize(("postal_code", "named"), [
    ("75011", True), ("13001", True), ("20000", True), (None, True),  # Corsica is metropolitan
    ("97400", False), ("97110", False), ("97600", False), ("98800", False),  # La Réunion, Guadeloupe, Mayotte, Nouméa
])
def test_no_metropolitan_court_for_an_overseas_address_recorded_as_france(postal_code: str | None,
                                                                          named: bool) -> None:
    chosen = court_for("b2b", None, "Dupont SARL", "FR", postal_code)
    assert (chosen is not None) is named, postal_code


def test_legal_form_reads_the_name() -> None:
    assert (legal_form("Transports Marchand SAS"), legal_form("EURL Émile"), legal_form("Martin")) == (
        "SAS", "EURL", None)


@pytest.fixture(scope="module")
def b2b() -> Escalator:
    return Escalator(load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"))


def in_reminder3(**changes: object) -> CaseState:
    base = CaseState(state="reminder3", state_entered=date(2026, 3, 1), due_date=date(2026, 1, 1),
                     principal=Decimal("1000"), steps_taken=["reminder1", "reminder2", "reminder3"])
    return replace(base, **changes)  # type: ignore[arg-type]


def test_only_time_barred_invoices_left_no_formal_notice(b2b: Escalator) -> None:
    barred = in_reminder3(barred=Decimal("1000"))
    # Approved (the French policy asks for it, issue 11), yet never a notice on time-barred invoices alone.
    assert b2b.advance(barred, date(2026, 4, 1), approved="formal_notice") == []
    mixed = in_reminder3(barred=Decimal("400"))
    [step] = b2b.advance(mixed, date(2026, 4, 1), approved="formal_notice")
    assert step.dest == "formal_notice"
    assert step.facts["rule"] == {"since": "state_entered", "after": "10 days", "when": "balance > 0"}


def test_no_jump_puts_time_barred_invoices_alone_on_notice_or_in_court(b2b: Escalator) -> None:
    """A jump by hand (approved or not) into the formal notice or the hand-off, while only time-barred invoices
    are owed, is refused with the reason: it wrote a « mise en demeure » of 0,00 € listing no invoice."""
    for dest in ("formal_notice", "litigation"):
        barred = in_reminder3(barred=Decimal("1000"))
        with pytest.raises(EscalationError, match="time-barred"):
            b2b.jump(barred, dest, date(2026, 4, 1), "décision du directeur", approved=True)
        with pytest.raises(EscalationError, match="time-barred"):
            b2b.jump(barred, dest, date(2026, 4, 1), "décision du directeur")
        assert (barred.state, barred.awaiting_approval, barred.steps_taken) == (
            "reminder3", None, ["reminder1", "reminder2", "reminder3"])
    mixed = in_reminder3(barred=Decimal("400"))
    [step] = b2b.jump(mixed, "formal_notice", date(2026, 4, 1), "décision du directeur", approved=True)
    assert step.dest == "formal_notice"
    # Nothing owed at all (an invoice paid late still owes its penalties): the rule is about time-barred debt only.
    settled = in_reminder3(paid=Decimal("1000"))
    [step] = b2b.jump(settled, "formal_notice", date(2026, 4, 1), "pénalités", approved=True)
    assert step.dest == "formal_notice"
    # Anywhere else, a jump goes as before.
    [step] = b2b.jump(in_reminder3(barred=Decimal("1000")), "written_off", date(2026, 4, 1), "prescrite")
    assert step.dest == "written_off"


@pytest.mark.parametrize("workflow", ["fr-b2b.yaml", "fr-b2c.yaml"])
def test_a_threshold_in_euros_writes_off_euro_cases_only(workflow: str) -> None:
    """200 EUR under notice is written off; 200 USD or 20,000 JPY is not worth judging by a euro figure:
    it goes to the hand-off, for legal to approve, and only a case with nothing noticed is written off."""
    escalator = Escalator(load_workflow(SHIPPED_WORKFLOWS / workflow))

    def noticed(currency: str, amount: str, barred: str = "0") -> CaseState:
        return CaseState(state="formal_notice", state_entered=date(2026, 3, 1), due_date=date(2026, 1, 1),
                         principal=Decimal(amount), noticed=Decimal(amount) - Decimal(barred),
                         barred=Decimal(barred), steps_taken=["formal_notice"], currency=currency)

    later = date(2026, 6, 1)
    assert [s.dest for s in escalator.advance(noticed("EUR", "200"), later)] == ["written_off"]
    for currency, amount in (("USD", "200"), ("JPY", "20000")):
        foreign = noticed(currency, amount)
        assert escalator.advance(foreign, later) == []  # waits for legal's approval of the hand-off
        assert foreign.awaiting_approval == "litigation"
        barred = noticed(currency, amount, barred=amount)
        assert [s.dest for s in escalator.advance(barred, later)] == ["written_off"]


def test_litigation_needs_noticed_balance_and_counts_from_the_receipt(b2b: Escalator) -> None:
    noticed = CaseState(state="formal_notice", state_entered=date(2026, 3, 1), due_date=date(2026, 1, 1),
                        principal=Decimal("1000"), noticed=Decimal("1000"), steps_taken=["formal_notice"])
    assert b2b.next_check(noticed) == date(2026, 3, 16)  # no receipt recorded: from the letter's date
    received = replace(noticed, notice_received=date(2026, 3, 6))
    assert b2b.next_check(received) == date(2026, 3, 21)
    assert b2b.advance(received, date(2026, 3, 20), approved="litigation") == []
    [step] = b2b.advance(received, date(2026, 3, 21), approved="litigation")
    assert step.dest == "litigation" and step.facts["noticed_balance"] == Decimal("1000")
    # An invoice no notice covered does not count towards going to court.
    unnoticed = replace(noticed, noticed=Decimal("0"), notice_received=None)
    [step] = b2b.advance(unnoticed, date(2026, 3, 16))
    assert step.dest == "written_off"


def test_a_delay_since_the_receipt_says_when_it_counted_from_a_later_return_to_the_step() -> None:
    """The notice was received on 6 March; a dispute then paused the case, which came back to the formal notice on
    1 April. The 15 days count from that return (16 April), so the timeline must not say they ran « depuis la
    réception de la mise en demeure », which would have been 21 March."""
    from engine.store.reasons import step_reason

    b2b = Escalator(load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"))
    noticed = CaseState(state="formal_notice", state_entered=date(2026, 3, 1), due_date=date(2026, 1, 1),
                        principal=Decimal("1000"), noticed=Decimal("1000"), steps_taken=["formal_notice"],
                        notice_received=date(2026, 3, 6))
    back = replace(noticed, state_entered=date(2026, 4, 1), steps_taken=["formal_notice"])
    assert b2b.next_check(back) == date(2026, 4, 16)
    [step] = b2b.advance(back, date(2026, 4, 16), approved="litigation")
    reason = step_reason(step.trigger, step.facts)
    assert reason.startswith("délai de 15 jours depuis le retour à l'étape, après la réception de la mise en demeure, "
                             "écoulé le 16/04/2026")
    # Counted from the receipt itself, it says so.
    [step] = b2b.advance(noticed, date(2026, 3, 21), approved="litigation")
    assert step_reason(step.trigger, step.facts).startswith(
        "délai de 15 jours depuis la réception de la mise en demeure écoulé le 21/03/2026")


def test_guard_facts_for_notice_and_prescription() -> None:
    case = CaseState(state="due", state_entered=date(2026, 1, 1), due_date=date(2026, 1, 1),
                     principal=Decimal("500"), noticed=Decimal("200"), prescription_on=date(2026, 3, 1))
    facts = case_facts(case, date(2026, 1, 5), frozenset({"noticed_balance", "days_to_prescription"}))
    assert facts == {"noticed_balance": Decimal("200"), "days_to_prescription": 55}
    assert case_facts(replace(case, prescription_on=None), date(2026, 1, 5),
                      frozenset({"days_to_prescription"})) == {"days_to_prescription": None}


def test_since_notice_received_is_validated_like_any_start() -> None:
    path = SHIPPED_WORKFLOWS / "fr-b2c.yaml"
    text = path.read_text(encoding="utf-8")
    assert "since: notice_received" in text and load_workflow(path, source=text)
    with pytest.raises(WorkflowError, match=r"fr-b2c.yaml:\d+: transitions\[4\]\.since: .*notice_received"):
        load_workflow(path, source=text.replace("since: notice_received", "since: receipt", 1))
