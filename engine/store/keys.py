"""New rows' primary keys, given on SQLite before the insert, so many rows go in one executemany.

SQLAlchemy inserts many rows of one table in one statement only when it can match each returned key to
its row; SQLite cannot promise that order, so there the ORM sent one INSERT ... RETURNING per row (14,000
statements for a run of 2,000 letters), and so did a bulk insert that asked for its keys in order. Here
a table's new rows get ``max(id) + 1`` onwards, in the order they would have been inserted: the keys
SQLite itself would have given, since no table uses AUTOINCREMENT. PostgreSQL keeps its sequences (it
matches returned keys to rows by itself).

The database's write lock is taken first (a write that changes nothing), then ``max(id)`` read: no
other writer can insert between the read and the insert, and a transaction that read before another
writer committed fails at that write exactly as its first INSERT would have.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, event, false, func, insert, select
from sqlalchemy.orm import DeclarativeBase, InstanceState, Mapper, Session, sessionmaker


def number_new_rows(sessions: sessionmaker[Session]) -> None:
    """Give every flush of ``sessions`` (SQLite only) keys to its new rows before it inserts them."""
    event.listen(sessions, "before_flush", _number)


def insert_rows(session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (column → value) into ``model``'s table in one statement; their keys, in order."""
    mapper: Mapper[Any] = model.__mapper__
    (column,) = mapper.primary_key
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        return list(session.scalars(insert(model).returning(column, sort_by_parameter_order=True), rows))
    connection = session.connection()
    _take_write_lock(connection, mapper.local_table)
    first = _first_free_key(connection, column)
    keys = list(range(first, first + len(rows)))
    attribute = _attribute(mapper)
    session.execute(insert(model), [{**row, attribute: key} for row, key in zip(rows, keys, strict=True)])
    return keys


def _number(session: Session, _flush_context: Any, _instances: Any) -> None:
    pending: dict[Mapper[Any], list[InstanceState[Any]]] = {}
    given: dict[Mapper[Any], int] = {}
    for obj in session.new:
        state: InstanceState[Any] = obj._sa_instance_state
        mapper = state.mapper
        key = state.dict.get(_attribute(mapper))
        if key is None:
            pending.setdefault(mapper, []).append(state)
        else:  # a row whose key its caller chose: numbering goes on past it
            given[mapper] = max(given.get(mapper, 0), key)
    # A single row gains nothing: it keeps its one INSERT ... RETURNING.
    pending = {mapper: states for mapper, states in pending.items() if len(states) > 1}
    if not pending:
        return
    connection = session.connection()
    _take_write_lock(connection, next(iter(pending)).local_table)
    for mapper, states in pending.items():
        (column,) = mapper.primary_key
        first = _first_free_key(connection, column, floor=given.get(mapper, 0))
        attribute = _attribute(mapper)
        # insert_order is the order the flush inserts a table's rows in, so keys rise as they always did.
        for number, state in enumerate(sorted(states, key=lambda s: s.insert_order or 0), start=first):
            setattr(state.obj(), attribute, number)


def _take_write_lock(connection: Connection, table: Any) -> None:
    """SQLite's write lock for this transaction, before any ``max(id)`` is read: a write that changes nothing."""
    assert isinstance(table, Table)
    connection.execute(delete(table).where(false()))


def _first_free_key(connection: Connection, column: Any, *, floor: int = 0) -> int:
    """The key after the largest of ``column``'s table and ``floor`` (SQLite, under the write lock)."""
    return max(connection.scalar(select(func.max(column))) or 0, floor) + 1


def _attribute(mapper: Mapper[Any]) -> str:
    (column,) = mapper.primary_key
    return mapper.get_property_by_column(column).key
