"""The use cases a person runs on a case (engine.cases.actions), on an App over a real workspace, both backends.

The workspace is `relance init`'s, so letters are rendered from the shipped French pack. D1 owes F1
1 000.00 EUR due 1 April 2026 and D3 owes F3 250.00 GBP due the same day; the run of 10 April opens
their cases and sends reminder1 (fr-b2b: five days after the due date).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.app import App
from engine.cases import actions
from engine.cases.lookup import find_case, list_cases, show_case
from engine.core.money import MoneyError
from engine.errors import CaseError, RelanceError
from engine.store.models import Event, Payment
from engine.workspace import init_workspace, load_workspace
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

DEBTORS = DEBTORS_HEADER + "D1;b2b;Dupont & Fils;;1 rue A;;75001;Paris;FR;;\nD3;b2b;Smith Ltd;;3 Baker St;;75003;Paris;FR;;\n"
INVOICES = INVOICES_HEADER + "F1;D1;2026-03-01;2026-04-01;1000.00;EUR\nF3;D3;2026-03-01;2026-04-01;250.00;GBP\n"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> App:
    root = tmp_path / "ws"
    init_workspace(root)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    app = App(load_workspace(root, database_url))
    app.store.upgrade()
    app.import_files([tmp_path / "debtors.csv", tmp_path / "invoices.csv"])
    app.run(date(2026, 4, 10))
    yield app
    app.store.dispose()


def kinds_and_actors(app: App, ref: str, since_seq: int = 0) -> list[tuple[str, str | None]]:
    with app.session() as s:
        case = find_case(s, ref)
        return [tuple(row) for row in s.execute(  # type: ignore[misc]
            select(Event.kind, Event.actor).where(Event.case_id == case.id, Event.seq > since_seq).order_by(Event.seq))]


def event_count(app: App, ref: str) -> int:
    with app.session() as s:
        return find_case(s, ref).event_count


def test_pay_reads_text_in_the_cases_currency_and_a_full_payment_closes_the_case(app: App) -> None:
    before = event_count(app, "ALD-F1")
    part = actions.pay(app, "ALD-F1", "400,50 €", date(2026, 4, 12), by="alice", reference="VIR-1")
    assert (part.amount, part.currency, part.state, part.steps, part.by) == (
        Decimal("400.50"), "EUR", "reminder1", (), "alice")
    rest = actions.pay(app, "F1", "599.50", date(2026, 4, 13), by="bob")  # found by its invoice number
    assert (rest.case_ref, rest.state) == ("ALD-F1", "paid")
    assert [(step.trigger, step.dest) for step in rest.steps] == [("payment", "paid")]
    assert kinds_and_actors(app, "ALD-F1", before) == [("payment", "alice"), ("payment", "bob"), ("state_change", "bob")]
    with app.session() as s:
        details = show_case(s, "ALD-F1")
        assert (details.closed, details.paid, details.balance) == (True, Decimal("1000.00"), Decimal("0.00"))


def test_pay_refuses_another_currency_and_reads_the_cases_own(app: App) -> None:
    with pytest.raises(MoneyError, match="in EUR, expected GBP"):
        actions.pay(app, "ALD-F3", "25 €", date(2026, 4, 12), by="alice")
    with pytest.raises(MoneyError, match="in GBP, expected EUR"):
        actions.pay(app, "ALD-F1", "£25", date(2026, 4, 12), by="alice")
    paid = actions.pay(app, "ALD-F3", "£25.00", date(2026, 4, 12), by="alice")
    assert (paid.amount, paid.currency) == (Decimal("25.00"), "GBP")


def test_each_manual_action_lands_in_the_timeline_with_who_did_it(app: App) -> None:
    before = event_count(app, "ALD-F1")
    ref, day = "ALD-F1", date(2026, 4, 12)
    outcomes = [
        actions.dispute(app, ref, day, by="alice", reason="goods damaged"),
        actions.resolve(app, ref, day, by="bob", reason="replaced"),
        actions.promise(app, ref, day, by="carol", until=date(2026, 4, 30)),
        actions.hold(app, ref, day, by="dan", reason="director away"),
        actions.resume(app, ref, day, by="dan"),
        actions.jump(app, ref, "reminder2", day, by="erin", reason="known bad payer"),  # no approval needed
        actions.note(app, ref, day, by="fay", reason="called, no answer"),
    ]
    assert [(o.action, o.by, o.state) for o in outcomes] == [
        ("dispute", "alice", "disputed"), ("resolve", "bob", "reminder1"), ("promise", "carol", "promised"),
        ("hold", "dan", "promised"), ("resume", "dan", "promised"),  # the promise still holds it
        ("jump", "erin", "reminder2"), ("note", "fay", "reminder2")]
    assert kinds_and_actors(app, ref, before) == [
        ("dispute", "alice"), ("state_change", "alice"), ("resolve", "bob"), ("state_change", "bob"),
        ("promise", "carol"), ("state_change", "carol"), ("hold", "dan"), ("resume", "dan"),
        ("jump", "erin"), ("state_change", "erin"), ("letter", "erin"), ("note", "fay")]
    with app.session() as s:
        case = find_case(s, ref)
        assert (case.on_hold, case.disputed, case.promise_until) == (False, False, date(2026, 4, 30))
    # The jump wrote the second reminder into the workspace's output folder.
    assert [p.name for p in sorted((app.workspace.output_dir / "D1" / "ALD-F1").glob("*.docx"))] == [
        "01-reminder1.docx", "05-reminder2.docx"]


def test_an_unknown_case_is_a_case_error_for_every_action(app: App) -> None:
    day = date(2026, 4, 12)
    calls = {
        "pay": lambda ref: actions.pay(app, ref, "10", day, by="alice"),
        "dispute": lambda ref: actions.dispute(app, ref, day, by="alice", reason="x"),
        "resolve": lambda ref: actions.resolve(app, ref, day, by="alice", reason="x"),
        "promise": lambda ref: actions.promise(app, ref, day, by="alice", until=date(2026, 5, 1)),
        "hold": lambda ref: actions.hold(app, ref, day, by="alice", reason="x"),
        "resume": lambda ref: actions.resume(app, ref, day, by="alice"),
        "jump": lambda ref: actions.jump(app, ref, "formal_notice", day, by="alice", reason="x"),
        "note": lambda ref: actions.note(app, ref, day, by="alice", reason="x"),
    }
    assert set(actions.ACTIONS) | {"pay"} == set(calls)  # every use case is tried
    for name, call in calls.items():
        with pytest.raises(CaseError, match="no case 'NOPE'"):
            call("NOPE")


def test_a_refused_action_is_a_user_error_and_records_nothing(app: App) -> None:
    before = event_count(app, "ALD-F1")
    for amount in ("0", "-5,00", "0,00 €", Decimal("-1")):
        with pytest.raises(CaseError, match="positive"):
            actions.pay(app, "ALD-F1", amount, date(2026, 4, 12), by="alice")
    with pytest.raises(RelanceError, match="no open dispute"):
        actions.resolve(app, "ALD-F1", date(2026, 4, 12), by="alice", reason="x")
    with pytest.raises(RelanceError, match="did you mean 'formal_notice'"):
        actions.jump(app, "ALD-F1", "formal_notise", date(2026, 4, 12), by="alice", reason="x")
    assert event_count(app, "ALD-F1") == before
    with app.session() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0


@pytest.mark.parametrize("action", ["dispute", "hold", "jump", "note"])
@pytest.mark.parametrize("reason", ["", "   ", "\t\n", None])
def test_an_action_that_says_why_refuses_an_empty_reason_and_records_nothing(app: App, action: str,
                                                                               reason: str | None) -> None:
    """`relance case dispute CASE --reason "   "` (or a jump, a hold, a note) was recorded with no why: the
    timeline read « contestation — » — only the web form asked for a motive."""
    before = event_count(app, "ALD-F1")
    options = {"dest": "formal_notice"} if action == "jump" else {}
    with pytest.raises(CaseError, match="a reason is required") as caught:
        actions.ACTIONS[action](app, "ALD-F1", on=date(2026, 4, 12), by="alice", reason=reason, **options)
    assert caught.value.french == "un motif est nécessaire"
    assert event_count(app, "ALD-F1") == before


def test_a_reason_is_kept_trimmed_and_bounded(app: App) -> None:
    actions.note(app, "ALD-F1", date(2026, 4, 12), by="alice", reason="  called, no answer  ")
    with app.session() as s:
        case = find_case(s, "ALD-F1")
        payload = s.scalars(select(Event.payload).where(Event.case_id == case.id, Event.kind == "note")).one()
        assert payload["reason"] == "called, no answer"
    with pytest.raises(CaseError, match="2,000 at most"):
        actions.note(app, "ALD-F1", date(2026, 4, 12), by="alice", reason="x" * 2001)


def test_a_case_jumped_out_of_a_final_state_is_open_again(app: App) -> None:
    actions.pay(app, "ALD-F1", "1000", date(2026, 4, 12), by="alice")
    back = actions.jump(app, "ALD-F1", "reminder1", date(2026, 4, 13), by="bob", reason="cheque bounced")
    assert back.state == "reminder1"
    with app.session() as s:
        assert (find_case(s, "ALD-F1").closed, [c.ref for c in list_cases(s)]) == (False, ["ALD-F1", "ALD-F3"])


def test_a_payment_above_what_the_case_owed_says_where_the_excess_went(tmp_path: Path, database_url: str) -> None:
    """The excess of a payment is the debtor's credit: the debtor's other open invoices take their share, the
    rest waits for the next ones; the outcome (and so the command line and the web app) says both."""
    root = tmp_path / "ws"
    init_workspace(root)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    # F2 is not due yet: no case, but open, and the credit pays it.
    (tmp_path / "invoices.csv").write_text(INVOICES + "F2;D1;2026-04-05;2026-05-05;150.00;EUR\n", encoding="utf-8")
    app = App(load_workspace(root, database_url))
    try:
        app.store.upgrade()
        app.import_files([tmp_path / "debtors.csv", tmp_path / "invoices.csv"])
        app.run(date(2026, 4, 10))
        exact = actions.pay(app, "ALD-F1", "400", date(2026, 4, 11), by="alice")
        assert (exact.beyond, exact.credit_left, exact.applied_elsewhere) == (0, 0, 0)
        over = actions.pay(app, "ALD-F1", "800", date(2026, 4, 12), by="alice")
        assert over.state == "paid"
        assert (over.beyond, over.applied_elsewhere, over.credit_left) == (Decimal("200.00"), Decimal("150.00"),
                                                                           Decimal("50.00"))
        assert exact.excess() is None
        assert over.excess().replace("\u00a0", " ") == (
            "200,00 € more than the case owed: 150,00 € applied to the debtor's other open invoices and 50,00 € "
            "kept as the debtor's credit for the next invoices")
        assert over.excess(french=True).replace("\u00a0", " ") == (
            "200,00 € au-delà du dû du dossier : 150,00 € imputés sur les autres factures ouvertes du débiteur et "
            "50,00 € gardés en crédit du débiteur pour ses prochaines factures")
        with app.session() as s:
            assert show_case(s, "ALD-F1").debtor_credit == Decimal("50.00")
    finally:
        app.store.dispose()


def test_the_excess_of_a_payment_entered_by_hand_is_recorded_as_that_persons(tmp_path: Path,
                                                                              database_url: str) -> None:
    """One case per invoice: alice's payment on F1 pays F2's case too. That case's timeline must name alice,
    not the ledger's allocation of money nobody named."""
    root = tmp_path / "ws"
    init_workspace(root)
    policy = root / "workflows" / "fr-b2b.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("grouping: debtor", "grouping: invoice"),
                      encoding="utf-8")
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES + "F2;D1;2026-03-05;2026-04-05;150.00;EUR\n", encoding="utf-8")
    app = App(load_workspace(root, database_url))
    try:
        app.store.upgrade()
        app.import_files([tmp_path / "debtors.csv", tmp_path / "invoices.csv"])
        app.run(date(2026, 4, 10))
        before = event_count(app, "ALD-F2")
        actions.pay(app, "ALD-F1", "1150", date(2026, 4, 12), by="alice")
        assert kinds_and_actors(app, "ALD-F2", before) == [("payment", "alice")]
    finally:
        app.store.dispose()


