"""A case the run could not advance keeps why, and since when, so `relance case list --errors` finds it.

The run rolls the failed case back and goes on with the others; these two columns say the failure is
current (the next run that advances the case clears them), the "error" events keep its history.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): no table copy on SQLite, instant on PostgreSQL.
    op.add_column('cases', sa.Column('error', sa.Text(), nullable=True))
    op.add_column('cases', sa.Column('error_on', sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column('cases', 'error_on')
    op.drop_column('cases', 'error')
