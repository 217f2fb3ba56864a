"""New rows' keys (engine.store.keys): one plain INSERT executemany a table a flush, nothing read back, on both
backends; on SQLite the keys SQLite would have given, under its write lock; on PostgreSQL the table's sequence's.
Keys reserved before their rows, one column of many rows set in one executemany, and a batch's new rows written by Core,
on both backends."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.store.database import Store, connect
from engine.store.keys import insert_new, insert_rows, reserve_keys, set_by_key
from engine.store.models import Case, Creditor, Debtor, Document, Event, Outbox, Task


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    yield from _store(sqlite_url)


@pytest.fixture
def any_store(database_url: str) -> Iterator[Store]:
    yield from _store(database_url)


def _store(url: str) -> Iterator[Store]:
    store = connect(url, upgrade=True)
    with store.session() as s:
        s.add(Creditor(ref="A", name="A", country="FR"))
    yield store
    store.dispose()


def _debtors(n: int, start: int = 0) -> list[Debtor]:
    return [Debtor(creditor_id=1, ref=f"D{i}", kind="b2b", name=f"D{i}", country="FR") for i in range(start, start + n)]


def _inserts(store: Store) -> Iterator[Counter[str]]:
    """Counts the INSERT statements sent while the generator is open, by table (plus " RETURNING" for those
    that read keys back), and the DELETE statements; UPDATEs once a row they were sent for (an executemany
    counts each of its rows: the server runs each as its own statement)."""
    counted: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, statement: str, parameters: object, _context: object,
              executemany: bool) -> None:
        times = len(parameters) if executemany and isinstance(parameters, (list, tuple)) else 1
        if statement.startswith("INSERT INTO "):
            counted[statement.split()[2] + (" RETURNING" if "RETURNING" in statement else "")] += 1
        elif statement.startswith("DELETE"):
            counted["DELETE"] += 1
        elif statement.startswith("UPDATE"):
            counted["UPDATE"] += times

    event.listen(store.bind, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(store.bind, "before_cursor_execute", count)


def test_a_flush_inserts_a_tables_new_rows_in_one_statement_with_rising_keys(any_store: Store) -> None:
    store = any_store
    counting = _inserts(store)
    counted = next(counting)
    with store.session() as s:
        debtors = _debtors(50)
        s.add_all([*debtors, *(Creditor(ref=f"C{i}", name=f"C{i}", country="FR") for i in range(3))])
    counting.close()
    keys = [d.id for d in debtors]
    if store.url.get_backend_name() == "sqlite":
        # Without the keys given first, SQLAlchemy sent one INSERT ... RETURNING per row on SQLite (53 here).
        # The write lock is taken once a flush (a DELETE that deletes nothing), whatever the number of tables.
        assert counted == Counter({"debtor": 1, "creditor": 1, "DELETE": 1})
        assert keys == list(range(1, 51))
    else:
        # Without them, one INSERT ... SELECT ... FROM (VALUES ...) ORDER BY ... RETURNING a table, its keys read
        # back; now plain rows, their keys from the sequence, rising in the order the rows were added.
        assert counted == Counter({"debtor": 1, "creditor": 1})
        assert keys == sorted(keys) and len(set(keys)) == 50
    with store.session() as s:
        assert s.scalars(select(Debtor.ref).order_by(Debtor.id)).all() == [f"D{i}" for i in range(50)]
        # The sequence gave them: the next row the database numbers itself comes after them.
        s.execute(text("INSERT INTO debtor (creditor_id, ref, kind, name, country, do_not_chase) "
                       "VALUES (1, 'own', 'b2b', 'own', 'FR', false)"))
        assert s.scalar(select(Debtor.id).where(Debtor.ref == "own")) == max(keys) + 1


def test_keys_follow_the_largest_in_the_table_and_those_a_caller_chose(store: Store) -> None:
    with store.session() as s:
        s.add_all(_debtors(3))
    with store.session() as s:
        s.execute(text("DELETE FROM debtor WHERE id = 2"))  # a hole below the largest key stays a hole
    with store.session() as s:
        chosen = Debtor(id=10, creditor_id=1, ref="X", kind="b2b", name="X", country="FR")
        later = _debtors(2, start=3)
        s.add_all([later[0], chosen, later[1]])
    assert [later[0].id, later[1].id] == [11, 12]
    with store.session() as s:
        assert s.scalars(select(Debtor.id).order_by(Debtor.id)).all() == [1, 3, 10, 11, 12]


def test_a_savepoint_rolled_back_gives_its_keys_again(store: Store) -> None:
    with store.session() as s:
        s.add_all(_debtors(2))
        s.flush()
        savepoint = s.begin_nested()
        s.add_all(_debtors(3, start=2))
        s.flush()
        savepoint.rollback()
        again = _debtors(2, start=5)
        s.add_all(again)
    assert [d.id for d in again] == [3, 4]


def test_a_flush_waits_for_another_writer_then_numbers_after_its_rows(store: Store, tmp_path: Path) -> None:
    """The write lock comes before the read of max(id): a writer that commits meanwhile is waited for, not
    given the same keys (and not turned into a stale-snapshot error)."""
    other = sqlite3.connect(str(tmp_path / "relance.sqlite"), isolation_level=None, timeout=10,
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO debtor (creditor_id, ref, kind, name, country, do_not_chase) "
                  "VALUES (1, 'other', 'b2b', 'other', 'FR', 0)")
    threading.Timer(0.5, other.execute, ("COMMIT",)).start()
    with store.session() as s:
        mine = _debtors(2)
        s.add_all(mine)
    other.close()
    assert [d.id for d in mine] == [2, 3]
    with store.session() as s:
        assert s.scalars(select(Debtor.ref).order_by(Debtor.id)).all() == ["other", "D0", "D1"]


def test_a_transaction_that_read_before_another_writer_committed_fails_as_before(store: Store,
                                                                                tmp_path: Path) -> None:
    other = sqlite3.connect(str(tmp_path / "relance.sqlite"), isolation_level=None, timeout=10)
    with pytest.raises(OperationalError):
        with store.session() as s:
            s.scalar(select(Creditor.id))  # this transaction's snapshot starts here
            other.execute("INSERT INTO debtor (creditor_id, ref, kind, name, country, do_not_chase) "
                          "VALUES (1, 'other', 'b2b', 'other', 'FR', 0)")
            s.add_all(_debtors(2))
    other.close()
    with store.session() as s:
        assert s.scalars(select(Debtor.ref)).all() == ["other"]


def test_insert_rows_gives_each_row_its_key_in_one_statement(any_store: Store) -> None:
    store = any_store
    with store.session() as s:
        s.add_all(_debtors(2, start=100))  # keys 1 and 2 taken
    counting = _inserts(store)
    counted = next(counting)
    with store.session() as s:
        rows = [{"creditor_id": 1, "ref": f"N{i}", "kind": "b2b", "name": f"N{i}", "country": "FR",
                 "do_not_chase": False} for i in range(30)]
        keys = insert_rows(s, Debtor, rows)
    counting.close()
    with store.session() as s:
        assert dict(s.execute(select(Debtor.id, Debtor.ref).where(Debtor.ref.like("N%"))).all()) == {
            key: f"N{i}" for i, key in enumerate(keys)}
    assert len(set(keys)) == 30 and min(keys) > 2 and keys == sorted(keys)
    if store.url.get_backend_name() == "sqlite":
        assert counted == Counter({"debtor": 1, "DELETE": 1}) and keys == list(range(3, 33))
    else:  # the keys from the sequence, the rows in one plain executemany: nothing read back
        assert counted == Counter({"debtor": 1})


def test_reserved_keys_are_kept_by_their_rows_and_never_given_again(any_store: Store) -> None:
    store = any_store
    with store.session() as s:
        s.add_all(_debtors(2, start=100))
    with store.session() as s:
        reserved = reserve_keys(s, Debtor, 3)
        # A flush before the reserved rows go in numbers its own rows past the reservation.
        early = _debtors(2, start=200)
        s.add_all(early)
        s.flush()
        rows = [{"id": key, "creditor_id": 1, "ref": f"R{key}", "kind": "b2b", "name": "R", "country": "FR",
                 "do_not_chase": False} for key in reserved]
        assert insert_rows(s, Debtor, rows) == reserved
    with store.session() as s:
        later = _debtors(1, start=300)[0]
        s.add(later)
    assert reserved == sorted(reserved) and len(set(reserved)) == 3 and min(reserved) > 2
    assert min(d.id for d in early) > max(reserved) and later.id > max(d.id for d in early)
    with store.session() as s:
        assert s.scalars(select(Debtor.ref).where(Debtor.id.in_(reserved)).order_by(Debtor.id)).all() == [
            f"R{key}" for key in reserved]


def test_insert_rows_writes_the_sessions_pending_rows_first(any_store: Store) -> None:
    """Rows the session holds but has not flushed are not numbered over (they would collide on SQLite)."""
    with any_store.session() as s:
        pending = _debtors(3, start=10)
        s.add_all(pending)
        keys = insert_rows(s, Debtor, [{"creditor_id": 1, "ref": f"N{i}", "kind": "b2b", "name": "N",
                                        "country": "FR", "do_not_chase": False} for i in range(3)])
    assert len({*keys, *(d.id for d in pending)}) == 6


def test_set_by_key_sets_each_rows_own_value_in_one_executemany(any_store: Store) -> None:
    store = any_store
    with store.session() as s:
        debtors = _debtors(700)
        s.add_all(debtors)
    names = {d.id: f"name {d.id * 7}" for d in debtors[50:]}
    sent: list[tuple[str, bool, int]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: object, _context: object,
               executemany: bool) -> None:
        if statement.startswith("UPDATE"):
            sent.append((statement, executemany, len(parameters) if isinstance(parameters, (list, tuple)) else 1))

    event.listen(store.bind, "before_cursor_execute", record)
    with store.session() as s:
        set_by_key(s, Debtor.name, names)
    event.remove(store.bind, "before_cursor_execute", record)
    # One statement, compiled once, its 650 rows' values in one executemany: the ORM built and sent one statement
    # a row, and one CASE statement a chunk of rows was built and compiled again for every chunk (3x the time).
    assert [(executemany, rows) for _statement, executemany, rows in sent] == [(True, 650)]
    assert sent[0][0].count("debtor.id") == 1
    with store.session() as s:
        stored = dict(s.execute(select(Debtor.id, Debtor.name)).all())
    assert stored == {d.id: names.get(d.id, d.name) for d in debtors}


def _case_row(s: Session) -> Case:
    s.add_all(_debtors(1))
    s.flush()
    case = Case(ref="C-1", creditor_id=1, debtor_id=1, workflow_name="w", workflow_version=1, state="due",
                state_entered=date(2025, 1, 1), due_date=date(2025, 1, 1), opened_on=date(2025, 1, 1))
    s.add(case)
    s.flush()
    return case


def _event(case: Case, seq: int, kind: str) -> Event:
    return Event(case_id=case.id, seq=seq, kind=kind, occurred_on=date(2025, 1, 20), recorded_at=datetime(2025, 1, 20),
                 payload={"n": seq, "amount": "1.50"}, step_key=f"{seq}:x", hash=f"{seq:064d}")


def test_insert_new_writes_a_batch_s_rows_by_core_one_statement_a_table_and_lets_them_go(any_store: Store) -> None:
    """A batch's events, documents, outbox rows and tasks: one plain INSERT a table, keys rising in the order
    the rows were added, a document's event written as its key, the columns left unset given their defaults,
    and the objects out of the session, so its flush does not write them again."""
    store = any_store
    with store.session() as s:
        case = _case_row(s)
        events = [_event(case, 1, "state_change"), _event(case, 2, "letter")]
        documents = [Document(case_id=case.id, step_key=f"{n}:x", event=events[n - 1], state="reminder1",
                              path=f"{n}.docx", sha256="0" * 64, created_at=datetime(2025, 1, 20)) for n in (1, 2)]
        outbox = Outbox(case_id=case.id, step_key="1:x", state="reminder1", occurred_on=date(2025, 1, 20),
                        message_id="<m@x>", subject="s", body_text="t", created_at=datetime(2025, 1, 20))
        task = Task(case_id=case.id, kind="call", step_key="1:x", created_on=date(2025, 1, 20), due_on=date(2025, 1, 20))
        s.add_all([*events, *documents, outbox, task, *_debtors(2, start=50)])  # debtors: the ORM's, as before
        counting = _inserts(store)
        counted = next(counting)
        assert insert_new(s, (Event, Document, Outbox, Task)) == 6
        assert set(s.new) == {d for d in s.new if isinstance(d, Debtor)} and len(s.new) == 2
        s.flush()
        counting.close()
    assert {table: n for table, n in counted.items() if table != "DELETE"} == {
        "event": 1, "document": 1, "outbox": 1, "task": 1, "debtor": 1}
    assert events[0].id < events[1].id and documents[0].id < documents[1].id
    with store.session() as s:
        assert s.execute(select(Document.id, Document.event_id).order_by(Document.id)).all() == [
            (documents[0].id, events[0].id), (documents[1].id, events[1].id)]
        assert s.scalars(select(Event.payload).order_by(Event.id)).all() == [{"n": 1, "amount": "1.50"},
                                                                             {"n": 2, "amount": "1.50"}]
        stored = s.scalars(select(Outbox)).one()
        assert (stored.id, stored.attach, stored.status, stored.attempts) == (outbox.id, [], "pending", 0)
        assert s.scalar(select(func.count()).select_from(Task)) == 1
        assert s.scalar(select(func.count()).select_from(Debtor)) == 3


def test_insert_new_leaves_to_the_orm_a_row_pointing_at_a_new_row_it_does_not_write(any_store: Store) -> None:
    with any_store.session() as s:
        case = _case_row(s)
        s.add(Document(case_id=case.id, step_key="1:x", event=_event(case, 1, "letter"), state="r", path="1.docx",
                       sha256="0" * 64, created_at=datetime(2025, 1, 20)))
        with pytest.raises(ValueError, match="Document.event points at a row without a key yet"):
            insert_new(s, (Document,))
        s.rollback()
    with any_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_insert_new_with_ready_writes_those_rows_and_leaves_the_others_for_a_later_call(any_store: Store) -> None:
    """A run with renderer processes writes the rows of the cases whose letters are back, in several calls:
    a row not ready stays in the session, and a later call gives it the next key and points at rows written
    by an earlier call."""
    with any_store.session() as s:
        case = _case_row(s)
        first, second = _event(case, 1, "letter"), _event(case, 2, "letter")
        documents = [Document(case_id=case.id, step_key=f"{n}:x", event=event, state="reminder1", path=f"{n}.docx",
                              sha256="0" * 64, created_at=datetime(2025, 1, 20)) for n, event in ((1, first), (2, second))]
        s.add_all([first, second, *documents])
        assert insert_new(s, (Event, Document), ready=lambda row: row in (first, documents[0])) == 2
        assert set(s.new) == {second, documents[1]}
        assert insert_new(s, (Event, Document)) == 2
        assert not s.new
    assert first.id < second.id and documents[0].id < documents[1].id
    with any_store.session() as s:
        assert s.execute(select(Document.path, Document.event_id).order_by(Document.id)).all() == [
            ("1.docx", first.id), ("2.docx", second.id)]
