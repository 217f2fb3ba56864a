"""A payment without a reference or an invoice is known by its currency too.

The import knew such a payment by debtor, day, amount and (empty) invoice: 100 USD and 100 EUR received
the same day were one payment, the second refused as a duplicate, or taken as already imported. Its key
now ends with the currency (`row|D1|2026-04-02|100.00||USD`); the stored keys take the same form, with
the currency each row holds, so that importing the same rows again still changes nothing.

Payments naming an invoice keep their key: their currency is the invoice's (a row in another is refused).
Those with a reference too: one reference is one transfer, whatever currency a row says.

Where 0009 had to guess a currency (a row imported before payments had one, from the invoice the ledger
had allocated it to), its key takes that guess, as the ledger does; a file from those days read again
(without a currency column, so in EUR) then brings the row as a new EUR payment, where before this
revision it was refused as already imported in that other currency.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The import's keys of payments without reference (`row|...`) and without invoice (ending in `|`).
UNNAMED = "natural_key LIKE 'row|%|' AND (invoice_number IS NULL OR invoice_number = '')"


def upgrade() -> None:
    op.execute(f"UPDATE payment SET natural_key = natural_key || '|' || currency WHERE {UNNAMED}")


def downgrade() -> None:
    # Two payments told apart only by their currency would share one key again: the unique constraint then
    # refuses the downgrade rather than let a re-import take one for the other.
    op.execute("UPDATE payment SET natural_key = substr(natural_key, 1, length(natural_key) - length(currency) - 1) "
               "WHERE natural_key LIKE 'row|%||%' AND (invoice_number IS NULL OR invoice_number = '')")
