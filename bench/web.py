"""Page views of the web app on a PostgreSQL database of a million cases: median milliseconds per page.

    python bench/web.py [--cases 1000000] [--repeat 30] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Cases, debtors and invoices are bulk-inserted with SQL (as bench/scale.py does), in several states, with
varied balances and due dates, a tenth closed and a tenth partly paid (payment and allocation rows, so
the ledger has rows to read). Each page is a whole HTTP request through the app (session cookie, user
check, query, template) with Starlette's TestClient, no network: the case list's first page, filtered
pages, deep keyset pages (past the 900,000th case, and by balance), the "needs me" filter (one open case
in 1,000 waits for an approval, one in 500 has a call to make), a case page with its timeline, and the
approvals and tasks queues. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/engine.py must not shadow the package

import yaml  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from engine.store.database import connect, ensure_creditor  # noqa: E402
from tests.support import create_postgres_database  # noqa: E402
from engine.store.models import Case, Debtor, Invoice, Payment, PaymentAllocation, Task  # noqa: E402

CHUNK = 50_000
STATES = ("reminder1", "reminder2", "reminder3", "formal_notice", "promised", "disputed")
AS_OF = date(2025, 1, 20)
# The cases run on the shipped policy's current version (the app refuses cases on a version it never kept).
B2B_VERSION = int(yaml.safe_load((Path(__file__).resolve().parent.parent / "workflows" / "fr-b2b.yaml")
                                 .read_text(encoding="utf-8"))["version"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", help="reuse this database URL if it is already filled")
    args = parser.parse_args()
    url = args.keep or create_postgres_database(args.pg, "relance_web")  # kept: reuse it with --keep
    if not args.keep:
        began = time.perf_counter()
        bulk(url, args.cases)
        print(f"setup: {args.cases:,} cases, debtors and invoices bulk-inserted in {time.perf_counter() - began:.0f} s "
              f"({url.rsplit('/', 1)[-1]})")
    measure(url, args.cases, args.repeat)


def bulk(url: str, count: int) -> None:
    store = connect(url, upgrade=True)
    with store.session() as session:
        creditor_id = ensure_creditor(session, "ALD").id
    start_day = date(2024, 1, 1)
    with store.bind.begin() as conn:
        for start in range(0, count, CHUNK):
            ids = range(start + 1, min(start + CHUNK, count) + 1)
            conn.execute(insert(Debtor), [
                {"id": i, "creditor_id": creditor_id, "ref": f"S{i:07d}", "kind": "b2b",
                 "name": f"{('Martin', 'Bernard', 'Dubois', 'Petit', 'Durand')[i % 5]} {i} SARL", "country": "FR"}
                for i in ids])
            conn.execute(insert(Case), [_case(i, creditor_id, start_day) for i in ids])
            conn.execute(insert(Invoice), [
                {"id": i, "creditor_id": creditor_id, "debtor_id": i, "number": f"S{i:07d}",
                 "issue_date": _due(i, start_day) - timedelta(days=30), "due_date": _due(i, start_day),
                 "amount": _amount(i), "currency": "EUR", "case_id": i, "settled": False} for i in ids])
            paid = [i for i in ids if i % 10 == 3]
            conn.execute(insert(Payment), [
                {"id": i, "creditor_id": creditor_id, "debtor_id": i, "payment_date": date(2024, 12, 1),
                 "amount": 50, "natural_key": f"bench-{i}"} for i in paid])
            conn.execute(insert(PaymentAllocation), [{"invoice_id": i, "payment_id": i, "amount": 50} for i in paid])
            # One open case in 500 has a call to make (the "needs me" filter and the tasks queue read them).
            conn.execute(insert(Task), [
                {"case_id": i, "kind": "call", "step_key": "2:reminder2", "state": "reminder2", "created_on": AS_OF,
                 "due_on": AS_OF} for i in ids if i % 500 == 11])
        conn.execute(text("ANALYZE"))
    store.dispose()


def _case(i: int, creditor_id: int, start_day: date) -> dict:
    closed = i % 10 == 0
    due = _due(i, start_day)
    return {"id": i, "ref": f"ALD-S{i:07d}", "creditor_id": creditor_id, "debtor_id": i,
            "workflow_name": "fr-b2b-standard", "workflow_version": B2B_VERSION,
            "state": "paid" if closed else STATES[i % len(STATES)], "state_entered": due + timedelta(days=20),
            "due_date": due, "on_hold": False, "disputed": False, "letters_sent": 2, "steps_taken": [],
            "paid_seen": 50 if i % 10 == 3 else 0, "balance_seen": 0 if closed else _amount(i) - (50 if i % 10 == 3 else 0),
            "step_count": 2, "event_count": 0, "closed": closed, "opened_on": due,
            # One open case in 1,000 waits for an approval before its formal notice.
            "awaiting_approval": "formal_notice" if i % 1000 == 7 else None,
            "next_check_at": None if closed else date(2030, 1, 1) + timedelta(days=i % 300)}


def _due(i: int, start_day: date) -> date:
    return start_day + timedelta(days=(i * 7919) % 380)


def _amount(i: int) -> int:
    return 100 + (i * 104729) % 20_000


def measure(url: str, count: int, repeat: int) -> None:
    from starlette.testclient import TestClient

    from engine.app import App
    from engine.cases import actions
    from engine.cases.users import add_user, get_user
    from engine.web.app import create_app
    from engine.workspace import init_workspace, load_workspace

    root = Path(tempfile.mkdtemp(prefix="relance-bench-web-")) / "ws"
    init_workspace(root)
    app = App.open(load_workspace(root, url))
    app.workflows  # noqa: B018  (loads and registers the workflows once, as a running server has)
    if get_user(app, "bench") is None:
        add_user(app, "bench", "legal", "bench-password")  # legal: the "needs me" filter has approvals and tasks
    middle = count // 2 + 1
    case_ref = f"ALD-S{middle:07d}"
    for n in range(10):  # a timeline of a dozen events to read on the case page
        actions.note(app, case_ref, AS_OF, by="bench", reason=f"appel {n}")
    http = TestClient(create_app(app, secret="bench-" + "x" * 40, today=lambda: AS_OF), follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text).group(1)
    assert http.post("/login", data={"csrf": token, "name": "bench", "password": "bench-password"}).status_code == 303
    deep = count * 9 // 10 + 1  # an open case (every tenth is closed)
    with app.session() as session:
        deep_balance = session.scalar(select(Case.balance_seen).where(Case.id == deep))
    pages = {
        "case list, first page": "/cases",
        "case list, filtered (state + min balance, by balance desc)":
            "/cases?etat=formal_notice&montant_min=5000&tri=balance&ordre=desc",
        "case list, filtered (debtor name prefix)": "/cases?debiteur=Durand%2012",
        "case list, filtered (90+ days overdue, by due date)": "/cases?retard_min=90&tri=due",
        f"case list, deep keyset page (after case #{deep:,})": f"/cases?apres={deep}",
        "case list, deep keyset page by balance": f"/cases?tri=balance&apres={deep_balance}~{deep}",
        "case list, needs me (approvals and tasks, legal)": "/cases?pour_moi=1",
        f"case page ({case_ref}, with its timeline)": f"/cases/{middle}",
        "approvals queue": "/approvals",
        "tasks queue (due today)": "/tasks",
    }
    print(f"page views on {count:,} cases (PostgreSQL), median of {repeat} after 3 warm-ups, whole request in-process "
          f"(load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for label, page in pages.items():
        timings = []
        for n in range(repeat + 3):
            began = time.perf_counter()
            answer = http.get(page)
            elapsed = (time.perf_counter() - began) * 1000
            assert answer.status_code == 200, (page, answer.status_code, answer.text[:500])
            if n >= 3:
                timings.append(elapsed)
        rows = answer.text.count('<tr') - 1  # the header's row excepted
        print(f"  {statistics.median(timings):7.1f} ms  (p90 {sorted(timings)[int(len(timings) * 0.9)]:6.1f})  "
              f"{label}  [{rows} rows]  GET {page}")
    app.store.dispose()


if __name__ == "__main__":
    main()
