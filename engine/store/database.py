"""The case store: one database (a SQLite file, or PostgreSQL), sessions, schema upgrades, claims.

``connect(url)`` gives a ``Store``; ``with store.session() as s:`` is one unit of work that commits
on success and rolls back on error. The schema is Alembic's (engine/migrations), run from code so an
installed package can upgrade a database without an ini file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.sql import Select

from engine.errors import ConcurrentChange, DatabaseBusy, RelanceError
from engine.store.keys import number_new_rows
from engine.store.models import Case, Creditor

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How long to wait for a PostgreSQL server to answer a new connection (unless the URL says connect_timeout=):
# a server that accepts the connection and never answers (a firewall, a stuck proxy) hung every command.
PG_CONNECT_TIMEOUT_S = 10
WRITE = "relance_write"  # the execution option of a unit of work that writes (``Store.session(write=True)``)


# The newest migration in engine/store/migrations/versions, which `check_schema` asks of every database
# without loading Alembic; tests/db/test_migrations.py holds it to Alembic's own head.
SCHEMA_HEAD = "0011"


class StoreError(RelanceError):
    """The database cannot be used: a bad URL, an unreachable server, a schema out of date."""


class Store:
    """A database the engine reads and writes; cheap to share, one per process."""

    def __init__(self, bind: Engine) -> None:
        # `bind`, SQLAlchemy's word for what sessions run on: relance's own engine is core.machine.
        self.bind = bind
        self.url: URL = bind.url
        self._sessions = sessionmaker(bind, expire_on_commit=False)
        self._writes = sessionmaker(bind.execution_options(**{WRITE: True}), expire_on_commit=False)
        number_new_rows(self._sessions)
        number_new_rows(self._writes)
        if self.is_postgresql:
            event.listen(self._writes, "do_orm_execute", _hold_cases)

    @classmethod
    def open(cls, url: str | Path, *, upgrade: bool = False) -> Store:
        """Open the database at ``url`` (a URL or a SQLite file path); check it answers."""
        engine = create_store_engine(url)
        store = cls(engine)
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot connect to {store.display_url}: {_first_line(exc)}") from exc
        if upgrade:
            store.upgrade()
        return store

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def is_postgresql(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back if it raises.

        ``write``: a unit of work that will write (a person's action on a case). On SQLite it takes the write
        lock when it begins (BEGIN IMMEDIATE), so it waits its turn behind a run for the busy timeout; begun as
        a reader, it failed at once on its first write while another connection wrote. On PostgreSQL every
        case it reads is read under the case's row lock (``_hold_cases``), so it waits for a run's batch that
        holds the case, then reads the timeline that batch committed. A lock still held after
        the timeout is a DatabaseBusy, and an append to a case's timeline that another unit of work made at
        the same moment (its unique (case, seq) key) a ConcurrentChange: nothing of this one was recorded."""
        try:
            with (self._writes if write else self._sessions)() as session:
                with session.begin():
                    yield session
        except OperationalError as exc:
            if write and self.is_sqlite and "locked" in str(exc.orig or exc):
                raise DatabaseBusy(f"the database is busy (another run or import is writing to it, for more than "
                                   f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s): nothing was recorded, try again") from exc
            raise
        except IntegrityError as exc:
            if write and _timeline_clash(exc):
                raise ConcurrentChange("the case's timeline was written to by someone else at the same moment: "
                                       "nothing was recorded, look at the case again") from exc
            raise

    @contextmanager
    def rehearsal(self) -> Iterator[Any]:
        """Sessions whose commits all vanish at the end: for dry runs.

        Yields a factory of context managers like ``session()``; each unit of work becomes a
        savepoint inside one outer transaction that is rolled back.
        """
        with self.bind.connect() as conn:
            outer = conn.begin()
            factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint",
                                   expire_on_commit=False)
            number_new_rows(factory)

            @contextmanager
            def unit() -> Iterator[Session]:
                with factory() as session:
                    with session.begin():
                        yield session

            try:
                yield unit
            finally:
                outer.rollback()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (default: the newest); a new database starts here."""
        from alembic import command

        with self.bind.begin() as conn:
            config = _alembic_config(conn)
            command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        """The schema revision the database is at, or None for an empty database."""
        # Alembic's table read directly: importing Alembic costs every command a fifth of a second.
        with self.bind.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(revisions) > 1:
            raise StoreError(f"database {self.display_url} has several schema revisions ({', '.join(revisions)}): "
                             "it was not made by relance")
        return revisions[0] if revisions else None

    def head_revision(self) -> str | None:
        """The newest revision this code knows."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()

    def check_schema(self) -> None:
        """Raise StoreError unless the schema is at head (so commands fail with advice, not SQL)."""
        current, head = self.current_revision(), SCHEMA_HEAD
        if current != head:
            raise StoreError(
                f"database {self.display_url} is at schema revision {current or 'none (empty)'}, "
                f"this version of relance needs {head}: run `relance db upgrade`"
            )

    def table_names(self) -> list[str]:
        return inspect(self.bind).get_table_names()

    def dispose(self) -> None:
        self.bind.dispose()


