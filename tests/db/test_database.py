"""Opening stores: URLs, SQLite tuning, units of work, the claim of due cases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.store.database import StoreError, claim_due_cases, connect, count_due_cases, normalize_url
from engine.store.models import Case, Creditor, Debtor


def test_postgresql_urls_are_rewritten_to_psycopg() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_a_bare_path_is_a_sqlite_file(tmp_path: Path) -> None:
    url = normalize_url(tmp_path / "w.sqlite")
    assert url.drivername == "sqlite" and url.database == str(tmp_path / "w.sqlite")


@pytest.mark.parametrize("text", ["not a url", "relance", "postgresql:/host/db", "mydb.sqlite.bak"])
def test_a_bare_path_that_does_not_name_a_sqlite_file_is_refused(text: str) -> None:
    """`--db "not a url"` once created a SQLite file named `not a url`: only .sqlite/.sqlite3/.db names pass."""
    with pytest.raises(StoreError, match="not a database URL"):
        normalize_url(text)
    assert normalize_url("x.db").drivername == normalize_url("x.sqlite3").drivername == "sqlite"


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "unsupported database 'mysql'"),
    ("postgresql://u@h:notaport/db", "bad database URL"),
    ("", "empty database URL"),
    ("sqlite:////no/such/folder/x.sqlite", "folder /no/such/folder does not exist"),
    ("postgresql://nobody@127.0.0.1:1/nothing", "cannot connect to postgresql+psycopg://nobody@127.0.0.1:1/nothing"),
])
def test_bad_urls_give_a_store_error_that_says_why(url: str, message: str) -> None:
    with pytest.raises(StoreError) as caught:
        connect(url)
    assert message in str(caught.value)


def test_a_postgresql_server_that_never_answers_is_a_store_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts the connection and then says nothing (a stuck proxy) hung every command."""
    import socket
    import threading
    import time

    from engine.store import database

    def refusal(url: str) -> str:
        """What connecting to ``url`` raised, on a daemon thread: a regression fails after 15 s, never hangs."""
        said: list[str] = []

        def attempt() -> None:
            try:
                connect(url)
            except StoreError as exc:
                said.append(str(exc))

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(15)
        assert not worker.is_alive() and said, "connecting to a silent server did not give up"
        return said[0]

    monkeypatch.setattr(database, "PG_CONNECT_TIMEOUT_S", 1)  # the default, shortened for the test
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/x"
        began = time.monotonic()
        assert "cannot connect to" in refusal(url) and "timeout" in refusal(url)
        assert time.monotonic() - began < 10
        began = time.monotonic()
        assert "timeout" in refusal(url + "?connect_timeout=3")  # the URL's own connect_timeout wins
        assert time.monotonic() - began >= 2.5


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    store = connect(sqlite_url)
    with store.bind.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000


def test_a_unit_of_work_commits_or_rolls_back(database_url: str) -> None:
    store = connect(database_url, upgrade=True)
    with store.session() as s:
        s.add(Creditor(ref="A", name="A", country="FR"))
    with pytest.raises(RuntimeError):
        with store.session() as s:
            s.add(Creditor(ref="B", name="B", country="FR"))
            s.flush()
            raise RuntimeError("boom")
    with store.session() as s:
        assert [c.ref for c in s.query(Creditor).order_by(Creditor.ref)] == ["A"]
    store.dispose()


def test_claim_returns_due_cases_in_id_order_a_batch_at_a_time(database_url: str) -> None:
    store = connect(database_url, upgrade=True)
    with store.session() as s:
        s.add(Creditor(ref="A", name="A", country="FR"))
        s.flush()
        s.add(Debtor(creditor_id=1, ref="D", kind="b2b", name="D", country="FR"))
        s.flush()
        checks = [date(2025, 3, 1), None, date(2025, 3, 10), date(2025, 2, 1), date(2025, 3, 2), date(2025, 1, 1)]
        for n, check in enumerate(checks, start=1):
            s.add(Case(ref=f"C{n}", creditor_id=1, debtor_id=1, workflow_name="w" if n != 6 else "other",
                       workflow_version=1, state="due", state_entered=date(2025, 1, 1), due_date=date(2025, 1, 1),
                       opened_on=date(2025, 1, 1), steps_taken=[], paid_seen=Decimal(0), next_check_at=check))
    with store.session() as s:
        first = claim_due_cases(s, date(2025, 3, 2), limit=2, workflow_name="w")
        rest = claim_due_cases(s, date(2025, 3, 2), after_id=first[-1], limit=2, workflow_name="w")
        everything = claim_due_cases(s, date(2025, 3, 2), lock=True)
        counts = (count_due_cases(s, date(2025, 3, 2), up_to=10, workflow_name="w"),
                  count_due_cases(s, date(2025, 3, 2), after_id=1, up_to=10, workflow_name="w"),
                  count_due_cases(s, date(2025, 3, 2), up_to=2))
    assert (first, rest) == ([1, 4], [5])
    assert everything == [1, 4, 5, 6]
    assert counts == (3, 2, 2)  # the same cases as the claim, counted no further than asked
    store.dispose()
