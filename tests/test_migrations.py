"""The migrated schema is the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.models import Base
from engine.store import StoreError, connect


def test_empty_database_upgrades_to_head_and_matches_models(database_url: str) -> None:
    store = connect(database_url)
    assert store.current_revision() is None
    store.upgrade()
    assert store.current_revision() == store.head_revision()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []
    assert {"cases", "event", "invoice", "payment_allocation"} <= set(store.table_names())
    store.dispose()


def test_upgrade_twice_is_harmless_and_check_schema_passes(database_url: str) -> None:
    store = connect(database_url, upgrade=True)
    store.upgrade()
    store.check_schema()
    store.dispose()


def test_check_schema_on_empty_database_tells_to_upgrade(sqlite_url: str) -> None:
    store = connect(sqlite_url)
    with pytest.raises(StoreError, match="relance db upgrade"):
        store.check_schema()