def connect(url: str | Path, *, upgrade: bool = False) -> Store:
    """Open a store; see ``Store.open``."""
    return Store.open(url, upgrade=upgrade)


# A bare path (no scheme) is taken for a SQLite file only when its name says it is one: anything else
# (`--db "not a url"`, a mistyped host) is refused rather than silently created as a new empty file.
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
URL_FORMS = "sqlite:///path/to/file.sqlite or postgresql+psycopg://user@host/db"


def normalize_url(url: str | Path) -> URL:
    """Parse a database URL: ``sqlite:///…``, ``postgresql…://…`` (``postgresql://`` means psycopg 3), or
    a bare path ending in .sqlite, .sqlite3 or .db (a SQLite file); StoreError for anything else."""
    text = str(url).strip()
    if not text:
        raise StoreError("empty database URL")
    if "://" not in text:
        if not text.lower().endswith(SQLITE_SUFFIXES):
            raise StoreError(f"not a database URL: {text!r}; write {URL_FORMS} "
                             f"(a bare path must end in {', '.join(SQLITE_SUFFIXES)})")
        return URL.create("sqlite", database=str(Path(text).expanduser().resolve()))
    if text.startswith("postgres://"):  # Heroku-style alias
        text = "postgresql://" + text[len("postgres://"):]
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a port that is not a number
        raise StoreError(f"bad database URL {text!r}: {exc}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
            "use sqlite:///path/to/file.sqlite or postgresql://user@host/db"
        )
    return parsed


def create_store_engine(url: str | Path) -> Engine:
    """An SQLAlchemy engine tuned per backend (SQLite: WAL, foreign keys, busy timeout)."""
    parsed = normalize_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                folder = Path(database).parent
                if not folder.is_dir():
                    raise StoreError(f"cannot open SQLite file {database}: folder {folder} does not exist")
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _tune_sqlite(engine)
            return engine
        answers_within = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        return create_engine(parsed, pool_pre_ping=True, connect_args=answers_within)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"cannot use database URL {parsed.render_as_string(hide_password=True)}: {exc}") from exc
    except ImportError as exc:  # a driver that is not installed (postgresql+psycopg2://, +asyncpg)
        raise StoreError(
            f"cannot use database URL {parsed.render_as_string(hide_password=True)}: its driver is not "
            f"installed ({exc}); for PostgreSQL write postgresql+psycopg://user@host/db"
        ) from None


