"""The case list's keyset pages (engine.cases.listing) on SQLite and PostgreSQL: every case exactly once in
every sort and direction, forwards and backwards, and balance_seen following the ledger as cases move."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.app import App
from engine.cases import actions
from engine.cases.listing import CaseFilter, ListingError, page_of_cases
from engine.store.models import Case
from engine.workspace import init_workspace, load_workspace
from tests.support import write_portfolio

AS_OF = date(2025, 1, 20)


@pytest.fixture
def app(tmp_path: Path, database_url: str):
    root = tmp_path / "ws"
    init_workspace(root)
    app = App.open(load_workspace(root, database_url))
    app.import_files(write_portfolio(tmp_path / "csv", 23))
    app.run(AS_OF)
    yield app
    app.store.dispose()


def walk(app: App, wanted: CaseFilter, size: int) -> tuple[list[str], list[str]]:
    """Every page forwards, then every page backwards from the last: the refs in the order read."""
    forwards, pages, after = [], [], None
    with app.session() as session:
        while True:
            page = page_of_cases(session, wanted, AS_OF, after=after, size=size)
            pages.append(page)
            forwards += [row.ref for row in page.rows]
            if page.next_after is None:
                break
            after = page.next_after
        backwards, before = [], pages[-1].previous_before
        while before is not None:
            page = page_of_cases(session, wanted, AS_OF, before=before, size=size)
            backwards = [row.ref for row in page.rows] + backwards
            before = page.previous_before
    return forwards, backwards + [row.ref for row in pages[-1].rows]


@pytest.mark.parametrize("sort", ["id", "balance", "due"])
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_read_every_case_once_in_order_both_ways(app: App, sort: str, descending: bool) -> None:
    wanted = CaseFilter(sort=sort, descending=descending)
    forwards, backwards = walk(app, wanted, 5)
    assert len(forwards) == 23 and len(set(forwards)) == 23
    assert backwards == forwards
    with app.session() as session:
        rows = {ref: (balance, due, id_) for ref, balance, due, id_ in
                session.execute(select(Case.ref, Case.balance_seen, Case.due_date, Case.id))}
    key = {"id": lambda r: rows[r][2], "balance": lambda r: (rows[r][0], rows[r][2]),
           "due": lambda r: (rows[r][1], rows[r][2])}[sort]
    assert forwards == sorted(forwards, key=key, reverse=descending)


def test_balance_seen_follows_the_ledger_and_the_filters_read_it(app: App) -> None:
    with app.session() as session:
        ref, balance = session.execute(select(Case.ref, Case.balance_seen).order_by(Case.balance_seen.desc())
                                       .limit(1)).one()
    assert balance == Decimal("122.22")  # the largest, the 23rd invoice's: 100 + 22 euros, 22 cents
    actions.pay(app, ref, "22,23", AS_OF, by="test")
    with app.session() as session:
        assert session.scalar(select(Case.balance_seen).where(Case.ref == ref)) == Decimal("99.99")
        lowest = page_of_cases(session, CaseFilter(sort="balance"), AS_OF, size=3).rows[0]
        assert lowest.ref == ref and lowest.balance == Decimal("99.99")
        above = page_of_cases(session, CaseFilter(min_balance=Decimal("100.00")), AS_OF, size=50).rows
        assert len(above) == 22 and ref not in [r.ref for r in above]
    actions.pay(app, ref, "99,99", AS_OF, by="test")
    with app.session() as session:
        assert ref not in [r.ref for r in page_of_cases(session, CaseFilter(), AS_OF, size=50).rows]
        closed = page_of_cases(session, CaseFilter(closed=True), AS_OF, size=50).rows
        assert [r.ref for r in closed] == [ref] and closed[0].balance == Decimal("0.00")


def test_a_hand_made_marker_is_refused(app: App) -> None:
    with app.session() as session:
        for sort, marker in (("balance", "abc~1"), ("due", "2025-13-01~1"), ("id", "x"), ("balance", "NaN~1")):
            with pytest.raises(ListingError):
                page_of_cases(session, CaseFilter(sort=sort), AS_OF, after=marker)
