"""Each invoice's escalation facts, one case per currency, the debtor's civility and merchant status.

invoice: noticed_on, notice_ref, notice_received_on, time_barred_on (the formal notice that covered
it, its receipt, the day it was found time-barred); cases: currency (a case never mixes currencies;
existing cases take their first invoice's currency); debtor: civility, is_merchant.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (see 0002: batch mode would copy tables other rows point to).
    op.add_column('invoice', sa.Column('noticed_on', sa.Date(), nullable=True))
    op.add_column('invoice', sa.Column('notice_ref', sa.String(length=160), nullable=True))
    op.add_column('invoice', sa.Column('notice_received_on', sa.Date(), nullable=True))
    op.add_column('invoice', sa.Column('time_barred_on', sa.Date(), nullable=True))
    op.add_column('cases', sa.Column('currency', sa.String(length=3), server_default='EUR', nullable=False))
    op.execute(
        "UPDATE cases SET currency = COALESCE((SELECT invoice.currency FROM invoice WHERE invoice.case_id = cases.id "
        "ORDER BY invoice.id LIMIT 1), 'EUR')"
    )
    op.add_column('debtor', sa.Column('civility', sa.String(length=10), nullable=True))
    op.add_column('debtor', sa.Column('is_merchant', sa.Boolean(), nullable=True))


def downgrade() -> None:
    for table, column in (('debtor', 'is_merchant'), ('debtor', 'civility'), ('cases', 'currency'),
                          ('invoice', 'time_barred_on'), ('invoice', 'notice_received_on'),
                          ('invoice', 'notice_ref'), ('invoice', 'noticed_on')):
        op.drop_column(table, column)