def claim_due_cases(
    session: Session,
    as_of: date,
    *,
    after_id: int = 0,
    limit: int = 500,
    workflow_name: str | None = None,
    workflow_version: int | None = None,
    lock: bool = False,
) -> list[int]:
    """Ids of cases due for a look on ``as_of`` (next_check_at <= as_of), in id order.

    Closed cases have no next_check_at, except when a payment arrived after they closed (a payment
    after litigation still settles the case), so they are not filtered out here.

    The one place that decides which cases a run touches: keyset pagination on id keeps it
    streaming, and ``lock=True`` on PostgreSQL takes row locks with SKIP LOCKED so concurrent
    workers split the work instead of waiting on each other (held until the session ends).
    """
    query = _due(as_of, after_id, workflow_name, workflow_version).order_by(Case.id).limit(limit)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def count_due_cases(session: Session, as_of: date, *, after_id: int = 0, up_to: int,
                    workflow_name: str | None = None, workflow_version: int | None = None) -> int:
    """How many cases ``claim_due_cases`` could still return after ``after_id`` (those other workers hold
    included), counted up to ``up_to`` at most: a bounded read however many cases are due."""
    due = _due(as_of, after_id, workflow_name, workflow_version).limit(up_to).subquery()
    return session.scalar(select(func.count()).select_from(due)) or 0


def _due(as_of: date, after_id: int, workflow_name: str | None, workflow_version: int | None) -> Select[int]:
    query = select(Case.id).where(Case.next_check_at <= as_of, Case.id > after_id)
    if workflow_name is not None:
        query = query.where(Case.workflow_name == workflow_name)
    if workflow_version is not None:
        query = query.where(Case.workflow_version == workflow_version)
    return query


def ensure_creditor(session: Session, ref: str, **fields: Any) -> Creditor:
    """The creditor with this ref, created (name defaults to the ref) or updated with ``fields``."""
    creditor = session.scalar(select(Creditor).where(Creditor.ref == ref))
    if creditor is None:
        fields.setdefault("name", ref)
        fields.setdefault("country", "FR")
        creditor = Creditor(ref=ref, **fields)
        session.add(creditor)
        session.flush()
    else:
        for key, value in fields.items():
            setattr(creditor, key, value)
    return creditor


def _tune_sqlite(engine: Engine) -> None:
    """WAL and foreign keys on every connection; let SQLAlchemy, not pysqlite, open transactions.

    pysqlite's own transaction handling breaks SAVEPOINT and transactional DDL; the documented
    recipe is to switch it off and emit BEGIN ourselves.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Statement and savepoint journals in memory, not in temporary files: a run's batch writes inside a
        # savepoint, and each page it changes was otherwise copied out first (70 writes to a temporary file
        # a letter). They hold the changed pages' old versions: a batch's few MB.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def _hold_cases(state: ORMExecuteState) -> None:
    """In a unit of work that writes on PostgreSQL, read each case under its row lock (FOR UPDATE OF cases).

    A run's batch claims its cases under that lock and appends to their timelines before its commit. A
    person's action that read the case without it inserted the same next line of the timeline as the batch:
    the two inserts then waited on each other (the action's foreign key on the case behind the batch's row
    lock, the batch's unique (case, seq) behind the action's insert) and PostgreSQL aborted one of them as a
    deadlock, or the action lost to the batch's commit. Holding the row, the action waits for the batch, then
    reads the state and the timeline it committed. A query of a case's columns alone, or one PostgreSQL
    cannot lock (DISTINCT, GROUP BY), reads as it is: it is not the case a unit of work then writes to.
    """
    statement = state.statement
    if not state.is_select or not isinstance(statement, Select) or statement._for_update_arg is not None:
        return
    if statement._distinct or statement._group_by_clauses:
        return
    if any(column.get("type") is Case and column.get("entity") is Case for column in statement.column_descriptions):
        state.statement = statement.with_for_update(of=Case)


def _timeline_clash(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a unique key of the event table: two appends to one case's timeline at once."""
    table = getattr(getattr(exc.orig, "diag", None), "table_name", None)  # PostgreSQL says which table
    return table == "event" if table else "UNIQUE constraint failed: event." in str(exc.orig)


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "Store",
    "StoreError",
    "claim_due_cases",
    "connect",
    "create_store_engine",
    "ensure_creditor",
    "normalize_url",
]
