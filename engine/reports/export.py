"""Both reports as JSON-ready data, for `relance report --json` and the web app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.reports.aging import BUCKETS, Aging, AgingBucket
from engine.reports.funnel import Funnel


def report_as_dict(aging_: Aging, funnel_: Funnel) -> dict[str, Any]:
    """Both reports as JSON-ready data (amounts and rates as strings, dates ISO), for ``--json``."""
    def bucket(b: AgingBucket) -> dict[str, Any]:
        return {"key": b.key, "label": b.label, "invoices": b.invoices, "debtors": b.debtors, "amount": str(b.amount)}

    return {
        "as_of": aging_.as_of.isoformat(),
        "aging": {
            "currency": aging_.currency,
            "buckets": [bucket(b) for b in aging_.buckets],
            "total": bucket(aging_.total),
            "overdue": str(aging_.overdue),
            "overdue_share": _str_or_none(aging_.overdue_share),
            "top_debtors": [
                {"ref": d.ref, "name": d.name, "kind": d.kind, "invoices": d.invoices, "total": str(d.total),
                 "buckets": {key: str(amount) for (key, _l, _x), amount in zip(BUCKETS, d.amounts)}}
                for d in aging_.debtors
            ],
            "other_currencies": aging_.other_currencies,
            "unapplied_credit": str(aging_.credit),
            "debtors_in_credit": aging_.credit_debtors,
        },
        "funnel": {
            "cases": funnel_.cases,
            "currency": funnel_.currency,
            "recovered": str(funnel_.recovered),
            "other_currencies": funnel_.other_currencies,
            "in_litigation": funnel_.in_litigation,
            "steps": [
                {"state": s.state, "label": s.label, "stage": s.stage, "reached": s.reached, "current": s.current,
                 "resolved": s.resolved, "resolution_rate": _str_or_none(s.resolution_rate),
                 "recovered": str(s.recovered), "payments": s.payments}
                for s in funnel_.steps
            ],
        },
    }


def _str_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


__all__ = ["report_as_dict"]
