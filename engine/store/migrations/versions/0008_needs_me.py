"""The web app's "needs me" filter: a partial index on the few cases waiting for an approval.

Without it, the case list filtered on `awaiting_approval IS NOT NULL` would read the whole cases
table in id order to find its page; with it, the filter reads only the waiting cases.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

WAITING = sa.text("awaiting_approval IS NOT NULL")


def upgrade() -> None:
    op.create_index('ix_cases_awaiting_approval', 'cases', ['id'], postgresql_where=WAITING, sqlite_where=WAITING)


def downgrade() -> None:
    op.drop_index('ix_cases_awaiting_approval', table_name='cases')
