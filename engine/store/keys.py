"""New rows' primary keys, given before the insert, so many rows go in one plain executemany.

Many rows of one table go in one statement only when each returned key can be matched to its row. On
SQLite, which cannot promise that order, the ORM sent one INSERT ... RETURNING per row (14,000 statements
for a run of 2,000 letters). On PostgreSQL it sent INSERT ... SELECT ... FROM (VALUES ...) ORDER BY ...
RETURNING: one statement of 9,500 parameters for 500 outbox rows, rebuilt, parsed and planned for every
batch (the outbox's statements took 0.39 s of a 2,000-letter run; 0.10 to 0.12 s as plain executemany). So
every flush gives its new rows their keys first (``number_new_rows``), and the rows go as one executemany:

- PostgreSQL: from the table's own sequence, one ``nextval`` query for all of them, as its default would;
- SQLite: ``max(id) + 1`` onwards, in the order they would have been inserted: the keys SQLite itself
  would have given, since no table uses AUTOINCREMENT. The database's write lock is taken first (a write
  that changes nothing), then ``max(id)`` read: no other writer can insert between the read and the insert,
  and a transaction that read before another writer committed fails at that write exactly as its first
  INSERT would have.

``reserve_keys`` gives keys before their rows exist (a new case's first events are hashed with its id),
``insert_rows`` inserts rows given as dicts, ``insert_new`` writes a batch's new objects of tables nothing reads
back (events, documents, outbox, tasks) by Core, and ``set_by_key`` sets one column of many rows in one executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, event, false, func, insert, select, update
from sqlalchemy.orm import (
    MANYTOONE,
    DeclarativeBase,
    InstanceState,
    InstrumentedAttribute,
    Mapper,
    RelationshipProperty,
    Session,
    make_transient,
    sessionmaker,
)


def number_new_rows(sessions: sessionmaker[Session]) -> None:
    """Give every flush of ``sessions`` keys to its new rows before it inserts them."""
    event.listen(sessions, "before_flush", _number)


def reserve_keys(session: Session, model: type[DeclarativeBase], count: int) -> list[int]:
    """``count`` keys for new rows of ``model``, in ascending order, before the rows exist: for rows whose
    other columns need their own key (a case's first events are hashed with the case's id). Insert the
    rows with them in the same transaction (``insert_rows``)."""
    mapper: Mapper[Any] = model.__mapper__
    if count <= 0:
        return []
    session.flush()  # the session's own new rows first: they would otherwise be numbered over these
    connection = session.connection()
    _take_write_lock(connection, mapper.local_table)
    keys = _new_keys(connection, mapper, count, floor=session.info.get(_RESERVED, {}).get(mapper, 0))
    # On SQLite, a flush before these rows are inserted numbers its own new rows after them, not over them.
    session.info.setdefault(_RESERVED, {})[mapper] = keys[-1]
    return keys


def insert_rows(session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (column → value) into ``model``'s table in one executemany; their keys, in order.
    Rows that carry their key (``reserve_keys``) keep it; the others get new ones."""
    mapper: Mapper[Any] = model.__mapper__
    if not rows:
        return []
    session.flush()  # the session's own new rows first: they would otherwise be numbered over these
    attribute = _attribute(mapper)
    missing = sum(1 for row in rows if row.get(attribute) is None)
    if missing:
        connection = session.connection()
        _take_write_lock(connection, mapper.local_table)
        keys = iter(_new_keys(connection, mapper, missing, floor=session.info.get(_RESERVED, {}).get(mapper, 0)))
        rows = [row if row.get(attribute) is not None else {**row, attribute: next(keys)} for row in rows]
    # Core, not the ORM's bulk insert: the same rows, without its per-row bookkeeping (a third of the time).
    _insert_many(session.connection(), mapper, rows)
    return [row[attribute] for row in rows]


def insert_new(session: Session, models: Sequence[type[DeclarativeBase]], *,
               ready: Callable[[object], bool] | None = None) -> int:
    """Insert the session's new objects of ``models`` (given in foreign-key order) by Core, one executemany
    per table, and take them out of the session: how many rows went in.

    For rows nothing reads back through the session once they are written (a batch's events, documents,
    outbox rows and tasks): the ORM's flush spent more on its own bookkeeping for each (collecting the
    values, then registering the object as persistent) than the database spent on the row. The objects keep
    their values and their new key; a many-to-one between them (a document's event) is written as its key.
    With ``ready``, only the objects it is true of: the others stay pending, for a later call.
    """
    pending: dict[Mapper[Any], list[InstanceState[Any]]] = {model.__mapper__: [] for model in models}
    for obj in session.new:
        state: InstanceState[Any] = obj._sa_instance_state
        if state.mapper in pending and (ready is None or ready(obj)):
            pending[state.mapper].append(state)
    if not any(pending.values()):
        return 0
    connection = session.connection()
    _take_write_lock(connection, next(iter(pending)).local_table)
    written = 0
    for mapper, states in pending.items():
        if not states:
            continue
        states.sort(key=lambda s: s.insert_order or 0)  # the order the flush would have inserted them in
        attribute = _attribute(mapper)
        unnumbered = [state for state in states if state.dict.get(attribute) is None]
        floor = max([session.info.get(_RESERVED, {}).get(mapper, 0)]
                    + [state.dict[attribute] for state in states if state.dict.get(attribute) is not None])
        for number, state in zip(_new_keys(connection, mapper, len(unnumbered), floor=floor) if unnumbered else (),
                                 unnumbered, strict=True):
            state.dict[attribute] = number
        # connection.execute, not session.execute: that would flush them first
        _insert_many(connection, mapper, [_column_values(mapper, state) for state in states])
        # Pending rows out of the session: make_transient is expunge without its cascade walk over every
        # relationship (a fifth of this function's time), and nothing here cascades an expunge anyway.
        for state in states:
            make_transient(state.obj())
        written += len(states)
    return written


