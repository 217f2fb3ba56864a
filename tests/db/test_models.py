"""Model constraints and the append-only guard, on both backends."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from engine.store.database import connect, ensure_creditor
from engine.store.events import PaymentReceived, StateChange
from engine.store.models import Case, Debtor, Event
from engine.store.timeline import AppendOnlyError, append_event


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    yield store
    store.dispose()


def _case(session, creditor_id: int, debtor_id: int, ref: str = "C-1") -> Case:
    case = Case(ref=ref, creditor_id=creditor_id, debtor_id=debtor_id, workflow_name="w", workflow_version=1,
                state="due", state_entered=date(2025, 1, 1), due_date=date(2025, 1, 1), opened_on=date(2025, 1, 2),
                steps_taken=[], paid_seen=Decimal("0"))
    session.add(case)
    session.flush()
    return case


def test_debtor_ref_is_unique_per_creditor_only(store) -> None:
    with store.session() as s:
        a, b = ensure_creditor(s, "A"), ensure_creditor(s, "B")
        s.add_all([Debtor(creditor_id=a.id, ref="D1", kind="b2b", name="x"),
                   Debtor(creditor_id=b.id, ref="D1", kind="b2c", name="y")])
    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.add(Debtor(creditor_id=a.id, ref="D1", kind="b2b", name="z"))


def test_debtor_kind_is_checked_by_the_database(store) -> None:
    with pytest.raises(IntegrityError):
        with store.session() as s:
            creditor = ensure_creditor(s, "A")
            s.add(Debtor(creditor_id=creditor.id, ref="D1", kind="b2x", name="x"))


def test_events_cannot_be_updated_or_deleted_through_the_orm(store) -> None:
    with store.session() as s:
        creditor = ensure_creditor(s, "A")
        debtor = Debtor(creditor_id=creditor.id, ref="D1", kind="b2b", name="x")
        s.add(debtor)
        s.flush()
        case = _case(s, creditor.id, debtor.id)
        append_event(s, case, PaymentReceived(Decimal("1.50"), "called"), date(2025, 1, 3))
    with pytest.raises(AppendOnlyError):
        with store.session() as s:
            event = s.query(Event).one()
            event.payload = {"text": "never called"}
    with pytest.raises(AppendOnlyError):
        with store.session() as s:
            s.delete(s.query(Event).one())
    with pytest.raises(AppendOnlyError):
        with store.session() as s:
            s.execute(update(Event).values(kind="letter"))
    with pytest.raises(AppendOnlyError):
        with store.session() as s:
            s.execute(delete(Event))
    with store.session() as s:
        event = s.query(Event).one()
        assert event.payload == {"amount": "1.50", "reference": "called", "invoices": [], "unallocated": None,
                                 "currency": None}
        assert isinstance(event.recorded_at, datetime)


def test_a_second_event_with_the_same_step_key_is_refused(store) -> None:
    with store.session() as s:
        creditor = ensure_creditor(s, "A")
        debtor = Debtor(creditor_id=creditor.id, ref="D1", kind="b2b", name="x")
        s.add(debtor)
        s.flush()
        case_id = _case(s, creditor.id, debtor.id).id
        append_event(s, s.get(Case, case_id), StateChange("escalate", "due", "reminder1"), date(2025, 1, 3),
                     step_key="1:reminder1")
    with pytest.raises(IntegrityError):
        with store.session() as s:
            append_event(s, s.get(Case, case_id), StateChange("escalate", "due", "reminder1"), date(2025, 1, 3),
                     step_key="1:reminder1")
