"""Time of `relance report`'s queries on a large generated store: prints seconds for aging and funnel.

    python bench/report.py [INVOICES] [DATABASE_URL]

Defaults: 1_000_000 invoices over INVOICES/10 debtors on a fresh SQLite file in a temp folder; a
third partly paid, one case per 4 invoices with 4 state changes and a payment event each. Rows
are bulk-inserted (the events carry dummy hashes: this measures the report, not the timeline).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/engine.py must not shadow the package

from sqlalchemy import insert  # noqa: E402

from engine.core.workflow import load_workflow  # noqa: E402
from engine.reports.aging import aging  # noqa: E402
from engine.reports.funnel import funnel  # noqa: E402
from engine.store.database import connect  # noqa: E402
from engine.store.models import (  # noqa: E402
    Case,
    Creditor,
    Debtor,
    Event,
    Invoice,
    Payment,
    PaymentAllocation,
)

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 22)
LADDER = ["reminder1", "reminder2", "reminder3", "formal_notice", "litigation"]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    url = sys.argv[2] if len(sys.argv) > 2 else str(Path(tempfile.mkdtemp(prefix="relance-bench-")) / "r.sqlite")
    store = connect(url, upgrade=True)
    started = time.perf_counter()
    fill(store, count)
    print(f"filled {count} invoices in {time.perf_counter() - started:.1f} s ({store.display_url})")
    workflow = load_workflow(ROOT / "workflows" / "fr-b2b.yaml")
    for _ in range(2):  # the second pass shows the warm-cache figure
        with store.session() as session:
            t0 = time.perf_counter()
            balance = aging(session, AS_OF)
            t1 = time.perf_counter()
            steps = funnel(session, AS_OF, [workflow])
            t2 = time.perf_counter()
        print(f"aging {t1 - t0:.2f} s ({balance.total.invoices} unpaid, {balance.total.amount} EUR); "
              f"funnel {t2 - t1:.2f} s ({steps.cases} cases, {steps.recovered} EUR recovered)")
    store.dispose()


def fill(store, count: int, batch: int = 20_000) -> None:
    rng = random.Random(5)
    debtors = max(1, count // 10)
    stamp = datetime(2026, 11, 22, 12)
    with store.session() as s:
        s.execute(insert(Creditor), [{"id": 1, "ref": "BENCH", "name": "Bench", "country": "FR"}])
        for start in range(0, debtors, batch):
            s.execute(insert(Debtor), [{"id": i + 1, "creditor_id": 1, "ref": f"D{i}", "kind": "b2b",
                                        "name": f"Débiteur {i} & Cie", "country": "FR"}
                                       for i in range(start, min(debtors, start + batch))])
    case_id = payment_id = event_id = 0
    for start in range(0, count, batch):
        invoices, cases, events, payments, allocations = [], [], [], [], []
        for i in range(start, min(count, start + batch)):
            due = AS_OF - timedelta(days=rng.randint(-40, 200))
            amount = Decimal(rng.randint(5_000, 2_000_000)).scaleb(-2)
            invoice = {"id": i + 1, "creditor_id": 1, "debtor_id": i % debtors + 1, "number": f"F{i}",
                       "issue_date": due - timedelta(days=30), "due_date": due, "amount": amount,
                       "currency": "EUR", "case_id": None}
            if i % 4 == 0 and due < AS_OF - timedelta(days=10):
                case_id += 1
                invoice["case_id"] = case_id
                depth = rng.randint(1, 4)
                cases.append({"id": case_id, "ref": f"BENCH-F{i}", "creditor_id": 1, "debtor_id": invoice["debtor_id"],
                              "workflow_name": "fr-b2b-standard", "workflow_version": 1, "state": LADDER[depth - 1],
                              "state_entered": due, "due_date": due, "on_hold": False, "disputed": False,
                              "letters_sent": depth, "steps_taken": [], "paid_seen": 0, "step_count": depth,
                              "event_count": depth + 1, "closed": False, "opened_on": due + timedelta(days=1)})
                for n in range(depth):
                    event_id += 1
                    events.append(_event(event_id, case_id, n + 1, "state_change", due + timedelta(days=5 + 10 * n),
                                         {"dest": LADDER[n]}, stamp, f"{n + 1}:{LADDER[n]}"))
                event_id += 1
                events.append(_event(event_id, case_id, depth + 1, "payment", due + timedelta(days=8 * depth),
                                     {"amount": str(amount / 3)}, stamp, None))
            if i % 3 == 0:
                payment_id += 1
                part = (amount / 2).quantize(Decimal("0.01"))
                payments.append({"id": payment_id, "creditor_id": 1, "debtor_id": invoice["debtor_id"],
                                 "payment_date": due, "amount": part, "natural_key": f"p{payment_id}"})
                allocations.append({"invoice_id": i + 1, "payment_id": payment_id, "amount": part})
            invoices.append(invoice)
        with store.session() as s:
            for model, rows in ((Case, cases), (Invoice, invoices), (Payment, payments),
                                (PaymentAllocation, allocations), (Event, events)):
                if rows:
                    s.execute(insert(model), rows)


def _event(id_: int, case_id: int, seq: int, kind: str, on: date, payload: dict, stamp: datetime,
           step_key: str | None) -> dict:
    return {"id": id_, "case_id": case_id, "seq": seq, "kind": kind, "occurred_on": on, "recorded_at": stamp,
            "payload": payload, "actor": None, "step_key": step_key, "prev_hash": None, "hash": "0" * 64}


if __name__ == "__main__":
    main()
