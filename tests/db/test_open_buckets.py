"""Opening cases on PostgreSQL: runs open different buckets of debtors side by side, and a bucket another run
holds is still opened by this run once that run lets go (its own debtors must get their cases today)."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

from sqlalchemy import func, select, text

from engine.cases.opening import OPEN_BUCKETS, OPEN_CASES_LOCK
from engine.cases.run import run
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.store.database import connect
from engine.store.models import Case, Invoice
from tests.support import REPO, write_portfolio


def test_a_locked_bucket_is_waited_for_and_opened(postgres_url: str, tmp_path: Path) -> None:
    store = connect(postgres_url, upgrade=True)
    for csv in write_portfolio(tmp_path, 3 * OPEN_BUCKETS):
        import_csv(store, csv, creditor_ref="ACME")
    workflow = load_workflow(REPO / "workflows" / "fr-b2b.yaml")
    held = 5
    holder = store.bind.connect()
    holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(:key, :bucket)"), {"key": OPEN_CASES_LOCK, "bucket": held})
    released = threading.Timer(1.0, holder.rollback)  # another run, done with the bucket a second later
    released.start()
    try:
        report = run(store, workflow, date(2025, 1, 20), advance=False)
    finally:
        released.join()
        holder.close()
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Invoice).where(Invoice.case_id.is_(None))) == 0
        assert session.scalar(select(func.count()).select_from(Case)) == report.cases_opened == 3 * OPEN_BUCKETS
        # The held bucket's debtors have their cases too, opened after the holder let go.
        in_held = session.scalar(select(func.count()).select_from(Case).where(Case.debtor_id % OPEN_BUCKETS == held))
        assert in_held == 3
    store.dispose()


def test_runs_opening_together_open_each_case_once(postgres_url: str, tmp_path: Path) -> None:
    store = connect(postgres_url, upgrade=True)
    for csv in write_portfolio(tmp_path, 400):
        import_csv(store, csv, creditor_ref="ACME")
    workflow = load_workflow(REPO / "workflows" / "fr-b2b.yaml")
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(run(store, workflow, date(2025, 1, 20), advance=False,
                                                                  batch_size=7)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 400
        assert sum(r.cases_opened for r in reports) == 400
        assert session.scalar(select(func.count()).select_from(Invoice).where(Invoice.case_id.is_(None))) == 0
    store.dispose()
