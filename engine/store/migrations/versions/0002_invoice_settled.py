"""Invoices paid before they needed a case are marked settled; a partial index finds the others.

The run looks for invoices with no case yet; without this it re-read every fully paid overdue
invoice on every run, a cost that grew with the database instead of with what is due.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Written as SQLAlchemy renders the run's query on each backend, so each planner matches it.
PG_AWAITING = sa.text("case_id IS NULL AND settled = false")
SQLITE_AWAITING = sa.text("case_id IS NULL AND settled = 0")


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode: on SQLite batch mode copies and drops the invoice table,
    # which the foreign keys of payment allocations (enforced by our connections) refuse.
    op.add_column('invoice', sa.Column('settled', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_invoice_awaiting_case', 'invoice', ['id'], postgresql_where=PG_AWAITING,
                    sqlite_where=SQLITE_AWAITING)


def downgrade() -> None:
    op.drop_index('ix_invoice_awaiting_case', table_name='invoice')
    op.drop_column('invoice', 'settled')  # native DROP COLUMN (SQLite 3.35+), same reason as above
