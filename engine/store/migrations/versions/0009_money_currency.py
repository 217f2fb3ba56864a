"""Payments and credit notes carry their currency: money pays only invoices in its own currency.

Before, the ledger allocated a payment to any open invoice of the debtor at 1:1, so 1,200 received in
USD could settle a EUR invoice. Existing rows take the currency of the invoice they name, else of the
first invoice they were allocated to, else EUR (the default invoices take). Allocations already made
across currencies are left as they are: they are history, and removing them would change what past
letters and timelines said was paid.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (see 0002: batch mode would copy tables other rows point to).
    for table, source in (('payment', 'payment_id'), ('credit_note', 'credit_note_id')):
        op.add_column(table, sa.Column('currency', sa.String(length=3), server_default='EUR', nullable=False))
        op.execute(
            f"UPDATE {table} SET currency = COALESCE("
            f"(SELECT invoice.currency FROM invoice WHERE invoice.creditor_id = {table}.creditor_id "
            f" AND invoice.number = {table}.invoice_number), "
            f"(SELECT invoice.currency FROM payment_allocation JOIN invoice ON invoice.id = payment_allocation.invoice_id "
            f" WHERE payment_allocation.{source} = {table}.id ORDER BY payment_allocation.id LIMIT 1), 'EUR') "
            f"WHERE invoice_number IS NOT NULL OR EXISTS "
            f"(SELECT 1 FROM payment_allocation WHERE payment_allocation.{source} = {table}.id)"
        )


def downgrade() -> None:
    op.drop_column('credit_note', 'currency')
    op.drop_column('payment', 'currency')
