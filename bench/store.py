"""Import and run throughput of the case store: prints rows/s for a generated portfolio.

    python bench/store.py [INVOICES] [DATABASE_URL]

Defaults: 100_000 invoices over INVOICES/10 debtors on a fresh SQLite file in a temp folder.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/engine.py must not shadow the package

from engine.cases.run import run  # noqa: E402
from engine.core.workflow import load_workflow  # noqa: E402
from engine.imports.importer import import_csv  # noqa: E402
from engine.store.database import connect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    invoices = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    folder = Path(tempfile.mkdtemp(prefix="relance-bench-"))
    url = sys.argv[2] if len(sys.argv) > 2 else str(folder / "bench.sqlite")
    debtors = max(1, invoices // 10)
    rng = random.Random(7)
    (folder / "debtors.csv").write_text("debtor_ref;kind;name;siren;address_line1;address_line2;postal_code;city;country;email;phone\n"
                                        + "".join(f"D{i};b2b;Client {i};;1 rue X;;75001;Paris;FR;;\n" for i in range(debtors)))
    start = date(2025, 1, 1)
    with (folder / "invoices.csv").open("w") as handle:
        handle.write("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n")
        for i in range(invoices):
            issued = start + timedelta(days=rng.randrange(60))
            handle.write(f"F{i};D{rng.randrange(debtors)};{issued};{issued + timedelta(days=30)};"
                         f"{rng.randrange(5000, 500000) / 100:.2f}".replace(".", ",") + ";EUR\n")
    with (folder / "payments.csv").open("w") as handle:
        handle.write("debtor_ref;payment_date;amount;invoice_number;reference\n")
        for i in range(invoices // 4):
            handle.write(f"D{rng.randrange(debtors)};2025-03-01;{rng.randrange(1000, 100000) / 100:.2f};;P{i}\n")
    store = connect(url, upgrade=True)
    for kind in ("debtors", "invoices", "payments"):
        began = time.perf_counter()
        report = import_csv(store, folder / f"{kind}.csv", kind, creditor_ref="BENCH")
        elapsed = time.perf_counter() - began
        print(f"import {kind:<9} {report.rows:>9} rows  {elapsed:7.2f} s  {report.rows / elapsed:>9.0f} rows/s")
    began = time.perf_counter()
    import_csv(store, folder / "invoices.csv", "invoices", creditor_ref="BENCH")
    elapsed = time.perf_counter() - began
    print(f"re-import invoices (no-op) {elapsed:7.2f} s  {invoices / elapsed:>9.0f} rows/s")
    workflow = load_workflow(ROOT / "workflows" / "fr-b2b.yaml")
    for day in (date(2025, 3, 5), date(2025, 3, 20)):
        began = time.perf_counter()
        report = run(store, workflow, day)
        elapsed = time.perf_counter() - began
        print(f"run {day}: opened {report.cases_opened}, examined {report.cases_examined}, steps {report.steps} "
              f"in {elapsed:.2f} s ({report.cases_examined / elapsed:.0f} cases/s)")
    store.dispose()


if __name__ == "__main__":
    main()
