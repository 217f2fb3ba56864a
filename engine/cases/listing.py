"""The case list of the web app: filters, a sort, and pages read by keyset, fast on a million cases.

Each page is one query that reads one range of one index — (closed, sort column, id), see
engine.store.models — starting after the last row of the previous page (``WHERE (column, id) >
(last column, last id)``), never ``OFFSET`` and never ``count(*)``: page 10,000 costs what page 1
costs. Filters: open or closed cases, a state, a debtor (its reference, or the beginning of its
name), a minimum balance, a minimum number of days overdue, and "needs me": the cases waiting for
an approval and those with an open task due, for whoever may take them (engine.web picks by role).

Filtering and sorting by amount read ``balance_seen``, the ledger's balance when the engine last
looked at the case (every run, every action); the rows printed carry the ledger's balance of
today, read for those rows only in the same query (``ledger.case_money_columns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true, tuple_
from sqlalchemy.orm import Session

from engine.cases.approvals import awaits_approval
from engine.core.money import FIRST_DAY, LAST_DAY
from engine.errors import RelanceError
from engine.store import ledger
from engine.store.models import MAX_ID, Case, Debtor, Task

PAGE_SIZE = 50
# sort key → the column after Case.id's tie-break; "id" alone is the order cases were opened in.
SORTS = {"id": Case.id, "balance": Case.balance_seen, "due": Case.due_date}
NEEDS = ("approval", "task")  # what a person can be needed for: approving a step, an open task due
# No case is overdue longer than relance's calendar is long (dates run from 2000 to 2100, engine.core.money).
MAX_DAYS_OVERDUE = (LAST_DAY - FIRST_DAY).days
LISTED = (Case.id, Case.ref, Case.workflow_name, Case.workflow_version, Case.state, Case.state_entered, Case.due_date, Case.balance_seen,
          Case.next_check_at, Case.closed)


class ListingError(RelanceError):
    """A filter or a page marker that does not read (a hand-edited URL); the message is the web app's, in French."""


@dataclass(frozen=True)
class CaseFilter:
    """What the list shows and in which order."""

    closed: bool = False
    state: str | None = None
    debtor: str | None = None
    min_balance: Decimal | None = None
    min_days_overdue: int | None = None
    sort: str = "id"
    descending: bool = False
    needs: tuple[str, ...] = ()  # only cases needing one of these (see NEEDS); empty: no such filter

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ListingError(f"tri inconnu {self.sort!r} : {', '.join(SORTS)}")
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ListingError(f"besoin inconnu {sorted(unknown)[0]!r} : {', '.join(NEEDS)}")
        if self.min_days_overdue is not None and not 0 <= self.min_days_overdue <= MAX_DAYS_OVERDUE:
            raise ListingError(f"un retard de {self.min_days_overdue} jours : de 0 à {MAX_DAYS_OVERDUE} jours "
                               f"(relance compte du {FIRST_DAY:%d/%m/%Y} au {LAST_DAY:%d/%m/%Y})")


@dataclass(frozen=True)
class CaseRow:
    """One line of the list; ``balance`` is the ledger's today."""

    id: int
    ref: str
    debtor_ref: str
    debtor_name: str
    workflow: str
    version: int  # the workflow version the case runs on: its state is named as that version names it
    state: str
    since: date
    due_date: date
    days_overdue: int
    balance: Decimal
    currency: str
    next_check: date | None
    closed: bool


@dataclass(frozen=True)
class CasePage:
    """A page of rows and the markers of the pages around it (None: there is none that way)."""

    rows: tuple[CaseRow, ...]
    next_after: str | None
    previous_before: str | None


def page_of_cases(session: Session, wanted: CaseFilter, as_of: date, *, after: str | None = None,
                  before: str | None = None, size: int = PAGE_SIZE) -> CasePage:
    """The page after the marker ``after`` (or before ``before``; the first page without either)."""
    column = SORTS[wanted.sort]
    # Columns, not ORM objects: a page is read, never changed, and building 50 entities costs more than the query.
    currency = Case.currency  # what ledger.case_money_columns sums in: the case's own
    principal, paid = ledger.case_money_columns(Case.id)
    query = (select(*LISTED, Debtor.ref.label("debtor_ref"), Debtor.name.label("debtor_name"),
                    currency.label("currency"), principal.label("principal"), paid.label("paid"))
             .join(Debtor, Debtor.id == Case.debtor_id).where(*_conditions(wanted, as_of)))
    backwards = before is not None
    marker = before if backwards else after
    if marker is not None:
        key, bound = _key(wanted.sort, column), _read_marker(wanted.sort, marker)
        # Forward in ascending order means greater keys; backwards or descending flips it, both flip back.
        query = query.where(key > bound if backwards == wanted.descending else key < bound)
    descending = wanted.descending != backwards
    order: list[Any] = [column.desc(), Case.id.desc()] if descending else [column.asc(), Case.id.asc()]
    found = list(session.execute(query.order_by(*order[:1] if wanted.sort == "id" else order).limit(size + 1)).all())
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
    rows = tuple(CaseRow(row.id, row.ref, row.debtor_ref, row.debtor_name, row.workflow_name,
                         row.workflow_version, row.state,
                         row.state_entered, row.due_date, max((as_of - row.due_date).days, 0),
                         ledger.money(row.principal) - ledger.money(row.paid),
                         row.currency or "EUR", row.next_check_at, row.closed) for row in found)
    if not rows:
        return CasePage(rows, None, None)
    first, last = _marker(wanted.sort, found[0]), _marker(wanted.sort, found[-1])
    has_next = more if not backwards else True
    has_previous = more if backwards else marker is not None
    return CasePage(rows, last if has_next else None, first if has_previous else None)


