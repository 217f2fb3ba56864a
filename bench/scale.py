"""Scale figures: cost follows what is due, letters per second, peak memory, import speed.

    python bench/scale.py [--stored 100000,1000000] [--due 10000] [--letters 1000] [--advance 100000]
                          [--import-rows 1000000] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
                          [--only due,letters,advance,import]

Each figure is printed with the command that produced it. Stored cases are bulk-inserted with
SQL (closed or not due until 2030, one invoice each): importing a million CSV rows is measured
separately. Runs happen in a child process so its max RSS (resource.getrusage) is the run's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/engine.py must not shadow the package

from sqlalchemy import insert, text  # noqa: E402

from engine.store.database import connect, ensure_creditor  # noqa: E402
from engine.store.models import Case, Debtor, Invoice  # noqa: E402
from tests.support import postgres_database, write_portfolio  # noqa: E402

RELANCE = str(Path(sys.executable).parent / "relance")
AS_OF = date(2025, 1, 20)
CHUNK = 50_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", default="100000,1000000")
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--advance", type=int, default=100_000)
    parser.add_argument("--advance-renderers", type=int, default=0,
                        help="renderer processes beside the run (SQLite run --workers N); 0: one process")
    parser.add_argument("--import-rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", default="due,letters,advance,import")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="relance-scale-"))
    only = set(args.only.split(","))
    if "due" in only:
        cost_follows_due(folder, [int(n) for n in args.stored.split(",")], args.due)
    if "letters" in only:
        letters_per_second(folder, args.letters, args.pg)
    if "advance" in only:
        advance_many(folder, args.advance, args.advance_renderers)
    if "import" in only:
        import_speed(folder, args.import_rows)


def cost_follows_due(folder: Path, stored_sizes: list[int], due: int) -> None:
    """The same ``due`` overdue invoices over databases holding more and more cases (no letters)."""
    figures = {}
    for stored in stored_sizes:
        workspace = _workspace(folder / f"stored-{stored}")
        url = f"sqlite:///{workspace / 'relance.sqlite'}"
        began = time.perf_counter()
        bulk_cases(url, stored)
        _relance(workspace, "db", "upgrade")  # in case the schema moved on since this process started
        _relance(workspace, "import", *map(str, write_portfolio(folder / f"due-{stored}", due, prefix="N")))
        print(f"setup: {stored:,} stored cases bulk-inserted + {due:,} due invoices imported "
              f"in {time.perf_counter() - began:.1f} s")
        child = [sys.executable, __file__, "--child-run", str(workspace), url, "noletters"]
        result = _child(child)
        figures[stored] = result["seconds"]
        print(f"run over {stored:>9,} stored cases, {due:,} due (no letters): {result['seconds']:.2f} s, "
              f"{result['examined']:,} examined, peak RSS {result['max_rss_mb']:.0f} MB\n"
              f"    command: {' '.join(child)}")
    if len(figures) > 1:
        small, big = min(figures), max(figures)
        print(f"ratio {big:,} / {small:,} stored: {figures[big] / figures[small]:.2f}x (target <= 1.5x)")


def letters_per_second(folder: Path, cases: int, pg_admin: str) -> None:
    """End to end (open, advance, render, commit): SQLite one process, PostgreSQL one and two workers."""
    rates = {}
    for label, backend, workers in (("sqlite, 1 process", "sqlite", 1), ("postgresql, 1 worker", "pg", 1),
                                    ("postgresql, 2 workers", "pg", 2)):
        workspace = _workspace(folder / f"letters-{backend}-{workers}")
        with ExitStack() as scratch:
            url = (f"sqlite:///{workspace / 'relance.sqlite'}" if backend == "sqlite"
                   else scratch.enter_context(postgres_database(pg_admin, "relance_scale")))
            _relance(workspace, "--db", url, "db", "upgrade")
            _relance(workspace, "--db", url, "import",
                     *map(str, write_portfolio(folder / f"l-{backend}{workers}", cases)))
            command = [RELANCE, "--db", url, "--workspace", str(workspace), "run", "--workers", str(workers),
                       "--as-of", AS_OF.isoformat(), "--json"]
            began = time.perf_counter()
            totals = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            seconds = time.perf_counter() - began
        rates[label] = totals["letters"] / seconds
        print(f"letters/s {label:<22} {rates[label]:7.1f}  ({totals['letters']} letters in {seconds:.1f} s, "
              f"process start included)\n    command: {' '.join(command)}")
    print(f"speedup 2 workers / 1 worker on PostgreSQL: "
          f"{rates['postgresql, 2 workers'] / rates['postgresql, 1 worker']:.2f}x")


def advance_many(folder: Path, cases: int, renderers: int = 0) -> None:
    """One run that advances ``cases`` overdue cases, each writing its first reminder (SQLite, one process):
    its time and peak memory (the run in a child process; import not timed)."""
    workspace = _workspace(folder / "advance")
    url = f"sqlite:///{workspace / 'relance.sqlite'}"
    began = time.perf_counter()
    _relance(workspace, "import", *map(str, write_portfolio(folder / "advance-portfolio", cases, prefix="A")))
    print(f"setup: {cases:,} overdue invoices imported in {time.perf_counter() - began:.1f} s")
    child = [sys.executable, __file__, "--child-run", str(workspace), url, "letters", str(renderers)]
    result = _child(child)
    how = f"1 writer + {renderers} renderers" if renderers else "1 process"
    print(f"advance {cases:,} cases with letters (SQLite, {how}): {result['seconds']:.1f} s, "
          f"{result['letters']:,} letters = {result['letters'] / result['seconds']:.1f} letters/s, "
          f"{result['examined']:,} examined, peak RSS {result['max_rss_mb']:.0f} MB (target <= 400 MB)"
          + (f", each renderer at most {result['renderer_rss_mb']:.0f} MB" if renderers else "")
          + f"\n    command: {' '.join(child)}")


def import_speed(folder: Path, rows: int) -> None:
    """`relance import` of an invoices CSV with ``rows`` rows (debtors imported first, not timed)."""
    workspace = _workspace(folder / "import")
    debtors, invoices = folder / "imp-debtors.csv", folder / "imp-invoices.csv"
    count = max(rows // 10, 1)
    write_portfolio(folder / "imp", count, prefix="I")
    (folder / "imp" / "debtors.csv").rename(debtors)
    with invoices.open("w", encoding="utf-8") as out:
        out.write("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n")
        for i in range(rows):
            out.write(f"G{i:07d};I{i % count:06d};2025-01-01;2025-02-01;{100 + i % 900},{i % 100:02d};EUR\n")
    _relance(workspace, "import", str(debtors))
    command = [RELANCE, "--workspace", str(workspace), "import", str(invoices)]
    began = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    seconds = time.perf_counter() - began
    print(f"import {rows:,} invoice rows: {seconds:.1f} s, {rows / seconds:,.0f} rows/s\n    command: {' '.join(command)}")


def bulk_cases(url: str, stored: int) -> None:
    """``stored`` debtors, each with one invoice in a case not due before 2030 (a tenth closed)."""
    store = connect(url, upgrade=True)
    with store.session() as session:
        creditor_id = ensure_creditor(session, "ALD").id
    far, old = date(2030, 1, 1), date(2024, 6, 1)
    with store.bind.begin() as conn:
        for start in range(0, stored, CHUNK):
            ids = range(start + 1, min(start + CHUNK, stored) + 1)
            conn.execute(insert(Debtor), [
                {"id": i, "creditor_id": creditor_id, "ref": f"S{i:07d}", "kind": "b2b", "name": f"Stored {i}",
                 "country": "FR"} for i in ids])
            conn.execute(insert(Case), [
                {"id": i, "ref": f"ALD-S{i:07d}", "creditor_id": creditor_id, "debtor_id": i,
                 "workflow_name": "fr-b2b-standard", "workflow_version": 1,
                 "state": "paid" if i % 10 == 0 else "reminder2", "state_entered": old, "due_date": old,
                 "on_hold": False, "disputed": False, "letters_sent": 2, "steps_taken": [], "paid_seen": 0,
                 "step_count": 2, "event_count": 0, "closed": i % 10 == 0, "opened_on": old,
                 "next_check_at": None if i % 10 == 0 else far + timedelta(days=i % 300)} for i in ids])
            conn.execute(insert(Invoice), [
                {"id": i, "creditor_id": creditor_id, "debtor_id": i, "number": f"S{i:07d}",
                 "issue_date": old - timedelta(days=30), "due_date": old, "amount": 100, "currency": "EUR",
                 "case_id": i, "settled": False} for i in ids])
    store.dispose()


def child_run(workspace: Path, url: str, mode: str, renderers: int = 0) -> None:
    """In the child: one run of the workspace, then elapsed seconds and max RSS as JSON. The run goes under
    the collector settings `relance run` gives it (engine.cli.options.settled_heap)."""
    from engine.app import App
    from engine.cli.options import settled_heap
    from engine.workspace import load_workspace

    app = App(load_workspace(workspace, url))
    began = time.perf_counter()
    with settled_heap():
        reports = app.run(AS_OF, renderers=renderers) if mode == "letters" else _run_without_letters(app)
    seconds = time.perf_counter() - began
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest renderer
    print(json.dumps({"seconds": seconds, "examined": sum(r.cases_examined for r in reports),
                      "letters": sum(r.letters for r in reports), "max_rss_mb": rss, "renderer_rss_mb": children}))


def _run_without_letters(app: object) -> list:
    from engine.cases.run import run

    return [run(app.store, workflow, AS_OF, debtor_kinds=kinds) for workflow, kinds in app.workflow_kinds()]


def _workspace(path: Path) -> Path:
    subprocess.run([RELANCE, "init", str(path)], check=True, capture_output=True)
    return path


def _relance(workspace: Path, *args: str) -> None:
    subprocess.run([RELANCE, "--workspace", str(workspace), *args], check=True, capture_output=True)


def _child(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-run":
        child_run(Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    else:
        main()
