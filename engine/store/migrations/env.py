"""Alembic environment, run from code (engine.store.database.Store.upgrade): no alembic.ini needed.

The caller passes an open connection in ``config.attributes["connection"]``; SQLite uses batch
mode so later migrations can alter tables.
"""

from __future__ import annotations

from alembic import context

from engine.store.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate over the connection the store handed us (one transaction, the caller's)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through engine.store.database.Store.upgrade(), which passes a connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
