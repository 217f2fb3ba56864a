"""`relance report` in the terminal: key figures, the aging balance and the funnel as rich tables.

Amounts are written the French way (engine.core.money), like the letters and the HTML report, so
the same figure reads the same everywhere. Names, refs and states are printed through
engine.reports.terminal: as text, never as rich markup, their control characters visible.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from engine.core.money import format_amount, format_date
from engine.reports.aging import Aging
from engine.reports.funnel import Funnel
from engine.reports.terminal import cell

NAME_WIDTH = 16  # the narrowest a debtor's name may wrap to in the top debtors' table


def render_report_tables(aging: Aging, funnel: Funnel, console: Console) -> None:
    """Print key figures, the aging buckets, the top debtors and the funnel."""
    console.print(key_figures_table(aging, funnel))
    console.print(aging_table(aging))
    if aging.debtors:
        console.print(debtors_table(aging, console))
    console.print(funnel_table(funnel))
    if aging.other_currencies:
        left_out = ", ".join(f"{n} in {code}" for code, n in sorted(aging.other_currencies.items()))
        console.print(Text(f"Not in the aging (other currencies): {left_out} unpaid invoice(s)"
                           f"{_see(aging.other_currencies)}.", style="yellow"))
    if funnel.other_currencies:
        left_out = ", ".join(f"{n} payment(s) in {code}" for code, n in sorted(funnel.other_currencies.items()))
        console.print(Text(f"Not in the funnel's recovered amounts ({funnel.currency} only): {left_out}"
                           f"{_see(funnel.other_currencies)}.", style="yellow"))


def _see(counts: dict[str, int]) -> str:
    """Where the figures left out are: each currency has its own report."""
    return " — see " + ", ".join(f"`relance report --currency {code}`" for code in sorted(counts))


def key_figures_table(aging: Aging, funnel: Funnel) -> Table:
    """The four figures a manager looks at first."""
    table = Table(title=f"Receivables as of {format_date(aging.as_of)}", show_header=False)
    table.add_column("figure")
    _amount_column(table, "value")
    table.add_row("Total outstanding", _amount(aging.total.amount, aging.currency))
    table.add_row("Overdue", f"{_amount(aging.overdue, aging.currency)} ({percent(aging.overdue_share)})")
    table.add_row("Recovered by the escalation", _amount(funnel.recovered, funnel.currency))
    table.add_row("Cases in litigation", str(funnel.in_litigation))
    if aging.credit:
        # Overpaid money no invoice took yet: owed back, or paid into the debtors' next invoices.
        table.add_row(f"Unapplied credit ({aging.credit_debtors} debtor(s))", _amount(aging.credit, aging.currency))
    return table


def aging_table(aging: Aging) -> Table:
    table = Table(title="Aging balance (days past due)")
    table.add_column("bucket")
    table.add_column("invoices", justify="right")
    table.add_column("debtors", justify="right")
    _amount_column(table, "amount")
    table.add_column("share", justify="right")
    for bucket in aging.buckets:
        table.add_row(bucket.label, str(bucket.invoices), str(bucket.debtors),
                      _amount(bucket.amount, aging.currency), percent(share(bucket.amount, aging.total.amount)))
    total = aging.total
    table.add_section()
    table.add_row(Text("total", style="bold"), str(total.invoices), str(total.debtors),
                  Text(_amount(total.amount, aging.currency), style="bold"), "")
    return table


def debtors_table(aging: Aging, console: Console | None = None) -> Table:
    """The top debtors, an amount per bucket; on a terminal too narrow for every bucket, each debtor's total
    and its oldest bucket (the HTML report and ``--json`` keep the whole split)."""
    table = _debtors_by_bucket(aging)
    if console is None:
        return table
    # Every column but the name at its full width, and room for a name wrapped to NAME_WIDTH.
    unwrapped = _debtors_by_bucket(aging, names=False)
    if Measurement.get(console, console.options, unwrapped).maximum + NAME_WIDTH + 3 <= console.width:
        return table
    return _debtors_oldest(aging)


def _debtors_by_bucket(aging: Aging, *, names: bool = True) -> Table:
    table = Table(title=f"Top {len(aging.debtors)} debtors by outstanding amount")
    table.add_column("debtor", no_wrap=True)
    if names:
        table.add_column("name")  # the only column that wraps: see _amount_column
    table.add_column("inv.", justify="right", no_wrap=True)
    for bucket in aging.buckets:
        _amount_column(table, bucket.label)
    _amount_column(table, "total")
    for debtor in aging.debtors:
        table.add_row(cell(debtor.ref), *([cell(debtor.name)] if names else []), str(debtor.invoices),
                      *[_amount(a, aging.currency) if a else "" for a in debtor.amounts],
                      Text(_amount(debtor.total, aging.currency), style="bold"))
    return table


def _debtors_oldest(aging: Aging) -> Table:
    table = Table(title=f"Top {len(aging.debtors)} debtors by outstanding amount")
    table.add_column("debtor", no_wrap=True)
    table.add_column("name")
    table.add_column("inv.", justify="right", no_wrap=True)
    _amount_column(table, "total")
    table.add_column("oldest", no_wrap=True)
    for debtor in aging.debtors:
        oldest = next((b.label for b, a in reversed(list(zip(aging.buckets, debtor.amounts))) if a), "")
        table.add_row(cell(debtor.ref), cell(debtor.name), str(debtor.invoices),
                      Text(_amount(debtor.total, aging.currency), style="bold"), oldest)
    return table


def _amount_column(table: Table, header: str) -> None:
    """A right-aligned column of amounts that never wraps: wrapped at its group spaces, "17 567,52 €" read as
    "17" over "567,52 €", two numbers."""
    table.add_column(header, justify="right", no_wrap=True)


def funnel_table(funnel: Funnel) -> Table:
    table = Table(title=f"Escalation funnel ({funnel.cases} cases)")
    table.add_column("step")
    table.add_column("reached", justify="right")
    table.add_column("now", justify="right")
    table.add_column("paid after (highest step)", justify="right")
    table.add_column("rate", justify="right")
    _amount_column(table, "recovered at this step")
    outcomes = False
    for step in funnel.steps:
        if step.stage == "outcome" and not outcomes:
            outcomes = True
            table.add_section()
        table.add_row(cell(step.state), str(step.reached), str(step.current),
                      str(step.resolved) if step.stage == "escalation" else "",
                      percent(step.resolution_rate) if step.stage == "escalation" else "",
                      format_amount(step.recovered, funnel.currency) if step.payments else "")
    return table


def share(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole to four places, None when whole is zero."""
    if whole <= 0:
        return None
    return (part / whole).quantize(Decimal("0.0001"))


def percent(ratio: Decimal | None) -> str:
    """0.4215 → "42,2 %" (French decimal comma); None → "–"."""
    if ratio is None:
        return "–"
    # Half up, as a reader rounds by hand (Decimal's default is half-even).
    return f"{(ratio * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %".replace(".", ",").replace(" %", "\u00a0%")


def _amount(amount: Decimal, currency: str) -> str:
    return format_amount(amount, currency)


__all__ = ["aging_table", "debtors_table", "funnel_table", "key_figures_table", "percent", "render_report_tables",
           "share"]
