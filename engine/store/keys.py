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

On both backends: ``reserve_keys`` gives keys before their rows exist (a new case's first events are
hashed with its id), and ``set_by_key`` sets one column of many rows in one UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, case, delete, event, false, func, insert, select, update
from sqlalchemy.orm import DeclarativeBase, InstanceState, InstrumentedAttribute, Mapper, Session, sessionmaker


def number_new_rows(sessions: sessionmaker[Session]) -> None:
    """Give every flush of ``sessions`` (SQLite only) keys to its new rows before it inserts them."""
    event.listen(sessions, "before_flush", _number)


def reserve_keys(session: Session, model: type[DeclarativeBase], count: int) -> list[int]:
    """``count`` keys for new rows of ``model``, in ascending order, before the rows exist: for rows whose
    other columns need their own key (a case's first events are hashed with the case's id). Insert the
    rows with them in the same transaction (``insert_rows``)."""
    mapper: Mapper[Any] = model.__mapper__
    (column,) = mapper.primary_key
    if count <= 0:
        return []
    session.flush()  # the session's own new rows first: they would otherwise be numbered over these
    connection = session.connection()
    if session.get_bind().dialect.name != "sqlite":
        table = mapper.local_table
        assert isinstance(table, Table)
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        return sorted(connection.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count))))
    _take_write_lock(connection, mapper.local_table)
    first = _first_free_key(connection, column, floor=session.info.get(_RESERVED, {}).get(mapper, 0))
    keys = list(range(first, first + count))
    # A flush before these rows are inserted numbers its own new rows after them, not over them.
    session.info.setdefault(_RESERVED, {})[mapper] = keys[-1]
    return keys


def insert_rows(session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (column → value) into ``model``'s table in one statement; their keys, in order.
    Rows that carry their key (``reserve_keys``) keep it; the others get new ones."""
    mapper: Mapper[Any] = model.__mapper__
    (column,) = mapper.primary_key
    if not rows:
        return []
    session.flush()  # the session's own new rows first: they would otherwise be numbered over these
    attribute = _attribute(mapper)
    if session.get_bind().dialect.name != "sqlite":
        return list(session.scalars(insert(model).returning(column, sort_by_parameter_order=True), rows))
    if all(row.get(attribute) is not None for row in rows):
        session.execute(insert(model), rows)
        return [row[attribute] for row in rows]
    connection = session.connection()
    _take_write_lock(connection, mapper.local_table)
    first = _first_free_key(connection, column, floor=session.info.get(_RESERVED, {}).get(mapper, 0))
    keys = iter(range(first, first + len(rows)))
    numbered = [row if row.get(attribute) is not None else {**row, attribute: next(keys)} for row in rows]
    session.execute(insert(model), numbered)
    return [row[attribute] for row in numbered]


def set_by_key(session: Session, attribute: InstrumentedAttribute[Any], values: Mapping[int, Any]) -> None:
    """Set one column of many rows, each to its own value (row key → value), in one UPDATE: the ORM would
    send one statement a row. Objects of those rows already in the session are not changed."""
    mapper: Mapper[Any] = attribute.parent.mapper
    (key_column,) = mapper.primary_key
    (target,) = attribute.property.columns
    table = mapper.local_table
    assert isinstance(table, Table)
    for chunk in _chunks(list(values.items()), 500):
        # CASE key WHEN ... THEN ... END: the same SQL on SQLite and PostgreSQL (SQLite's VALUES takes no
        # column names, so no UPDATE ... FROM (VALUES ...) AS v (key, value)).
        session.execute(update(table).where(key_column.in_([key for key, _value in chunk]))
                        .values({target.name: case(dict(chunk), value=key_column)}))


# Where ``reserve_keys`` notes, per mapper, the last key it gave on SQLite (session.info).
_RESERVED = "relance.reserved_keys"


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
        reserved = session.info.get(_RESERVED, {}).get(mapper, 0)
        first = _first_free_key(connection, column, floor=max(given.get(mapper, 0), reserved))
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


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _attribute(mapper: Mapper[Any]) -> str:
    (column,) = mapper.primary_key
    return mapper.get_property_by_column(column).key