def set_by_key(session: Session, attribute: InstrumentedAttribute[Any], values: Mapping[int, Any]) -> None:
    """Set one column of many rows, each to its own value (row key → value), in one executemany of one
    UPDATE: the ORM would build and send one statement a row. Objects of those rows already in the session
    are not changed."""
    mapper: Mapper[Any] = attribute.parent.mapper
    (key_column,) = mapper.primary_key
    (target,) = attribute.property.columns
    table = mapper.local_table
    assert isinstance(table, Table)
    if not values:
        return
    statement = (update(table).where(key_column == bindparam("_key"))
                 .values({target.name: bindparam("_value", type_=target.type)}))
    session.connection().execute(statement, [{"_key": key, "_value": value} for key, value in values.items()])


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
        else:  # a row whose key its caller chose: numbering goes on past it (SQLite)
            given[mapper] = max(given.get(mapper, 0), key)
    # A single row gains nothing: it keeps its one INSERT ... RETURNING.
    pending = {mapper: states for mapper, states in pending.items() if len(states) > 1}
    if not pending:
        return
    connection = session.connection()
    _take_write_lock(connection, next(iter(pending)).local_table)
    for mapper, states in pending.items():
        reserved = session.info.get(_RESERVED, {}).get(mapper, 0)
        keys = _new_keys(connection, mapper, len(states), floor=max(given.get(mapper, 0), reserved))
        attribute = _attribute(mapper)
        # insert_order is the order the flush inserts a table's rows in, so keys rise as they always did.
        for number, state in zip(keys, sorted(states, key=lambda s: s.insert_order or 0), strict=True):
            setattr(state.obj(), attribute, number)


def _new_keys(connection: Connection, mapper: Mapper[Any], count: int, *, floor: int) -> list[int]:
    """``count`` unused keys of ``mapper``'s table, ascending. PostgreSQL: from the key column's sequence
    (concurrent transactions never get the same one). SQLite, under the write lock: after the largest of
    the table's keys and ``floor``."""
    (column,) = mapper.primary_key
    if connection.dialect.name != "sqlite":
        table = mapper.local_table
        assert isinstance(table, Table)
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        return sorted(connection.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count))))
    first = max(connection.scalar(select(func.max(column))) or 0, floor) + 1
    return list(range(first, first + count))


def _take_write_lock(connection: Connection, table: Any) -> None:
    """SQLite's write lock for this transaction, before any ``max(id)`` is read: a write that changes nothing.
    (PostgreSQL's sequences need no lock.)"""
    assert isinstance(table, Table)
    if connection.dialect.name == "sqlite":
        connection.execute(delete(table).where(false()))


def _insert_many(connection: Connection, mapper: Mapper[Any], rows: Sequence[dict[str, Any]]) -> None:
    """``rows`` (column → value) into ``mapper``'s table: one executemany for the rows that set the same columns
    (Core gives the columns a row leaves out their defaults), in order."""
    table = mapper.local_table
    assert isinstance(table, Table)
    alike: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        alike.setdefault(tuple(row), []).append(row)
    for group in alike.values():
        connection.execute(insert(table), group)


def _column_values(mapper: Mapper[Any], state: InstanceState[Any]) -> dict[str, Any]:
    """The object's column values as a row (column name → value), a many-to-one it holds as its key."""
    values = state.dict
    columns, relations = _layout(mapper)
    row = {name: values[key] for key, name in columns if key in values}
    for relation in relations:
        target = values.get(relation.key)
        if target is None:
            continue
        if relation.direction is not MANYTOONE:
            raise TypeError(f"{mapper.class_.__name__}.{relation.key}: only a many-to-one is written by insert_new")
        for local, remote in relation.local_remote_pairs:
            key = getattr(target, relation.mapper.get_property_by_column(remote).key)
            if key is None:  # a new row of a table not written yet: the ORM's flush knows the order, not this
                raise ValueError(f"{mapper.class_.__name__}.{relation.key} points at a row without a key yet")
            row[local.name] = key
    return row


@cache
def _layout(mapper: Mapper[Any]) -> tuple[list[tuple[str, str]], list[RelationshipProperty[Any]]]:
    """(attribute, column name) of each column of ``mapper``, and its relationships: read once, not a row."""
    return [(prop.key, prop.columns[0].name) for prop in mapper.column_attrs], list(mapper.relationships)


def _attribute(mapper: Mapper[Any]) -> str:
    (column,) = mapper.primary_key
    return mapper.get_property_by_column(column).key
