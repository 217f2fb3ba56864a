"""How fast claims are computed: a letter batch computes one claim per case.

Run: python bench/amounts.py  (prints claims per second for typical and heavy cases)
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

# bench/engine.py would shadow the `engine` package: drop this folder from the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from engine.core.claim import InvoiceDebt, claim, load_rates  # noqa: E402


def main() -> None:
    rates = load_rates()
    as_of = date(2026, 6, 30)
    for invoices_per_case, payments_per_invoice in ((1, 0), (3, 1), (10, 3)):
        invoices = [
            InvoiceDebt(
                f"F{n}",
                Decimal("1234.56"),
                date(2024, 1, 15) + timedelta(days=17 * n),
                tuple(
                    (date(2024, 3, 1) + timedelta(days=40 * p + n), Decimal("50.00"))
                    for p in range(payments_per_invoice)
                ),
            )
            for n in range(invoices_per_case)
        ]
        runs = 2000
        started = time.perf_counter()
        for _ in range(runs):
            claim(invoices, debtor_kind="b2b", as_of=as_of, rates=rates)
        elapsed = time.perf_counter() - started
        print(
            f"{invoices_per_case:>2} invoice(s) x {payments_per_invoice} payment(s), ~2.5 years late: "
            f"{elapsed / runs * 1e6:8.1f} µs per claim, {runs / elapsed:8.0f} claims/s"
        )


if __name__ == "__main__":
    main()