def test_nothing_done_by_hand_may_be_dated_before_the_step_it_follows(app: App) -> None:
    """reminder1 went out on 10 April: a dispute, a hold or a jump dated 5 April would sit before it in the
    timeline, and a letter dated that day would recall the reminder of the 10th. A note may tell of the past,
    and a payment keeps its bank date."""
    before = event_count(app, "ALD-F1")
    for attempt in (lambda on: actions.dispute(app, "ALD-F1", on, by="alice", reason="conteste"),
                    lambda on: actions.hold(app, "ALD-F1", on, by="alice", reason="litige"),
                    lambda on: actions.promise(app, "ALD-F1", on, by="alice", until=date(2026, 4, 30)),
                    lambda on: actions.jump(app, "ALD-F1", "formal_notice", on, by="alice", reason="urgent")):
        with pytest.raises(RelanceError, match=r"dated 05/04/2026: the case entered 'reminder1' on 10/04/2026"):
            attempt(date(2026, 4, 5))
    assert event_count(app, "ALD-F1") == before
    actions.note(app, "ALD-F1", date(2026, 4, 5), by="alice", reason="appel du 5 avril")
    paid = actions.pay(app, "ALD-F1", "100", date(2026, 4, 6), by="alice")
    assert paid.amount == Decimal("100.00")
    assert kinds_and_actors(app, "ALD-F1", before) == [("note", "alice"), ("payment", "alice")]
    on_the_day = actions.dispute(app, "ALD-F1", date(2026, 4, 10), by="alice", reason="conteste")
    assert on_the_day.state != "reminder1"
