"""Which invoices a letter claims and a formal notice covers (engine.cases.invoices)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal


def test_a_hand_off_claims_what_the_formal_notice_claimed_on_an_invoice_paid_late() -> None:
    """An invoice paid in full, late, before the formal notice still owes its penalties and its 40 € indemnity:
    the notice claims them, so it covers that invoice, and the hand-off to counsel claims them too."""
    from engine.cases.invoices import InvoiceStatus, claimed, mark_noticed
    from engine.core.prescription import prescription
    from engine.store.models import Invoice

    def status(number: str, paid: str) -> InvoiceStatus:
        invoice = Invoice(number=number, amount=Decimal("1000.00"), due_date=date(2026, 3, 1), currency="EUR")
        return InvoiceStatus(invoice, Decimal(paid), prescription("b2b", date(2026, 3, 1)), date(2026, 5, 5))

    paid_late, owed = status("F-1", "1000.00"), status("F-2", "0.00")
    notice = claimed([paid_late, owed], "formal_notice")
    assert [s.invoice.number for s in notice] == ["F-1", "F-2"]  # its penalties and indemnity are claimed
    mark_noticed([paid_late, owed], date(2026, 5, 5), "ALD-1/04")
    assert [s.invoice.number for s in claimed([paid_late, owed], "litigation")] == ["F-1", "F-2"]
    assert paid_late.invoice.notice_ref == "ALD-1/04"