def _conditions(wanted: CaseFilter, as_of: date) -> list[ColumnElement[bool]]:
    # `= false`, not `IS false`: only the equality is an index condition on PostgreSQL.
    conditions: list[ColumnElement[bool]] = [Case.closed == (true() if wanted.closed else false())]
    if wanted.state:
        conditions.append(Case.state == wanted.state)
    if wanted.debtor:
        conditions.append(_debtor_matches(wanted.debtor.strip()))
    if wanted.min_balance is not None:
        conditions.append(Case.balance_seen >= wanted.min_balance)
    if wanted.min_days_overdue is not None:
        conditions.append(Case.due_date <= as_of - timedelta(days=wanted.min_days_overdue))
    if wanted.needs:
        # A closed case needs no one: its open tasks are moot, as the task queue and the approvals queue (which
        # list none of a closed case) say; « pour moi » with « dossiers clos » is an empty list, not those cases.
        conditions += [Case.closed == false(), or_(*(_needs(need, as_of) for need in wanted.needs))]
    return conditions


def _needs(need: str, as_of: date) -> ColumnElement[bool]:
    # Each reads a small partial or open-rows index (ix_cases_awaiting_approval, ix_task_open), not the cases.
    if need == "approval":
        return awaits_approval(as_of)  # what the approvals queue lists
    return (select(Task.id).where(Task.case_id == Case.id, Task.done_on.is_(None), Task.due_on <= as_of)
            .correlate(Case).exists())


def _debtor_matches(text: str) -> ColumnElement[bool]:
    """The debtor's reference, or a name beginning with ``text`` (as typed, Capitalised or in CAPITALS).

    Each prefix is a range on ix_debtor_name (``name >= 'Dup' AND name < 'Duq'``), which any collation's
    b-tree answers; the LIKE keeps it exact."""
    options: list[ColumnElement[bool]] = [Debtor.ref == text]
    for prefix in dict.fromkeys((text, text[:1].upper() + text[1:], text.upper())):
        if not prefix:
            continue
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        options.append(and_(Debtor.name >= prefix, Debtor.name < upper,
                            Debtor.name.like(escaped + "%", escape="\\")))
    return or_(*options)


def _key(sort: str, column: Any) -> Any:
    return Case.id if sort == "id" else tuple_(column, Case.id)


def _marker(sort: str, case: Any) -> str:
    """A page marker: the sort value and the id of a row, e.g. ``1200.00~4711`` (the id alone for "id")."""
    if sort == "id":
        return str(case.id)
    value = case.balance_seen if sort == "balance" else case.due_date.isoformat()
    return f"{value}~{case.id}"


def _read_marker(sort: str, marker: str) -> Any:
    try:
        if sort == "id":
            return _case_id(marker)
        value, _, ident = marker.rpartition("~")
        parsed: Any = Decimal(value) if sort == "balance" else date.fromisoformat(value)
        if isinstance(parsed, Decimal) and not parsed.is_finite():
            raise ValueError(value)
        return tuple_(parsed, _case_id(ident))
    except (ValueError, InvalidOperation):
        raise ListingError(f"{marker!r} : ce repère de page n'est pas un de cette liste "
                           "(revenez au début de la liste)") from None


def _case_id(text: str) -> int:
    """A case id of a marker: digits, and no larger than a database id can be (a 500 otherwise, not a page)."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:  # not "²", "-1" or " 7"
        raise ValueError(text)
    return int(text)


__all__ = ["MAX_DAYS_OVERDUE", "NEEDS", "PAGE_SIZE", "SORTS", "CaseFilter", "CasePage", "CaseRow", "ListingError",
           "page_of_cases"]
